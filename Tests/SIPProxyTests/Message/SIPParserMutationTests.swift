// Deterministic mutation test: thousands of corrupted variants of valid messages must never trap or hang, must
// either parse or throw SIPParseError, and whatever parses must survive serialize -> parse unchanged.

import Testing

@testable import SIPProxy

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, seeded, the same sequence on every platform and run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension MessageTests {
    @Suite("Parser mutation")
    struct SIPParserMutationTests {
        static let builtIn: [[UInt8]] = [
            SIPParserTests.register, SIPParserTests.invite, SIPParserTests.ringing,
            sipMessage([
                "BYE sip:[2001:db8::1]:5070;transport=tcp SIP/2.0",
                "v: SIP/2.0/TCP [2001:db8::9];branch=z9hG4bKx;rport=5;received=[2001:db8::9]",
                "f: \"A \\\"q\\\"\" <sips:a@h>;tag=1", "t: b <tel:+12015550123;ext=1>;tag=2", "i: c@h",
                "CSeq: 7 BYE", "Route: <sip:p1;lr>,<sip:p2;lr>", "Max-Forwards: 9", "l: 3",
            ], body: "a\0b"),
            sipMessage([
                "SIP/2.0 486 Busy Here", "Via: SIP/2.0/UDP h;branch=z9hG4bK1", "To: <sip:b@h>;tag=2",
                "From: <sip:a@h>;tag=1", "Call-ID: busy", "CSeq: 1 INVITE", "Warning: 399 h \"x, y\"",
            ]),
            sipMessage([
                "REGISTER sip:h SIP/2.0", "Via: SIP/2.0/UDP h", "  ;branch=z9hG4bK1", "To: sip:a@h",
                "From: sip:a@h;tag=1", "Call-ID: r", "CSeq: 2 REGISTER", "Contact: *", "Expires: 0",
            ]),
        ]

        static func seeds() -> [[UInt8]] {
            var result = builtIn
            if TortureCorpus.isPresent {
                for name in TortureTests.validNames.prefix(12) {
                    if let bytes = TortureCorpus.wireBytes(name) { result.append(bytes) }
                }
            }
            return result
        }

        static let interesting: [UInt8] = [13, 10, 0, 0xFF, 0x22, 0x3C, 0x3E, 0x2C, 0x3B, 0x3A, 0x20, 0x09, 0x25, 0x5B,
            0x5D, 0x40, 0xC3, 0xCC]

        static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
            var b = input
            let rounds = Int.random(in: 1...3, using: &rng)
            for _ in 0..<rounds where !b.isEmpty {
                let i = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<9, using: &rng) {
                case 0:
                    b[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                case 1:
                    b.removeSubrange(i...)
                case 2:
                    let j = Swift.min(b.count, i + Int.random(in: 1...40, using: &rng))
                    b.insert(contentsOf: b[i..<j], at: Int.random(in: 0...b.count, using: &rng))
                case 3:
                    let j = Swift.min(b.count, i + Int.random(in: 1...40, using: &rng))
                    b.removeSubrange(i..<j)
                case 4:
                    b.insert(Self.interesting.randomElement(using: &rng) ?? 0, at: i)
                case 5:
                    b[i] = Self.interesting.randomElement(using: &rng) ?? 0
                case 6:
                    let lengths = ["Content-Length: 4294967296", "l: 99999999999999999999", "Content-Length: 65000",
                        "l: -1", "Content-Length: 2147483647", "l: 1"]
                    let line = lengths.randomElement(using: &rng) ?? "l: 0"
                    b = Self.replaceLine(b, containing: "ength", with: line)
                case 7:
                    b = Self.swapLines(b, &rng)
                default:
                    let junk = ["\r\n ", "\r\n\r\n", ",,", ";;", "<", "\"", "%", "%0", "[::", "\t", "\n", "\r"]
                    b.insert(contentsOf: Array((junk.randomElement(using: &rng) ?? "").utf8), at: i)
                }
            }
            return b
        }

        static func lines(_ b: [UInt8]) -> [ArraySlice<UInt8>] {
            b.split(separator: 10, omittingEmptySubsequences: false)
        }

        static func swapLines(_ b: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
            var ls = lines(b)
            guard ls.count > 2 else { return b }
            let i = Int.random(in: 0..<ls.count, using: &rng)
            let j = Int.random(in: 0..<ls.count, using: &rng)
            ls.swapAt(i, j)
            return Array(ls.joined(separator: [10]))
        }

        static func replaceLine(_ b: [UInt8], containing: String, with line: String) -> [UInt8] {
            var ls = lines(b)
            let needle = Array(containing.utf8)
            guard let index = ls.firstIndex(where: { Array($0).firstRange(of: needle) != nil }) else { return b }
            ls[index] = ArraySlice(Array((line + "\r").utf8))
            return Array(ls.joined(separator: [10]))
        }

        /// Whatever parses must come back identical from its own serialization.
        static func checkRoundTrip(_ m: SIPMessage, _ input: [UInt8]) {
            let again: SIPMessage
            do {
                again = try SIPParser(maxMessageSize: 1 << 20).parse(m.bytes, framing: .stream)
            } catch {
                Issue.record("reparse failed: \(error) for \(String(decoding: input, as: UTF8.self).debugDescription)")
                return
            }
            #expect(again.callID == m.callID)
            #expect(again.cseq == m.cseq)
            #expect(again.body == m.body)
            let fields = { (x: SIPMessage) in x.headers.fields.filter { $0.key != "content-length" } }
            #expect(fields(again) == fields(m))
            switch (m, again) {
            case (.request(let a), .request(let b)):
                #expect(a.method == b.method)
                #expect(a.uri == b.uri)
            case (.response(let a), .response(let b)):
                #expect(a.statusCode == b.statusCode)
                #expect(a.reason == b.reason)
            default:
                Issue.record("kind changed on reparse")
            }
        }

        @Test("corrupted messages never trap and round-trip when accepted")
        func mutations() {
            var rng = SplitMix64(seed: 0x5EED_5195)
            let seeds = Self.seeds()
            let parser = SIPParser()
            var parsed = 0
            var failed = 0
            let iterations = 4000
            for n in 0..<iterations {
                let input = Self.mutate(seeds[n % seeds.count], &rng)
                for framing in [SIPParser.Framing.datagram, .stream] {
                    // Typed throws: anything other than SIPParseError would not compile, so "it either returns a
                    // message or throws SIPParseError" is checked by the type system; a trap would kill the run.
                    do throws(SIPParseError) {
                        let m = try parser.parse(input, framing: framing)
                        parsed += 1
                        Self.checkRoundTrip(m, input)
                    } catch {
                        failed += 1
                        _ = error.status
                        _ = error.reason
                    }
                }
                let framed: SIPParser.FrameResult?
                do throws(SIPParseError) {
                    framed = try input.withUnsafeBytes { raw in
                        Result { () throws(SIPParseError) in try parser.frame(raw) }
                    }.get()
                } catch {
                    framed = nil
                }
                switch framed {
                case .message(let length)?:
                    #expect(length > 0 && length <= input.count)
                    // What frame delimits parses (or fails) on its own.
                    _ = try? parser.parse(Array(input[..<length]), framing: .stream)
                case .keepAlive(let length)?:
                    #expect(length > 0 && length <= input.count)
                case .needMoreData?, .needBody?, nil:
                    break
                }
            }
            // Both outcomes occur, so the mutator neither destroys everything nor changes nothing.
            #expect(parsed > 100)
            #expect(failed > 100)
        }
    }
}
