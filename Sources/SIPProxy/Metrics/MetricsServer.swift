// MetricsServer: a small HTTP/1.1 server (NIOHTTP1) for Prometheus: `GET /metrics` (text exposition format 0.0.4)
// and `GET /health` (200 "ok" once the SIP listeners are up, 503 while starting or shutting down).

import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Serves `/metrics` and `/health` on one address. Started before the SIP listeners, so a load balancer sees 503
/// while the proxy starts; `setMetrics` and `setReady` are called as the proxy comes up and goes down.
public final class MetricsServer: Sendable {
    struct State: Sendable {
        var ready = false
        var metrics: ProxyMetrics?
    }

    private let channel: any Channel
    private let state: Mutex<State>

    /// Around a bound channel (tests give an `EmbeddedChannel`).
    init(channel: any Channel) {
        self.channel = channel
        self.state = Mutex(State())
    }

    /// The bound address (the actual port when 0 was asked for).
    public var localAddress: SocketAddress? { self.channel.localAddress }

    /// Binds `address` on `group`. Throws `TransportError(.bindFailed)` when the address is taken.
    public static func start(at address: SocketAddress, group: any EventLoopGroup, logger: Logger) async throws
        -> MetricsServer
    {
        let box = Box()
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(server: box))
                    }
                }
                .bind(to: address)
                .get()
            let server = MetricsServer(channel: channel)
            box.server.withLock { $0 = server }
            logger.info("metrics on http://\(channel.localAddress?.hostPort ?? address.hostPort)/metrics")
            return server
        } catch {
            throw TransportError(.bindFailed, "cannot serve metrics on \(address.hostPort): \(error)")
        }
    }

    func setMetrics(_ metrics: ProxyMetrics?) { self.state.withLock { $0.metrics = metrics } }
    func setReady(_ ready: Bool) { self.state.withLock { $0.ready = ready } }

    public func close() async {
        try? await self.channel.close()
    }

    /// What to answer a request for `path`.
    func answer(_ method: HTTPMethod, _ path: String, on loop: any EventLoop) -> EventLoopFuture<(HTTPResponseStatus, String, [UInt8])> {
        let text = "text/plain; charset=utf-8"
        guard method == .GET || method == .HEAD else {
            return loop.makeSucceededFuture((.methodNotAllowed, text, Array("GET only\n".utf8)))
        }
        let route = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        let (ready, metrics) = self.state.withLock { ($0.ready, $0.metrics) }
        switch route {
        case "/health":
            return loop.makeSucceededFuture(
                ready ? (.ok, text, Array("ok\n".utf8)) : (.serviceUnavailable, text, Array("unavailable\n".utf8))
            )
        case "/metrics":
            guard let metrics else {
                return loop.makeSucceededFuture((.serviceUnavailable, text, Array("starting\n".utf8)))
            }
            let promise = loop.makePromise(of: (HTTPResponseStatus, String, [UInt8]).self)
            promise.completeWithTask {
                (.ok, "text/plain; version=0.0.4; charset=utf-8", try await metrics.scrape())
            }
            return promise.futureResult
        default:
            return loop.makeSucceededFuture((.notFound, text, Array("not found: /metrics or /health\n".utf8)))
        }
    }

    /// Lets the child handlers reach the server made after the bootstrap that creates them.
    final class Box: Sendable {
        let server = Mutex<MetricsServer?>(nil)
    }
}

/// One HTTP connection: answers each request in turn (keep-alive as the client asks).
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: MetricsServer.Box
    private var head: HTTPRequestHead?

    init(server: MetricsServer.Box) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head = self.head, let server = self.server.server.withLock({ $0 }) else { return }
            self.head = nil
            let channel = context.channel
            server.answer(head.method, head.uri, on: context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
                let (status, type, body) =
                    (try? result.get())
                    ?? (.internalServerError, "text/plain; charset=utf-8", Array("scrape failed\n".utf8))
                Self.respond(on: channel, head: head, status: status, type: type, body: body)
            }
        }
    }

    /// Writes the response through the channel (a Sendable handle, usable from the completion callback).
    private static func respond(
        on channel: any Channel, head: HTTPRequestHead, status: HTTPResponseStatus, type: String, body: [UInt8]
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(body.count)")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let response = HTTPResponseHead(version: head.version, status: status, headers: headers)
        channel.write(HTTPServerResponsePart.head(response), promise: nil)
        if head.method != .HEAD {
            channel.write(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: body))), promise: nil)
        }
        let done = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        if !keepAlive {
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
