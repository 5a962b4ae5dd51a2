// libFuzzer harness: TCP stream framing (RFC 3261 §18.3), driven the way SIPStreamDecoder drives it.
//
// Built by scripts/fuzz.sh (not a SwiftPM target) against an instrumented build of Sources/SIPProxy/Message.
// The first two input bytes choose the size bound and how the rest is cut into reads; the rest is the byte stream.
// Reads are appended to a buffer and framed with `SIPParser.frame(_:searched:)`, keeping `searched` exactly as
// SIPStreamDecoder does (reset on every consumed frame, kept from the call on needMoreData), until the buffer needs
// more data. Checked after every step:
// - a frame's length is positive (progress) and within the buffer and the size bound;
// - a keep-alive is only CR/LF, a message does not start with CR/LF;
// - the sequence of frames (and whether and where framing fails) does not depend on how the stream was cut into
//   reads: it equals framing the whole stream at once, without `searchFrom` (adjacent keep-alives merged);
// - a framed message parses (as the proxy parses it) without a Content-Length disagreement with the framer.

@testable import SIPProxy

@_cdecl("LLVMFuzzerTestOneInput")
public func streamFramingFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard size >= 2, let data else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let control = (input[0], input[1])
    let stream = Array(input[2...])
    let limits = [65_535, 1024, 200, 64]
    let parser = SIPParser(maxMessageSize: limits[Int(control.0 & 3)])
    // Read sizes: one octet each, up to 2, 4, 16, 32, 512 or 4096 octets (pseudo-random, seeded by both control
    // bytes), or the whole stream in one read.
    let maxRead = [1, 4, 32, 512, Int.max, 2, 16, 4096][Int(control.0 >> 2 & 7)]
    var rng = StreamFramingFuzzer.Rng(seed: UInt64(control.1) &+ UInt64(control.0) << 8)

    let whole = StreamFramingFuzzer.frameAtOnce(stream, parser)
    var decoder = StreamFramingFuzzer.Decoder(parser: parser)
    var position = 0
    while position < stream.count, !decoder.failed {
        let n = maxRead == Int.max ? stream.count - position : 1 + Int(rng.next() % UInt64(maxRead))
        let end = min(stream.count, position + n)
        decoder.read(stream[position..<end])
        position = end
    }
    // Runs of CR/LF between messages may be cut into several keep-alives by the reads: compare them merged.
    let incremental = StreamFramingFuzzer.merged(decoder.frames)
    guard incremental == StreamFramingFuzzer.merged(whole.frames), decoder.failed == whole.failed else {
        fatalError(
            "framing depends on read boundaries: \(decoder.frames) failed=\(decoder.failed) in reads, "
                + "\(whole.frames) failed=\(whole.failed) at once"
        )
    }
    return 0
}

enum StreamFramingFuzzer {
    enum Frame: Equatable {
        case keepAlive(Int)
        case message(Int)
    }

    static func merged(_ frames: [Frame]) -> [Frame] {
        var result: [Frame] = []
        for frame in frames {
            if case .keepAlive(let n) = frame, case .keepAlive(let m)? = result.last {
                result[result.count - 1] = .keepAlive(n + m)
            } else {
                result.append(frame)
            }
        }
        return result
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

    /// SIPStreamDecoder's state machine over a plain byte array instead of a ByteBuffer in a channel pipeline.
    struct Decoder {
        let parser: SIPParser
        var buffer: [UInt8] = []
        var readerIndex = 0
        var searched = 0
        var frames: [Frame] = []
        var failed = false

        init(parser: SIPParser) { self.parser = parser }

        /// ByteToMessageHandler.channelRead: append, then decode while the decoder returns .continue.
        mutating func read(_ bytes: ArraySlice<UInt8>) {
            self.buffer.append(contentsOf: bytes)
            while !self.failed, self.decodeOnce() {}
            // ByteToMessageHandler discards consumed bytes now and then; do it every read.
            self.buffer.removeFirst(self.readerIndex)
            self.readerIndex = 0
        }

        /// One call of SIPStreamDecoder.decode: true for .continue.
        mutating func decodeOnce() -> Bool {
            let readable = self.buffer.count - self.readerIndex
            var searched = self.searched
            let result: Result<SIPParser.FrameResult, SIPParseError> = self.buffer.withUnsafeBytes { raw in
                let rest = UnsafeRawBufferPointer(rebasing: raw[self.readerIndex...])
                return Result { () throws(SIPParseError) in try self.parser.frame(rest, searched: &searched) }
            }
            switch result {
            case .failure(let error):
                guard error.kind == .messageTooLarge || error.kind == .invalidContentLength else {
                    fatalError("unexpected framing error \(error)")
                }
                self.failed = true
                return false
            case .success(.needMoreData):
                guard searched <= readable else { fatalError("searched \(searched) past the \(readable) readable") }
                self.searched = searched
                return false
            case .success(.keepAlive(let length)):
                let bytes = self.consume(length, readable)
                guard bytes.allSatisfy({ $0 == 13 || $0 == 10 }) else { fatalError("keep-alive is not CRLF: \(bytes)") }
                self.searched = 0
                self.frames.append(.keepAlive(length))
                return true
            case .success(.message(let length)):
                guard length <= self.parser.maxMessageSize else {
                    fatalError("message of \(length) octets over the bound \(self.parser.maxMessageSize)")
                }
                let bytes = self.consume(length, readable)
                guard bytes[0] != 13, bytes[0] != 10 else { fatalError("message starts with CR/LF") }
                self.searched = 0
                self.frames.append(.message(length))
                StreamFramingFuzzer.checkParse(bytes, self.parser)
                return true
            }
        }

        mutating func consume(_ length: Int, _ readable: Int) -> [UInt8] {
            guard length > 0, length <= readable else {
                fatalError("frame of \(length) octets with \(readable) readable: no progress or past the buffer")
            }
            let bytes = Array(self.buffer[self.readerIndex..<(self.readerIndex + length)])
            self.readerIndex += length
            return bytes
        }
    }

    /// The reference: every frame of the whole stream, each found by one `frame` call from offset 0.
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
            case .success(.needMoreData): return (frames, false)
            case .success(.keepAlive(let n)):
                frames.append(.keepAlive(n))
                offset += n
            case .success(.message(let n)):
                frames.append(.message(n))
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
