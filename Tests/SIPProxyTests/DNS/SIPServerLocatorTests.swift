// SIPServerLocator: RFC 3263 §4 as a pure function of the answers: which questions in which order, and which
// targets come out. No resolver, no socket.

import Testing

@testable import SIPProxy

@Suite("SIPServerLocator (RFC 3263 §4)")
struct SIPServerLocatorTests {
    typealias Target = SIPServerLocator.Target
    static let both: Set<TransportKind> = [.udp, .tcp]

    static func locator(_ uri: String, supported: Set<TransportKind> = both, families: [DNSRecordType] = [.a])
        -> SIPServerLocator
    {
        var l = SIPServerLocator(uri: SIPURI.parse(uri)!, supported: supported, families: families)
        l = SIPServerLocator(
            host: l.host, port: l.port, transport: l.transport, secure: l.secure, supported: supported,
            families: families, random: { _ in 0 }
        )
        return l
    }

    static func srv(_ name: String, _ priority: UInt16, _ port: UInt16, _ target: String) -> DNSRecord {
        DNSRecord(name: name, type: .srv, ttl: 60, data: .srv(SRVRecord(priority: priority, weight: 0, port: port, target: target)))
    }

    static func a(_ name: String, _ ip: String) -> DNSRecord { DNSRecord(name: name, type: .a, ttl: 60, data: .a(ip)) }

    static func naptr(_ order: UInt16, _ service: String, _ replacement: String, flags: String = "s") -> DNSRecord {
        DNSRecord(name: "lab-b.test", type: .naptr, ttl: 60, data: .naptr(NAPTRRecord(
            order: order, preference: 10, flags: flags, services: service, regexp: "", replacement: replacement
        )))
    }

    @Test("no NAPTR: SRV for UDP and TCP, targets by priority with their addresses")
    func srvWithoutNAPTR() {
        var l = Self.locator("sip:bob@lab-b.test")
        #expect(l.start() == .lookup([DNSQuestion("lab-b.test", .naptr)]))
        let step = l.next([DNSQuestion("lab-b.test", .naptr): .records([])])
        #expect(step == .lookup([DNSQuestion("_sip._udp.lab-b.test", .srv), DNSQuestion("_sip._tcp.lab-b.test", .srv)]))
        let addresses = l.next([
            DNSQuestion("_sip._udp.lab-b.test", .srv): .records([
                Self.srv("_sip._udp.lab-b.test", 20, 5080, "sip2.lab-b.test"),
                Self.srv("_sip._udp.lab-b.test", 10, 5070, "sip1.lab-b.test"),
            ]),
            DNSQuestion("_sip._tcp.lab-b.test", .srv): .nameError,
        ])
        #expect(addresses == .lookup([DNSQuestion("sip1.lab-b.test", .a), DNSQuestion("sip2.lab-b.test", .a)]))
        let done = l.next([
            DNSQuestion("sip1.lab-b.test", .a): .records([Self.a("sip1.lab-b.test", "127.0.0.22")]),
            DNSQuestion("sip2.lab-b.test", .a): .records([Self.a("sip2.lab-b.test", "127.0.0.23")]),
        ])
        #expect(done == .done([
            Target(transport: .udp, ip: "127.0.0.22", port: 5070, name: "sip1.lab-b.test"),
            Target(transport: .udp, ip: "127.0.0.23", port: 5080, name: "sip2.lab-b.test"),
        ], failed: false))
    }

    @Test("NAPTR: usable services by order, SRV of the replacement; unknown services and flags skipped")
    func naptr() {
        var l = Self.locator("sip:bob@lab-b.test")
        _ = l.start()
        let step = l.next([DNSQuestion("lab-b.test", .naptr): .records([
            Self.naptr(30, "SIP+D2U", "_sip._udp.lab-b.test"),
            Self.naptr(10, "SIP+D2T", "_sip._tcp.lab-b.test"),
            Self.naptr(5, "SIPS+D2T", "_sips._tcp.lab-b.test"),
            Self.naptr(1, "E2U+SIP", "ignored.lab-b.test"),
            Self.naptr(2, "SIP+D2U", "also-ignored.lab-b.test", flags: "a"),
        ])])
        // No TLS listener: SIPS+D2T is skipped; TCP (order 10) before UDP (order 30).
        #expect(step == .lookup([DNSQuestion("_sip._tcp.lab-b.test", .srv), DNSQuestion("_sip._udp.lab-b.test", .srv)]))
        let addresses = l.next([
            DNSQuestion("_sip._tcp.lab-b.test", .srv): .records([Self.srv("_sip._tcp.lab-b.test", 10, 5070, "sip1.lab-b.test")]),
            DNSQuestion("_sip._udp.lab-b.test", .srv): .records([Self.srv("_sip._udp.lab-b.test", 10, 5070, "sip1.lab-b.test")]),
        ])
        #expect(addresses == .lookup([DNSQuestion("sip1.lab-b.test", .a)]))
        let done = l.next([DNSQuestion("sip1.lab-b.test", .a): .records([Self.a("sip1.lab-b.test", "127.0.0.22")])])
        #expect(done == .done([
            Target(transport: .tcp, ip: "127.0.0.22", port: 5070, name: "sip1.lab-b.test"),
            Target(transport: .udp, ip: "127.0.0.22", port: 5070, name: "sip1.lab-b.test"),
        ], failed: false))
    }

    @Test("no SRV: A of the host, port 5060, UDP")
    func noSRV() {
        var l = Self.locator("sip:bob@lab-b.test")
        _ = l.start()
        _ = l.next([DNSQuestion("lab-b.test", .naptr): .nameError])
        let step = l.next([
            DNSQuestion("_sip._udp.lab-b.test", .srv): .records([]),
            DNSQuestion("_sip._tcp.lab-b.test", .srv): .records([]),
        ])
        #expect(step == .lookup([DNSQuestion("lab-b.test", .a)]))
        #expect(l.next([DNSQuestion("lab-b.test", .a): .records([Self.a("lab-b.test", "127.0.0.22")])])
            == .done([Target(transport: .udp, ip: "127.0.0.22", port: 5060, name: "lab-b.test")], failed: false))
    }

    @Test("an explicit port: A/AAAA only, no NAPTR or SRV")
    func explicitPort() {
        var l = Self.locator("sip:bob@lab-b.test:5999;transport=tcp", families: [.a, .aaaa])
        #expect(l.start() == .lookup([DNSQuestion("lab-b.test", .a), DNSQuestion("lab-b.test", .aaaa)]))
        let v6 = DNSRecord(name: "lab-b.test", type: .aaaa, ttl: 60, data: .aaaa("::1"))
        #expect(l.next([
            DNSQuestion("lab-b.test", .a): .records([Self.a("lab-b.test", "127.0.0.22")]),
            DNSQuestion("lab-b.test", .aaaa): .records([v6]),
        ]) == .done([
            Target(transport: .tcp, ip: "127.0.0.22", port: 5999, name: "lab-b.test"),
            Target(transport: .tcp, ip: "::1", port: 5999, name: "lab-b.test"),
        ], failed: false))
    }

    @Test("an explicit transport without port: SRV of that transport only")
    func explicitTransport() {
        var l = Self.locator("sip:bob@lab-b.test;transport=tcp")
        #expect(l.start() == .lookup([DNSQuestion("_sip._tcp.lab-b.test", .srv)]))
    }

    @Test("sips: only TLS, and nothing when the proxy has no TLS listener")
    func sips() {
        var none = Self.locator("sips:bob@lab-b.test")
        #expect(none.start() == .lookup([DNSQuestion("_sips._tcp.lab-b.test", .srv)]))
        #expect(none.next([DNSQuestion("_sips._tcp.lab-b.test", .srv): .records([])]) == .done([], failed: false))
        var tls = Self.locator("sips:bob@lab-b.test", supported: [.udp, .tcp, .tls])
        _ = tls.start()
        #expect(tls.next([DNSQuestion("_sips._tcp.lab-b.test", .srv): .records([])])
            == .lookup([DNSQuestion("lab-b.test", .a)]))
        #expect(tls.next([DNSQuestion("lab-b.test", .a): .records([Self.a("lab-b.test", "127.0.0.22")])])
            == .done([Target(transport: .tls, ip: "127.0.0.22", port: 5061, name: "lab-b.test")], failed: false))
    }

    @Test("SRV target '.' means no service; DNS failures are reported as such")
    func noServiceAndFailure() {
        var l = Self.locator("sip:bob@lab-b.test;transport=udp")
        _ = l.start()
        let step = l.next([DNSQuestion("_sip._udp.lab-b.test", .srv): .records([Self.srv("_sip._udp.lab-b.test", 0, 0, "")])])
        #expect(step == .lookup([DNSQuestion("lab-b.test", .a)]), "no usable SRV: the host's A record (§4.2)")
        #expect(l.next([DNSQuestion("lab-b.test", .a): .failure(DNSError(.timeout))]) == .done([], failed: true))
    }

    @Test("an IP literal needs no DNS")
    func literal() {
        var l = Self.locator("sip:bob@127.0.0.9;transport=tcp")
        #expect(l.start() == .done([Target(transport: .tcp, ip: "127.0.0.9", port: 5060, name: "127.0.0.9")], failed: false))
    }

    @Test("at most 16 SRV targets are kept, by priority")
    func bounded() {
        var l = Self.locator("sip:bob@lab-b.test;transport=udp")
        _ = l.start()
        let records = (0..<40).map { Self.srv("_sip._udp.lab-b.test", UInt16(40 - $0), 5060, "h\($0).lab-b.test") }
        guard case .lookup(let questions) = l.next([DNSQuestion("_sip._udp.lab-b.test", .srv): .records(records)]) else {
            Issue.record("expected A lookups")
            return
        }
        #expect(questions.count == 16)
        #expect(questions.first == DNSQuestion("h39.lab-b.test", .a), "priority 1 first")
    }
}
