// RelayEndpoint: one socket of the media relay, and the handler that reads it.

import NIOCore

/// One socket of the relay: the RTP or RTCP port of a stream, facing one side.
final class RelayEndpoint {
    let port: Int
    let callID: String
    let index: Int
    /// The side whose phone sends here, and that this socket sends to.
    let facing: MediaSide
    let isRTCP: Bool
    var channel: Channel?
    /// Where the phone's SDP says it receives (RTP or RTCP port of its `m=` line); nil on hold or before its SDP.
    var target: SocketAddress?
    /// Where the phone's packets actually come from (symmetric RTP, RFC 4961); sent to in preference.
    var latched: SocketAddress?
    var lastPacket: NIODeadline?
    /// Packets from the phone into this socket.
    var stats = RTPStreamStats()

    init(port: Int, callID: String, index: Int, facing: MediaSide, isRTCP: Bool) {
        self.port = port
        self.callID = callID
        self.index = index
        self.facing = facing
        self.isRTCP = isRTCP
    }

    /// Where to send to this side's phone.
    var destination: SocketAddress? { self.latched ?? self.target }
}

/// Reads a relay socket's datagrams and gives them to the relay.
final class MediaChannelHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let relay: MediaRelay
    private let port: Int

    init(relay: MediaRelay, port: Int) {
        self.relay = relay
        self.port = port
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.relay.packet(self.unwrapInboundIn(data), on: self.port)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A send to a phone that went away (ICMP port unreachable) must not close the port: the phone may come
        // back, and the other direction still flows.
    }
}
