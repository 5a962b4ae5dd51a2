// ControlServer: the Unix-domain control socket (owner-only permissions) speaking ControlProtocol.

import Logging
import NIOCore
import NIOExtras
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Answers control requests; implemented by the composition root, which knows the core and the recorder.
public protocol ControlDispatcher: Sendable {
    func handle(_ request: ControlRequest) -> EventLoopFuture<ControlResponse>
}

/// The one error type of the control layer.
public struct ControlError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Another proxy answers on the socket path.
        case socketInUse
        /// The socket could not be created, reached or read.
        case socketUnavailable
        /// The peer sent something that is not a protocol line.
        case protocolViolation
    }

    public var kind: Kind
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// Binds and serves the control socket.
public final class ControlServer: Sendable {
    /// The socket path used when neither `--socket` nor `SIPPROXY_SOCKET` says otherwise (in the working
    /// directory, so `sipctl` run from the same directory finds the proxy).
    public static let defaultPath = "sipproxy.sock"

    /// Longest request line accepted. Requests are a few hundred octets; without a limit a client that never sent
    /// a newline made the proxy buffer without bound.
    public static let maxLineLength = 64 << 10
    /// Control connections served at once; more are answered with an error and closed. `sipctl` opens one per
    /// command, so this is generous, yet bounds what a stuck or hostile local client can hold.
    public static let maxConnections = 16
    /// A connection that sends nothing for this long is closed (it would hold one of `maxConnections`).
    public static let idleTimeout: TimeAmount = .seconds(60)

    public let path: String
    private let channel: Channel

    private init(path: String, channel: Channel) {
        self.path = path
        self.channel = channel
    }

    /// Binds the socket. A file left by a killed proxy is removed; a socket another live proxy answers on is an
    /// error (`socketInUse`).
    public static func start(
        path: String,
        group: EventLoopGroup,
        dispatcher: ControlDispatcher,
        logger: Logger
    ) async throws -> ControlServer {
        if access(path, F_OK) == 0 {
            let alive = (try? await ClientBootstrap(group: group).connect(unixDomainSocketPath: path).get())
            if let alive {
                try? await alive.close()
                throw ControlError(.socketInUse, "another SIPProxy is running (control socket \(path) answers)")
            }
            unlink(path)
        }
        let connections = ControlConnectionLimiter(limit: Self.maxConnections)
        let bootstrap = ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                guard connections.acquire() else {
                    logger.warning("control connection refused: \(Self.maxConnections) already open")
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ControlRefusalHandler(message: "too many control connections (at most \(Self.maxConnections))")
                        )
                    }
                }
                channel.closeFuture.whenComplete { _ in connections.release() }
                return channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    try ops.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                    try ops.addHandler(
                        ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: Self.maxLineLength)
                    )
                    try ops.addHandler(ControlConnectionHandler(dispatcher: dispatcher, logger: logger))
                }
            }
        // Owner-only from the first instant: the umask covers the window between bind and chmod.
        let oldMask = umask(0o077)
        defer { umask(oldMask) }
        do {
            let channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
            chmod(path, 0o600)
            return ControlServer(path: path, channel: channel)
        } catch {
            throw ControlError(.socketUnavailable, "cannot create control socket \(path): \(error)")
        }
    }

    /// Closes the socket and removes its file.
    public func close() async {
        try? await self.channel.close()
        unlink(self.path)
    }
}

/// One control connection: a request line in, a response line out.
final class ControlConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let dispatcher: ControlDispatcher
    private let logger: Logger

    init(dispatcher: ControlDispatcher, logger: Logger) {
        self.dispatcher = dispatcher
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = String(buffer: Self.unwrapInboundIn(data))
        let future: EventLoopFuture<ControlResponse>
        do {
            let request = try ControlCoding.decode(ControlRequest.self, from: line)
            future = self.dispatcher.handle(request)
        } catch {
            future = context.eventLoop.makeSucceededFuture(.failure("malformed request: \(error)"))
        }
        let channel = context.channel
        future.hop(to: context.eventLoop).whenComplete { result in
            let response: ControlResponse
            switch result {
            case .success(let r): response = r
            case .failure(let error): response = .failure("\(error)")
            }
            let text = ((try? ControlCoding.encode(response)) ?? "{\"ok\":false,\"error\":\"encoding failed\"}") + "\n"
            channel.writeAndFlush(ByteBuffer(string: text), promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            self.logger.debug("control connection idle for \(ControlServer.idleTimeout.nanoseconds / 1_000_000_000) s, closed")
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is ByteToMessageDecoderError.PayloadTooLargeError {
            // Answer why before closing: a silent close would look like a crashed proxy to the client.
            self.logger.warning("control request longer than \(ControlServer.maxLineLength) octets, connection closed")
            ControlConnectionHandler.refuse(
                context.channel, "request line too long (at most \(ControlServer.maxLineLength) octets)"
            )
            return
        }
        self.logger.debug("control connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// Writes one `{"ok":false,"error":...}` line, then closes the connection.
    static func refuse(_ channel: Channel, _ message: String) {
        let text = ((try? ControlCoding.encode(ControlResponse.failure(message))) ?? "{\"ok\":false}") + "\n"
        channel.writeAndFlush(ByteBuffer(string: text)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Installed instead of the protocol handlers on a connection beyond `ControlServer.maxConnections`: answers one
/// error line and closes.
final class ControlRefusalHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let message: String

    init(message: String) {
        self.message = message
    }

    func channelActive(context: ChannelHandlerContext) {
        ControlConnectionHandler.refuse(context.channel, self.message)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Whatever the client sent is not served.
    }
}
