// DNSMessage: RFC 1035 wire format. Queries byte-exact; answers decoded with and without compression; hostile
// input (pointer loops, forward pointers, truncation at every offset, bad lengths) throws and never traps.

import Testing

@testable import SIPProxy

@Suite("DNSMessage (RFC 1035 wire format)")
struct DNSMessageTests {
    @Test("a query is header, labels, type, class IN, with RD set")
    func queryBytes() throws {
        let bytes = try DNSMessage.query(id: 0xBEEF, DNSQuestion("_sip._udp.Lab-B.test.", .srv))
        let expected: [UInt8] =
            [0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
            + [4] + Array("_sip".utf8) + [4] + Array("_udp".utf8) + [5] + Array("lab-b".utf8) + [4] + Array("test".utf8)
            + [0, 0, 33, 0, 1]
        #expect(bytes == expected, "names are lowercased and lose the final dot (RFC 4343)")
    }

    @Test("names that cannot be encoded are refused: empty label, label over 63, name over 255")
    func badQueryNames() {
        #expect(throws: DNSError(.badQuery)) { try DNSMessage.query(id: 1, DNSQuestion("a..b", .a)) }
        #expect(throws: DNSError(.badQuery)) { try DNSMessage.query(id: 1, DNSQuestion(String(repeating: "x", count: 64), .a)) }
        let long = Array(repeating: String(repeating: "x", count: 60), count: 5).joined(separator: ".")
        #expect(throws: DNSError(.badQuery)) { try DNSMessage.query(id: 1, DNSQuestion(long, .a)) }
    }

    @Test("an SRV answer decodes the same with and without compression pointers")
    func srvAnswer() throws {
        for compress in [true, false] {
            let message = try DNSMessage(decoding: DNSFixtures.srvAnswer(id: 7, compress: compress))
            #expect(message.id == 7 && message.isResponse && !message.isTruncated && message.rcode == 0)
            #expect(message.questions == [DNSQuestion("_sip._udp.lab-b.test", .srv)])
            #expect(message.answers.map(\.data) == [
                .srv(SRVRecord(priority: 10, weight: 0, port: 5070, target: "sip1.lab-b.test")),
                .srv(SRVRecord(priority: 20, weight: 0, port: 5080, target: "sip2.lab-b.test")),
            ])
            #expect(message.additional.map(\.data) == [.a("127.0.0.22"), .a("127.0.0.23")])
            #expect(message.additional.map(\.name) == ["sip1.lab-b.test", "sip2.lab-b.test"])
            #expect(message.answers(id: 7, DNSQuestion("_SIP._udp.lab-b.test", .srv)))
            #expect(!message.answers(id: 8, DNSQuestion("_sip._udp.lab-b.test", .srv)), "RFC 5452: id must match")
            #expect(!message.answers(id: 7, DNSQuestion("_sip._tcp.lab-b.test", .srv)), "and the question")
        }
        #expect(DNSFixtures.srvAnswer(id: 7).count < DNSFixtures.srvAnswer(id: 7, compress: false).count)
    }

    @Test("NAPTR, AAAA and SOA records")
    func otherRecords() throws {
        var b = DNSAnswerBuilder()
        b.header(id: 1, counts: [1, 1, 1, 1])
        b.question("lab-b.test", .naptr)
        b.naptr("lab-b.test", order: 10, preference: 50, service: "sip+d2u", replacement: "_sip._udp.lab-b.test")
        b.soa("lab-b.test", ttl: 600, minimum: 60)
        b.record("sip1.lab-b.test", .aaaa) { $0.bytes += [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1] }
        let message = try DNSMessage(decoding: b.bytes)
        #expect(message.answers.first?.data == .naptr(NAPTRRecord(
            order: 10, preference: 50, flags: "s", services: "SIP+D2U", regexp: "", replacement: "_sip._udp.lab-b.test"
        )))
        #expect(message.authority.first?.data == .soa(SOARecord(minimum: 60)))
        #expect(message.additional.first?.data == .aaaa("2001:db8::1"))
    }

    @Test("IPv6 text follows RFC 5952")
    func ipv6Text() {
        #expect(DNSReader.ipv6Text(Array(repeating: 0, count: 15) + [1]) == "::1")
        #expect(DNSReader.ipv6Text([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]) == "2001:db8:0:1::1")
        #expect(DNSReader.ipv6Text([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]) == "2001:db8:1:1:1:1:1:1")
    }

    @Test("a pointer to itself or forward is refused, not followed (no loop)")
    func pointerLoops() {
        var selfLoop = DNSAnswerBuilder()
        selfLoop.header(id: 1, counts: [1, 0, 0, 0])
        selfLoop.bytes += [0xC0, 12, 0, 1, 0, 1]  // the question's name points at itself
        #expect(throws: DNSError(.badName)) { try DNSMessage(decoding: selfLoop.bytes) }

        var forward = DNSAnswerBuilder()
        forward.header(id: 1, counts: [1, 0, 0, 0])
        forward.bytes += [0xC0, 14, 0xC0, 12, 0, 1, 0, 1]  // two pointers pointing at each other
        #expect(throws: DNSError(.badName)) { try DNSMessage(decoding: forward.bytes) }

        // Backward pointers that chain into a cycle through labels grow the name until the 255-octet limit.
        var cycle = DNSAnswerBuilder()
        cycle.header(id: 1, counts: [1, 0, 0, 0])
        cycle.bytes += [1, UInt8(ascii: "a"), 0xC0, 12, 0, 1, 0, 1]
        #expect(throws: DNSError(.badName)) { try DNSMessage(decoding: cycle.bytes) }

        var reserved = DNSAnswerBuilder()
        reserved.header(id: 1, counts: [1, 0, 0, 0])
        reserved.bytes += [0x40, 0, 0, 1, 0, 1]
        #expect(throws: DNSError(.badName)) { try DNSMessage(decoding: reserved.bytes) }
    }

    @Test("every truncation of a valid answer throws or decodes; none traps")
    func truncatedAtEveryOffset() {
        let whole = DNSFixtures.srvAnswer(id: 9)
        for length in 0..<whole.count {
            #expect(throws: DNSError.self) { try DNSMessage(decoding: Array(whole[..<length])) }
        }
    }

    @Test("a TC answer keeps its whole records and ignores a cut one")
    func truncatedFlag() throws {
        var b = DNSAnswerBuilder()
        b.header(id: 3, truncated: true, counts: [1, 2, 0, 0])
        b.question("_sip._udp.lab-b.test", .srv)
        b.srv("_sip._udp.lab-b.test", priority: 10, weight: 0, port: 5070, target: "sip1.lab-b.test")
        b.bytes += [0xC0, 12, 0, 33]  // the second record cut short
        let message = try DNSMessage(decoding: b.bytes)
        #expect(message.isTruncated && message.answers.count == 1)
    }

    @Test("an RDATA length that disagrees with the record, or a wrong A length, is refused")
    func badLengths() {
        var b = DNSAnswerBuilder()
        b.header(id: 1, counts: [0, 1, 0, 0])
        b.record("x.test", .a) { $0.bytes += [1, 2, 3] }
        #expect(throws: DNSError(.badRecord)) { try DNSMessage(decoding: b.bytes) }
        var c = DNSAnswerBuilder()
        c.header(id: 1, counts: [0, 1, 0, 0])
        c.record("x.test", .srv) { b in
            b.bytes += [0, 1, 0, 1, 0, 80]
            b.name("t.test")
            b.bytes += [0]  // one octet too many
        }
        #expect(throws: DNSError(.badRecord)) { try DNSMessage(decoding: c.bytes) }
        var huge = DNSAnswerBuilder()
        huge.header(id: 1, counts: [0xFFFF, 0xFFFF, 0, 0])
        #expect(throws: DNSError(.badRecord)) { try DNSMessage(decoding: huge.bytes) }
    }

    @Test("random bytes never trap the decoder")
    func randomBytes() {
        var generator = SplitMix64(seed: 0x5EED)
        let base = DNSFixtures.srvAnswer(id: 1)
        for _ in 0..<2000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = try? DNSMessage(decoding: bytes)
        }
    }
}
