// libFuzzer harness: TCP stream framing (RFC 3261 §18.3), through the real SIPStreamDecoder.
//
// Built by scripts/fuzz.sh (not a SwiftPM target) against an instrumented build of Sources/SIPProxy/Message and
// Transport/SIPStreamDecoder.swift. The first two input bytes choose the size bound and where the rest is cut into
// reads; the rest is the byte stream. The reads go through SIPStreamDecoder in a ByteToMessageHandler on an
// EmbeddedChannel, as on a TCP connection, and what comes out is checked against framing the whole stream at once
// with `SIPParser.frame` (no resume point), frame by frame:
// - the decoder makes progress and never slices past its buffer (else it traps or hangs: a finding);
// - it delivers the same messages, byte for byte, with keep-alives in the same places (runs of CR/LF may be cut
//   into several keep-alives by the reads), whatever the read boundaries;
// - it fails (message too large, bad Content-Length) exactly when and where the reference does;
// - every message it delivers parses, as the proxy parses it, without a Content-Length disagreement.

import NIOCore
import NIOEmbedded

@testable import SIPProxy

@_cdecl("LLVMFuzzerTestOneInput")
public func streamFramingFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard size >= 2, let data else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let control = (input[0], input[1])
    let stream = Array(input[2...])
    let limits = [65_535, 1024, 200, 64]
    let parser = SIPParser(maxMessageSize: limits[Int(control.0 & 3)])
    // Up to 63 cuts at pseudo-random positions (seeded by both control bytes): at most 64 reads, so that the
    // uninstrumented, unoptimized NIO code of a debug build does not dominate the run time.
    var rng = StreamFramingFuzzer.Rng(seed: UInt64(control.1) &+ UInt64(control.0) << 8)
    var cuts = Set<Int>()
    for _ in 0..<Int(control.0 >> 2) where stream.count > 1 {
        cuts.insert(1 + Int(rng.next() % UInt64(stream.count - 1)))
    }
    let bounds = [0] + cuts.sorted() + [stream.count]

    let reference = StreamFramingFuzzer.frameAtOnce(stream, parser)
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(SIPStreamDecoder(parser: parser)))
    var delivered: [StreamFramingFuzzer.Frame] = []
    var failed = false
    for (start, end) in zip(bounds, bounds.dropFirst()) where !failed && start < end {
        do {
            try channel.writeInbound(ByteBuffer(bytes: stream[start..<end]))
        } catch let error as SIPParseError where error.kind == .messageTooLarge || error.kind == .invalidContentLength {
            failed = true
        } catch {
            fatalError("unexpected error from the stream decoder: \(error)")
        }
        while let frame = try? channel.readInbound(as: SIPStreamFrame.self) {
            switch frame {
            case .message(var buffer):
                let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
                delivered.append(.message(bytes))
                StreamFramingFuzzer.checkParse(bytes, parser)
            case .keepAlive:
                if delivered.last != .keepAlive { delivered.append(.keepAlive) }
            case .messageStarted:
                break
            case .oversized:
                // The decoder reports a message over the limit (the handler answers 513 and closes) and then
                // discards the rest of the stream, as framing it at once fails there.
                failed = true
            }
        }
    }
    _ = try? channel.finish()
    guard delivered == reference.frames, failed == reference.failed else {
        fatalError(
            "the decoder fed in reads gave \(StreamFramingFuzzer.describe(delivered)) failed=\(failed), framing at "
                + "once gave \(StreamFramingFuzzer.describe(reference.frames)) failed=\(reference.failed)"
        )
    }
    return 0
}

enum StreamFramingFuzzer {
    /// What a stream delivers: a run of keep-alive CR/LFs (however many frames it took), or a message.
    enum Frame: Equatable {
        case keepAlive
        case message([UInt8])
    }

    static func describe(_ frames: [Frame]) -> String {
        frames.map { frame in
            switch frame {
            case .keepAlive: return "CRLF"
            case .message(let bytes): return "message(\(bytes.count))"
            }
        }.joined(separator: " ")
    }

    /// xorshift64*: split points derived from the input, the same on every run.
    struct Rng {
        var state: UInt64
        init(seed: UInt64) { self.state = seed | 1 }
        mutating func next() -> UInt64 {
            self.state ^= self.state >> 12
            self.state ^= self.state << 25
            self.state ^= self.state >> 27
            return self.state &* 0x2545_F491_4F6C_DD1D
        }
    }

    /// The reference: every frame of the whole stream, each found by one `frame` call from its first octet.
    static func frameAtOnce(_ stream: [UInt8], _ parser: SIPParser) -> (frames: [Frame], failed: Bool) {
        var frames: [Frame] = []
        var offset = 0
        while offset < stream.count {
            let result = stream.withUnsafeBytes { raw in
                let rest = UnsafeRawBufferPointer(rebasing: raw[offset...])
                return Result { () throws(SIPParseError) in try parser.frame(rest) }
            }
            switch result {
            case .failure: return (frames, true)
            case .success(.needMoreData), .success(.needBody): return (frames, false)
            case .success(.keepAlive(let n)):
                guard n > 0, offset + n <= stream.count else { fatalError("keep-alive of \(n) octets") }
                if frames.last != .keepAlive { frames.append(.keepAlive) }
                offset += n
            case .success(.message(let n)):
                guard n > 0, offset + n <= stream.count, n <= parser.maxMessageSize else {
                    fatalError("message of \(n) octets at \(offset) of \(stream.count), bound \(parser.maxMessageSize)")
                }
                frames.append(.message(Array(stream[offset..<(offset + n)])))
                offset += n
            }
        }
        return (frames, false)
    }

    /// The proxy parses each framed message with stream framing; the parser and the framer read Content-Length
    /// with the same code, so they must agree on it.
    static func checkParse(_ bytes: [UInt8], _ parser: SIPParser) {
        do throws(SIPParseError) {
            let message = try parser.parse(bytes, framing: .stream)
            _ = message.summary
        } catch {
            switch error.kind {
            case .truncatedBody, .invalidContentLength, .messageTooLarge:
                fatalError("framer and parser disagree: \(error) for \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            default:
                break
            }
        }
    }
}
