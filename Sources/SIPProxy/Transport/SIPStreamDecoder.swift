// SIPStreamDecoder: frames SIP messages on a TCP byte stream (RFC 3261 §18.3).

import NIOCore

/// One unit read from a stream: a whole message, or a keep-alive ping.
enum SIPStreamFrame {
    case message(ByteBuffer)
    /// CRLFs between messages. "\r\n\r\n" is an RFC 5626 §4.4.1 ping, answered with a single CRLF pong.
    case keepAlive(isPing: Bool)
}

/// Content-Length framing with a size bound. A framing error is unrecoverable on a stream (RFC 4475 §3.3.9): the
/// handler closes the connection.
struct SIPStreamDecoder: ByteToMessageDecoder {
    typealias InboundOut = SIPStreamFrame

    let parser: SIPParser
    /// Octets of the current message already searched for the end of its header section (see `SIPParser.frame`).
    private var searched = 0

    init(parser: SIPParser) {
        self.parser = parser
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        var searched = self.searched
        let result = try buffer.withUnsafeReadableBytes { raw throws -> SIPParser.FrameResult in
            try self.parser.frame(raw, searched: &searched)
        }
        switch result {
        case .needMoreData:
            // Not simply the readable bytes: when only the body is missing, the header end lies before them.
            self.searched = searched
            return .needMoreData
        case .keepAlive(let length):
            self.searched = 0
            buffer.moveReaderIndex(forwardBy: length)
            context.fireChannelRead(Self.wrapInboundOut(.keepAlive(isPing: length >= 4)))
            return .continue
        case .message(let length):
            self.searched = 0
            let slice = buffer.readSlice(length: length)!
            context.fireChannelRead(Self.wrapInboundOut(.message(slice)))
            return .continue
        }
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // A partial message at EOF cannot be completed: drop it.
        while try self.decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear()
        return .needMoreData
    }
}
