// ControlClient: one request/response exchange over the proxy's control socket.

import ArgumentParser
import NIOCore
import NIOExtras
import NIOPosix
import SIPProxy

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum ControlClient {
    /// Sends one request and returns the proxy's answer; failures become one-line `ValidationError`-style errors.
    static func send(_ request: ControlRequest, socket path: String) async throws -> ControlResponse {
        try await self.send(request, socket: path, as: ControlResponse.self)
    }

    /// Sends one request and decodes the answer as `R` (a response shape with extra fields, such as
    /// `LiveCallsResponse`).
    static func send<R: Decodable>(_ request: ControlRequest, socket path: String, as: R.Type) async throws -> R {
        if access(path, F_OK) != 0 {
            throw ControlClientError.describe(ControlClientError(message: "ENOENT"), path: path)
        }
        return try await self.exchange(request, path: path)
    }

    private static func exchange<R: Decodable>(_ request: ControlRequest, path: String) async throws -> R {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: String.self)
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(3))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(ResponseLineHandler(promise: promise))
                    }
                }
                .connect(unixDomainSocketPath: path).get()
        } catch {
            promise.fail(error)
            throw ControlClientError.describe(error, path: path)
        }
        let line = (try ControlCoding.encode(request)) + "\n"
        try await channel.writeAndFlush(ByteBuffer(string: line))
        let timeout = group.next().scheduleTask(in: .seconds(10)) {
            promise.fail(ControlClientError(message: "the proxy did not answer on \(path) within 10 s"))
        }
        defer { timeout.cancel() }
        let answer: String
        do {
            answer = try await promise.futureResult.get()
        } catch let error as ControlClientError {
            try? await channel.close()
            throw error
        } catch {
            try? await channel.close()
            throw ControlClientError(message: "control connection to \(path) failed: \(error)")
        }
        try? await channel.close()
        do {
            return try ControlCoding.decode(R.self, from: answer)
        } catch {
            throw ControlClientError(message: "the proxy sent an unreadable answer: \(error)")
        }
    }
}

/// A one-line error for sipctl's users.
struct ControlClientError: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }

    static func describe(_ error: Error, path: String) -> ControlClientError {
        let text = "\(error)"
        if text.contains("ENOENT") || text.contains("No such file") || text.contains("ECONNREFUSED")
            || text.contains("Connection refused")
        {
            return ControlClientError(
                message: "no SIPProxy is running with control socket \(path) (start one with `sipctl serve`, "
                    + "or pass --socket)"
            )
        }
        if text.contains("EACCES") || text.contains("Permission denied") {
            return ControlClientError(message: "cannot access control socket \(path): permission denied")
        }
        return ControlClientError(message: "cannot connect to control socket \(path): \(text)")
    }
}

private final class ResponseLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<String>
    private var done = false

    init(promise: EventLoopPromise<String>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.done else { return }
        self.done = true
        self.promise.succeed(String(buffer: Self.unwrapInboundIn(data)))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard !self.done else { return }
        self.done = true
        self.promise.fail(ControlClientError(message: "the proxy closed the control connection without answering"))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !self.done {
            self.done = true
            self.promise.fail(error)
        }
        context.close(promise: nil)
    }
}
