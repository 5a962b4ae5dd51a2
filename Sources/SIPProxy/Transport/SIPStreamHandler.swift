// SIPStreamHandler: one TCP connection (RFC 3261 §18.3), registered in the connection table so that responses and
// later requests to a phone reuse the connection it opened (§18.2.2, RFC 5626 §5).

import NIOCore

final class SIPStreamHandler: ChannelInboundHandler {
    typealias InboundIn = SIPStreamFrame
    typealias OutboundOut = ByteBuffer

    private let manager: TransportManager
    /// The proxy's listening address this connection belongs to (for outbound connections: the TCP listener whose
    /// address the proxy advertises in Via and Record-Route).
    private let listener: SocketAddress
    private var id: ConnectionID?

    init(manager: TransportManager, listener: SocketAddress) {
        self.manager = manager
        self.listener = listener
    }

    func channelActive(context: ChannelHandlerContext) {
        self.id = self.manager.register(connection: context.channel)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
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
            guard let remote = context.channel.remoteAddress, let id = self.id else { return }
            let peer = Peer(transport: .tcp, remote: remote, local: self.listener, connection: id)
            self.manager.deliver(bytes, from: peer, socketLocal: context.channel.localAddress ?? self.listener)
        case .keepAlive(let isPing):
            // RFC 5626 §4.4.1: a double-CRLF ping is answered with a single CRLF pong.
            if isPing {
                var pong = context.channel.allocator.buffer(capacity: 2)
                pong.writeStaticString("\r\n")
                context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            self.manager.logger.debug(
                "closing idle tcp connection",
                metadata: ["net.peer": "\(context.channel.remoteAddress?.hostPort ?? "?")"]
            )
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A framing error cannot be recovered on a stream (RFC 4475 §3.3.9): log it and close.
        self.manager.logger.info(
            "closing tcp connection after error",
            metadata: ["net.peer": "\(context.channel.remoteAddress?.hostPort ?? "?")", "error": "\(error)"]
        )
        context.close(promise: nil)
    }
}
