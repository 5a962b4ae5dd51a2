// SIPStreamDecoder: Content-Length framing on a TCP stream (RFC 3261 §18.3), however the bytes are split.

import NIOCore
import NIOEmbedded
import Testing

@testable import SIPProxy

@Suite struct SIPStreamDecoderTests {
    /// An INVITE of about `size` octets whose SDP body contains a blank line (CRLF CRLF): the decoder must never
    /// take the body's blank line for the end of the header section.
    static func invite(size: Int) -> [UInt8] {
        var body = "v=0\r\no=alice 1 1 IN IP4 127.0.0.11\r\ns=-\r\nc=IN IP4 127.0.0.11\r\nt=0 0\r\n"
        body += "m=audio 4000 RTP/AVP 0 8 101\r\n\r\n"
        var n = 0
        while body.utf8.count < size - 400 {
            body += "a=candidate:\(n) 1 UDP 2130706431 127.0.0.11 \(40000 + n) typ host\r\n"
            n += 1
        }
        let head = [
            "INVITE sip:bob@127.0.0.10 SIP/2.0",
            "Via: SIP/2.0/TCP 127.0.0.11:5061;branch=z9hG4bK-big",
            "Max-Forwards: 70",
            "From: <sip:alice@127.0.0.10>;tag=a",
            "To: <sip:bob@127.0.0.10>",
            "Call-ID: big-\(size)",
            "CSeq: 1 INVITE",
            "Contact: <sip:alice@127.0.0.11:5061;transport=tcp>",
            "Content-Type: application/sdp",
            "Content-Length: \(body.utf8.count)",
        ].joined(separator: "\r\n")
        return Array((head + "\r\n\r\n" + body).utf8)
    }

    /// Feeds `chunks` into a fresh decoder and returns what it produced.
    static func decode(_ chunks: [ArraySlice<UInt8>], maxMessageSize: Int = 65_535) throws -> [SIPStreamFrame] {
        let channel = EmbeddedChannel(
            handler: ByteToMessageHandler(SIPStreamDecoder(parser: SIPParser(maxMessageSize: maxMessageSize)))
        )
        var frames: [SIPStreamFrame] = []
        for chunk in chunks {
            try channel.writeInbound(channel.allocator.buffer(bytes: chunk))
            while let frame = try channel.readInbound(as: SIPStreamFrame.self) { frames.append(frame) }
        }
        _ = try? channel.finish()
        return frames
    }

    static func messages(_ frames: [SIPStreamFrame]) -> [[UInt8]] {
        frames.compactMap { frame in
            if case .message(let buffer) = frame { return Array(buffer.readableBytesView) }
            return nil
        }
    }

    @Test(arguments: [4096, 16_384])
    func largeInviteSplitAtEveryPosition(size: Int) throws {
        let message = Self.invite(size: size)
        #expect(message.count >= size - 64 && message.count <= size + 64)
        for split in 1..<message.count {
            let frames = try Self.decode([message[..<split], message[split...]])
            let got = Self.messages(frames)
            #expect(got == [message], "split at \(split)")
            if got != [message] { return }
        }
    }

    @Test func largeInviteOneOctetAtATimeThenAnother() throws {
        let first = Self.invite(size: 16_384)
        let second = Self.invite(size: 4096)
        let stream = first + second
        let chunks = stream.indices.map { stream[$0...$0] }
        let frames = try Self.decode(chunks)
        #expect(Self.messages(frames) == [first, second])
        // One "message started" per message, however many reads it took.
        let started = frames.filter { if case .messageStarted = $0 { return true } else { return false } }
        #expect(started.count == 2)
    }

    @Test func twoMessagesInOneRead() throws {
        let a = Self.invite(size: 4096)
        let b = Self.invite(size: 3000)
        #expect(Self.messages(try Self.decode([(a + b)[...]])) == [a, b])
    }

    @Test func oversizedMessageIsReportedOnceAndTheRestDropped() throws {
        let message = Self.invite(size: 16_384)
        let frames = try Self.decode(
            [message[..<2000], message[2000...], Self.invite(size: 2000)[...]],
            maxMessageSize: 4096
        )
        var oversized: [ByteBuffer] = []
        for frame in frames {
            if case .oversized(let buffer) = frame { oversized.append(buffer) }
        }
        #expect(oversized.count == 1)
        #expect((oversized.first?.readableBytes ?? 0) <= 4096)
        #expect(oversized.first.map { Array($0.readableBytesView.prefix(6)) } == Array("INVITE".utf8))
        #expect(Self.messages(frames).isEmpty, "nothing after an unframeable message is trusted")
    }

    @Test func headerLargerThanTheLimitIsOversized() throws {
        var header = Array("OPTIONS sip:x@127.0.0.10 SIP/2.0\r\nX-Filler: ".utf8)
        header += [UInt8](repeating: UInt8(ascii: "a"), count: 5000)
        let frames = try Self.decode([header[...]], maxMessageSize: 4096)
        #expect(frames.contains { if case .oversized = $0 { return true } else { return false } })
    }

    @Test func keepAlivesBetweenMessages() throws {
        let a = Self.invite(size: 2000)
        let frames = try Self.decode([Array("\r\n\r\n".utf8)[...], a[...], Array("\r\n".utf8)[...]])
        #expect(Self.messages(frames) == [a])
        let pings = frames.compactMap { frame -> Bool? in
            if case .keepAlive(let isPing) = frame { return isPing }
            return nil
        }
        #expect(pings == [true, false])
    }

    @Test("a ping split into two CRLFs (two segments or TLS records) is still a ping, answered once")
    func splitPing() throws {
        let crlf = Array("\r\n".utf8)[...]
        let a = Self.invite(size: 1500)
        let frames = try Self.decode([crlf, crlf, a[...], crlf, crlf, crlf])
        let pings = frames.compactMap { frame -> Bool? in
            if case .keepAlive(let isPing) = frame { return isPing }
            return nil
        }
        // CRLF CRLF is a ping; a message between resets the count; three CRLFs after it are one ping and a spare CRLF.
        #expect(pings == [false, true, false, true, false])
        #expect(Self.messages(frames) == [a])
    }
}
