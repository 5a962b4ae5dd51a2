// SIPStreamHandler: one TCP connection (RFC 3261 §18.3), registered in the connection table so that responses and
// later requests to a phone reuse the connection it opened (§18.2.2, RFC 5626 §5).
//
// It also owns the connection's two deadlines. Only whole messages, keep-alive pings and the proxy's own writes
// count as traffic: a peer trickling one byte at a time cannot keep a connection (and its buffer) alive forever.
//   - idle: no complete message either way for `idleTimeout` -> close;
//   - message: a message that started arriving is not complete within `messageTimeout` -> close.

import NIOCore

final class SIPStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = SIPStreamFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let manager: TransportManager
    /// The proxy's listening address this connection belongs to (for outbound connections: the TCP listener whose
    /// address the proxy advertises in Via and Record-Route).
    private let listener: SocketAddress
    private let limits: TransportLimits
    /// TCP, or TLS when a TLS handler sits before this one (messages arrive decrypted).
    private let transport: TransportKind
    private var id: ConnectionID?
    private var idleTimer: Scheduled<Void>?
    private var messageTimer: Scheduled<Void>?

    init(manager: TransportManager, listener: SocketAddress, limits: TransportLimits, transport: TransportKind) {
        self.manager = manager
        self.transport = transport
        self.listener = listener
        self.limits = limits
    }

    func channelActive(context: ChannelHandlerContext) {
        if self.id == nil {
            self.id = self.manager.register(connection: context.channel)
            self.restartIdleTimer(context: context)
        }
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Outbound connections are added already active.
        if context.channel.isActive && self.id == nil {
            self.id = self.manager.register(connection: context.channel)
            self.restartIdleTimer(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.idleTimer?.cancel()
        self.messageTimer?.cancel()
        if let id = self.id {
            self.manager.unregister(
                connection: id,
                local: context.channel.localAddress,
                remote: context.channel.remoteAddress
            )
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .message(let bytes):
            self.completed(context: context)
            guard let remote = context.channel.remoteAddress, let id = self.id else { return }
            let peer = Peer(transport: self.transport, remote: remote, local: self.listener, connection: id)
            self.manager.deliver(bytes, from: peer, socketLocal: context.channel.localAddress ?? self.listener)
        case .keepAlive(let isPing):
            self.completed(context: context)
            // RFC 5626 §4.4.1: a double-CRLF ping is answered with a single CRLF pong.
            if isPing {
                var pong = context.channel.allocator.buffer(capacity: 2)
                pong.writeStaticString("\r\n")
                context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
            }
        case .messageStarted:
            self.messageTimer?.cancel()
            self.messageTimer = self.schedule(context: context, in: self.limits.messageTimeout, reason: "message not completed in time")
        case .oversized(let bytes):
            self.messageTimer?.cancel()
            if let remote = context.channel.remoteAddress, let id = self.id {
                let peer = Peer(transport: self.transport, remote: remote, local: self.listener, connection: id)
                // The core answers 513 on this connection (written and flushed synchronously), then it is closed:
                // after an unframeable message the stream cannot be trusted (RFC 4475 §3.3.9).
                self.manager.deliverOversized(bytes, from: peer)
            }
            context.close(mode: .all, promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // The proxy's own messages keep a connection alive: a phone it sends requests to is in use.
        self.restartIdleTimer(context: context)
        context.write(data, promise: promise)
    }

    private func completed(context: ChannelHandlerContext) {
        self.messageTimer?.cancel()
        self.messageTimer = nil
        self.restartIdleTimer(context: context)
    }

    private func restartIdleTimer(context: ChannelHandlerContext) {
        self.idleTimer?.cancel()
        guard self.limits.idleTimeout > .zero else { return }
        self.idleTimer = self.schedule(context: context, in: self.limits.idleTimeout, reason: "idle")
    }

    private func schedule(context: ChannelHandlerContext, in amount: TimeAmount, reason: String) -> Scheduled<Void>? {
        guard amount > .zero else { return nil }
        let channel = context.channel
        let logger = self.manager.logger
        return context.eventLoop.scheduleTask(in: amount) {
            logger.debug(
                "closing tcp connection: \(reason)",
                metadata: ["net.peer": "\(channel.remoteAddress?.hostPort ?? "?")"]
            )
            channel.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A framing error cannot be recovered on a stream (RFC 4475 §3.3.9): log it and close.
        self.manager.logger.info(
            "closing \(self.transport.rawValue.lowercased()) connection after error",
            metadata: ["net.peer": "\(context.channel.remoteAddress?.hostPort ?? "?")", "error": "\(error)"]
        )
        context.close(promise: nil)
    }
}
