// SIPStreamDecoder: framing a TCP byte stream that arrives in arbitrary reads (RFC 3261 §18.3).

import NIOCore
import NIOEmbedded
import Testing

@testable import SIPProxy

@Suite("Stream decoder")
struct SIPStreamDecoderTests {
    static let body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    static let invite = sipMessage([
        "INVITE sip:bob@example.com;transport=tcp SIP/2.0",
        "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-split",
        "Max-Forwards: 70",
        "To: <sip:bob@example.com>",
        "From: <sip:alice@example.com>;tag=1",
        "Call-ID: split-body@192.0.2.1",
        "CSeq: 1 INVITE",
        "Content-Type: application/sdp",
        "Content-Length: \(body.utf8.count)",
    ], body: body)
    /// Octets up to and including the empty line that ends the header section.
    static let headerLength = Array(invite).firstRange(of: Array("\r\n\r\n".utf8))!.upperBound

    /// Feeds the reads through SIPStreamDecoder in an EmbeddedChannel; returns what it emitted.
    static func decode(_ reads: [[UInt8]]) throws -> [String] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SIPStreamDecoder(parser: SIPParser())))
        var frames: [String] = []
        for read in reads {
            try channel.writeInbound(ByteBuffer(bytes: read))
            while let frame = try channel.readInbound(as: SIPStreamFrame.self) {
                switch frame {
                case .message(let buffer): frames.append("message \(buffer.readableBytes)")
                case .keepAlive(let isPing): frames.append(isPing ? "ping" : "crlf")
                }
            }
        }
        _ = try channel.finish()
        return frames
    }

    /// Found by Tests/Fuzz/StreamFramingFuzzer.swift: a read that completed the header section but not the body
    /// set the resume point of the header-end search past the end of the header section, so later reads never
    /// found it again and the message was never delivered (the connection hung until the size bound closed it).
    @Test func bodyArrivingAfterTheHeaderSectionIsFramed() throws {
        let m = Self.invite
        let h = Self.headerLength
        #expect(try Self.decode([Array(m[..<(h + 2)]), Array(m[(h + 2)...])]) == ["message \(m.count)"])
        #expect(
            try Self.decode([Array(m[..<h]), Array(m[h..<(h + 10)]), Array(m[(h + 10)...])]) == ["message \(m.count)"]
        )
        // The fuzzer's shape: a message, a ping, and a message whose header and body arrive in separate reads.
        let stream = m + Array("\r\n\r\n".utf8) + m
        let second = m.count + 4
        let reads = [Array(stream[..<(second + h + 5)]), Array(stream[(second + h + 5)...])]
        #expect(try Self.decode(reads) == ["message \(m.count)", "ping", "message \(m.count)"])
    }

    @Test func everyTwoReadSplitGivesOneMessage() throws {
        let m = Self.invite
        for split in 1..<m.count {
            #expect(try Self.decode([Array(m[..<split]), Array(m[split...])]) == ["message \(m.count)"], "split \(split)")
        }
    }

    @Test func oneOctetReads() throws {
        let stream = Self.invite + Self.invite
        #expect(try Self.decode(stream.map { [$0] }) == ["message \(Self.invite.count)", "message \(Self.invite.count)"])
    }

    @Test func resumePointStaysBeforeACompleteHeaderSection() throws {
        let m = Self.invite
        let partial = Array(m[..<(Self.headerLength + 3)])
        var searched = 0
        let result = try partial.withUnsafeBytes { raw in try SIPParser().frame(raw, searched: &searched) }
        #expect(result == .needMoreData)
        #expect(searched < Self.headerLength)
        let whole = try m.withUnsafeBytes { raw in try SIPParser().frame(raw, searched: &searched) }
        #expect(whole == .message(length: m.count))
    }
}
