// SIPDatagramHandler: UDP datagrams in, to the transport manager (RFC 3261 §18.1.2, §18.2.1).

import NIOCore

/// Hands every datagram to the transport manager with the listener's own address, so the proxy always knows the
/// concrete address a message used.
final class SIPDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let manager: TransportManager
    private let local: SocketAddress

    init(manager: TransportManager, local: SocketAddress) {
        self.manager = manager
        self.local = local
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = Self.unwrapInboundIn(data)
        let peer = Peer(transport: .udp, remote: envelope.remoteAddress, local: self.local)
        self.manager.deliver(envelope.data, from: peer, socketLocal: self.local)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP port unreachable and similar surface here on Linux; they must not close the listening socket.
        self.manager.logger.debug("udp socket error", metadata: ["error": "\(error)"])
    }
}
