// NameAddressMemo: a shard's memo of parsed From/To values gives exactly what parsing gives, keeps no malformed
// or long value, stays within its capacity, and the parser with a memo accepts and rejects what it does without.

import Testing

@testable import SIPProxy

extension MessageTests {
    @Suite("NameAddressMemo")
    struct NameAddressMemoTests {
        static let values = [
            "<sip:alice@example.com>;tag=1928301774",
            "\"Alice Liddell\" <sip:alice@example.com;transport=tcp>;tag=a",
            "Bob <sips:bob@[2001:db8::1]:5061>",
            "sip:carol@example.com;tag=x",
            "<sip:%61lice@example.com>",
            "<tel:+421-2-1234567>",
        ]

        @Test func hitsEqualParsing() {
            var memo = NameAddressMemo(capacity: 16)
            for round in 0..<3 {
                for value in Self.values {
                    let parsed = memo.parse(value)
                    #expect(parsed == NameAddress.parse(value), "round \(round): \(value)")
                    #expect(parsed != nil, "\(value)")
                }
            }
            #expect(memo.count == Self.values.count)
        }

        @Test func malformedAndLongValuesAreNotKept() {
            var memo = NameAddressMemo(capacity: 16)
            #expect(memo.parse("<sip:alice@example.com") == nil)
            #expect(memo.parse("\"unterminated <sip:a@b>") == nil)
            let long = "<sip:" + String(repeating: "a", count: NameAddressMemo.maxLength) + "@example.com>;tag=1"
            #expect(memo.parse(long) == NameAddress.parse(long))
            #expect(memo.parse(long) != nil)
            #expect(memo.count == 0)
        }

        @Test func staysWithinItsCapacity() {
            var memo = NameAddressMemo(capacity: 8)
            for n in 0..<100 {
                let value = "<sip:user\(n)@example.com>;tag=\(n)"
                #expect(memo.parse(value) == NameAddress.parse(value))
                #expect(memo.count <= 8)
            }
            #expect(NameAddressMemo.disabled.count == 0)
            var disabled = NameAddressMemo.disabled
            _ = disabled.parse(Self.values[0])
            #expect(disabled.count == 0)
        }

        /// Every torture message, parsed twice through one memo (so the second pass and later messages hit it):
        /// the same message, From and To, or the same error, as without a memo.
        @Test func parserWithAMemoAgreesOnTheTortureCorpus() throws {
            guard TortureCorpus.isPresent else { return TortureCorpus.noteMissing() }
            let parser = SIPParser()
            var memo = NameAddressMemo(capacity: 64)
            var compared = 0
            for _ in 0..<2 {
                for entry in TortureCorpus.manifest() {
                    guard let bytes = TortureCorpus.wireBytes(entry.name) else { continue }
                    let plain = Result { () throws(SIPParseError) in try parser.parse(bytes) }
                    let memoized = bytes.withUnsafeBytes { raw in
                        Result { () throws(SIPParseError) in try parser.parse(raw, framing: .datagram, memo: &memo) }
                    }
                    switch (plain, memoized) {
                    case (.success(.request(let a)), .success(.request(let b))):
                        #expect(a == b && a.from == b.from && a.to == b.to, "\(entry.name)")
                    case (.success(.response(let a)), .success(.response(let b))):
                        #expect(a == b && a.from == b.from && a.to == b.to, "\(entry.name)")
                    case (.failure(let a), .failure(let b)):
                        #expect(a == b, "\(entry.name)")
                    default:
                        Issue.record("\(entry.name): \(plain) without a memo, \(memoized) with one")
                    }
                    compared += 1
                }
            }
            #expect(compared > 40)
        }
    }
}
