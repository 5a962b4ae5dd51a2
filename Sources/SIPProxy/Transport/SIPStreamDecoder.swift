// SIPStreamDecoder: frames SIP messages on a TCP byte stream (RFC 3261 §18.3).

import NIOCore

/// One unit read from a stream.
enum SIPStreamFrame {
    /// A whole message.
    case message(ByteBuffer)
    /// CRLFs between messages. "\r\n\r\n" is an RFC 5626 §4.4.1 ping, answered with a single CRLF pong.
    case keepAlive(isPing: Bool)
    /// The first octets of a message arrived and the rest has not: the handler starts the message deadline.
    case messageStarted
    /// The message being framed is larger than the limit. Carries what was buffered (at most the limit), from which
    /// a 513 can be built; the decoder discards everything after it and the handler closes the connection.
    case oversized(ByteBuffer)
}

/// Content-Length framing with a size bound. The decoder remembers how far it searched for the end of the header
/// section and, once found, how long the message is, so a message arriving in many pieces is scanned once.
struct SIPStreamDecoder: ByteToMessageDecoder {
    typealias InboundOut = SIPStreamFrame

    let parser: SIPParser
    /// Octets of the current message already searched for the end of its header section.
    private var searched = 0
    /// The current message's full length once its header section is complete.
    private var expected: Int?
    /// Set after an oversized message: the stream cannot be resynchronised (RFC 4475 §3.3.9), so the rest is dropped.
    private var discarding = false
    /// CRLF octets seen since the last message or ping: a "\r\n\r\n" ping split over two reads (two TCP segments,
    /// or a TLS record boundary) is still a ping.
    private var keepAliveOctets = 0

    init(parser: SIPParser) {
        self.parser = parser
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if self.discarding {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        if let expected = self.expected {
            guard buffer.readableBytes >= expected else { return .needMoreData }
            return self.emit(context: context, buffer: &buffer, length: expected)
        }
        let searchFrom = self.searched
        let parser = self.parser
        let framed: Result<SIPParser.FrameResult, SIPParseError> = buffer.withUnsafeReadableBytes { raw in
            do throws(SIPParseError) {
                return .success(try parser.frame(raw, searchFrom: searchFrom))
            } catch {
                return .failure(error)
            }
        }
        let result: SIPParser.FrameResult
        switch framed {
        case .success(let value):
            result = value
        case .failure(let error) where error.kind == .messageTooLarge:
            self.discarding = true
            let kept = buffer.readSlice(length: min(buffer.readableBytes, parser.maxMessageSize))!
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.fireChannelRead(Self.wrapInboundOut(.oversized(kept)))
            return .needMoreData
        case .failure(let error):
            throw error
        }
        switch result {
        case .needMoreData:
            if self.searched == 0 && buffer.readableBytes > 0 {
                context.fireChannelRead(Self.wrapInboundOut(.messageStarted))
            }
            self.searched = buffer.readableBytes
            return .needMoreData
        case .needBody(let length):
            if self.searched == 0 { context.fireChannelRead(Self.wrapInboundOut(.messageStarted)) }
            // The header end is behind us now: never search past it again (the body may hold a blank line).
            self.expected = length
            self.searched = buffer.readableBytes
            return .needMoreData
        case .keepAlive(let length):
            self.searched = 0
            buffer.moveReaderIndex(forwardBy: length)
            self.keepAliveOctets += length
            let isPing = self.keepAliveOctets >= 4
            if isPing { self.keepAliveOctets = 0 }
            context.fireChannelRead(Self.wrapInboundOut(.keepAlive(isPing: isPing)))
            return .continue
        case .message(let length):
            return self.emit(context: context, buffer: &buffer, length: length)
        }
    }

    private mutating func emit(context: ChannelHandlerContext, buffer: inout ByteBuffer, length: Int) -> DecodingState {
        self.searched = 0
        self.keepAliveOctets = 0
        self.expected = nil
        let slice = buffer.readSlice(length: length)!
        context.fireChannelRead(Self.wrapInboundOut(.message(slice)))
        return .continue
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
