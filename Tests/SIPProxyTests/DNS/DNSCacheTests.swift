// DNSCache: TTLs on an injected clock (no sleeping), RFC 2308 negative caching, the size bound.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("DNSCache (TTL, RFC 2308)")
struct DNSCacheTests {
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static let question = DNSQuestion("sip1.lab-b.test", .a)

    static func message(authority: [DNSRecord] = []) -> DNSMessage {
        DNSMessage(
            id: 1, isResponse: true, isTruncated: false, rcode: 0, questions: [question], answers: [],
            authority: authority, additional: []
        )
    }

    static func a(ttl: UInt32) -> DNSRecord {
        DNSRecord(name: "sip1.lab-b.test", type: .a, ttl: ttl, data: .a("127.0.0.22"))
    }

    @Test("a positive answer lives for its smallest TTL")
    func positiveTTL() {
        var cache = DNSCache()
        let records = [Self.a(ttl: 60), DNSRecord(name: "sip1.lab-b.test", type: .a, ttl: 30, data: .a("127.0.0.23"))]
        cache.store(Self.question, .records(records), message: Self.message(), now: Self.t0)
        #expect(cache.lookup(Self.question, now: Self.t0 + .seconds(29)) == .records(records))
        #expect(cache.lookup(Self.question, now: Self.t0 + .seconds(30)) == nil)
        #expect(cache.count == 0, "the expired entry is dropped")
    }

    @Test("TTL 0 is used once and not kept")
    func zeroTTL() {
        var cache = DNSCache()
        cache.store(Self.question, .records([Self.a(ttl: 0)]), message: Self.message(), now: Self.t0)
        #expect(cache.lookup(Self.question, now: Self.t0) == nil)
    }

    @Test("NXDOMAIN is cached for min(SOA TTL, MINIMUM), bounded; without SOA not at all")
    func negative() {
        var cache = DNSCache(maxNegativeTTL: .seconds(120))
        let soa = DNSRecord(name: "lab-b.test", type: .soa, ttl: 600, data: .soa(SOARecord(minimum: 45)))
        cache.store(Self.question, .nameError, message: Self.message(authority: [soa]), now: Self.t0)
        #expect(cache.lookup(Self.question, now: Self.t0 + .seconds(44)) == .nameError)
        #expect(cache.lookup(Self.question, now: Self.t0 + .seconds(45)) == nil)

        let long = DNSRecord(name: "lab-b.test", type: .soa, ttl: 86_400, data: .soa(SOARecord(minimum: 86_400)))
        cache.store(Self.question, .records([]), message: Self.message(authority: [long]), now: Self.t0)
        #expect(cache.lookup(Self.question, now: Self.t0 + .seconds(119)) == .records([]), "NODATA too")
        #expect(cache.lookup(Self.question, now: Self.t0 + .seconds(120)) == nil, "bounded by maxNegativeTTL")

        cache.store(Self.question, .nameError, message: Self.message(), now: Self.t0)
        #expect(cache.lookup(Self.question, now: Self.t0) == nil, "RFC 2308 §5: no SOA, no caching")
    }

    @Test("positive TTLs are bounded too")
    func positiveBound() {
        var cache = DNSCache(maxTTL: .seconds(100))
        cache.store(Self.question, .records([Self.a(ttl: 2_000_000)]), message: Self.message(), now: Self.t0)
        #expect(cache.lookup(Self.question, now: Self.t0 + .seconds(99)) != nil)
        #expect(cache.lookup(Self.question, now: Self.t0 + .seconds(100)) == nil)
    }

    @Test("full: the entry expiring first gives way")
    func bounded() {
        var cache = DNSCache(capacity: 2)
        let q = (0..<3).map { DNSQuestion("h\($0).test", .a) }
        cache.store(q[0], .records([Self.a(ttl: 300)]), message: Self.message(), now: Self.t0)
        cache.store(q[1], .records([Self.a(ttl: 100)]), message: Self.message(), now: Self.t0)
        cache.store(q[2], .records([Self.a(ttl: 200)]), message: Self.message(), now: Self.t0)
        #expect(cache.count == 2)
        #expect(cache.lookup(q[1], now: Self.t0) == nil)
        #expect(cache.lookup(q[0], now: Self.t0) != nil && cache.lookup(q[2], now: Self.t0) != nil)
    }
}
