// DNSResolver: the query logic over a fake exchange on an EmbeddedEventLoop: id/question matching, retries over
// servers, TCP after truncation, the cache on an injected clock, and the RFC 3263 locator driven to its targets.

import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import SIPProxy

/// Answers queries from a table of canned records; records every query. `@unchecked Sendable`: used on the test's
/// embedded loop only.
final class FakeDNSExchange: DNSExchange, @unchecked Sendable {
    struct Sent: Equatable {
        var server: SocketAddress
        var question: DNSQuestion
        var tcp: Bool
    }

    /// Builds the datagrams the server sends back for a query (id, question); empty: silence (timeout).
    var udpAnswers: (UInt16, DNSQuestion, SocketAddress) -> [[UInt8]] = { _, _, _ in [] }
    var tcpAnswer: (UInt16, DNSQuestion) -> [UInt8]? = { _, _ in nil }
    private(set) var sent: [Sent] = []
    /// When set, UDP answers wait in `held` until `release()`: a lookup still out while the test acts.
    var hold = false
    private var held: [() -> Void] = []

    /// Delivers every held answer, and those of the lookups they lead to.
    func release() {
        self.hold = false
        while !self.held.isEmpty {
            let pending = self.held
            self.held = []
            for deliver in pending { deliver() }
        }
    }

    func udp(
        _ query: [UInt8], to server: SocketAddress, timeout: TimeAmount, on loop: EventLoop,
        accept: @escaping @Sendable ([UInt8]) -> Bool
    ) -> EventLoopFuture<[UInt8]> {
        let message = try! DNSMessage(decoding: query)
        self.sent.append(Sent(server: server, question: message.questions[0], tcp: false))
        if self.hold {
            let promise = loop.makePromise(of: [UInt8].self)
            let answers = self.udpAnswers(message.id, message.questions[0], server)
            self.held.append {
                if let datagram = answers.first(where: accept) {
                    promise.succeed(datagram)
                } else {
                    promise.fail(DNSError(.timeout))
                }
            }
            return promise.futureResult
        }
        for datagram in self.udpAnswers(message.id, message.questions[0], server) where accept(datagram) {
            return loop.makeSucceededFuture(datagram)
        }
        return loop.makeFailedFuture(DNSError(.timeout))
    }

    func tcp(_ query: [UInt8], to server: SocketAddress, timeout: TimeAmount, on loop: EventLoop) -> EventLoopFuture<[UInt8]> {
        let message = try! DNSMessage(decoding: query)
        self.sent.append(Sent(server: server, question: message.questions[0], tcp: true))
        guard let answer = self.tcpAnswer(message.id, message.questions[0]) else {
            return loop.makeFailedFuture(DNSError(.transport))
        }
        return loop.makeSucceededFuture(answer)
    }
}

@Suite("DNSResolver")
struct DNSResolverTests {
    static let servers = [try! SocketAddress(ipAddress: "127.0.0.53", port: 5353), try! SocketAddress(ipAddress: "127.0.0.54", port: 53)]

    /// A resolver on an embedded loop whose clock is `clock` (seconds since 1 s).
    static func resolver(_ exchange: FakeDNSExchange, clock: NIOLockedValueBox<Int64>) -> DNSResolver {
        DNSResolver(
            eventLoop: EmbeddedEventLoop(), servers: servers, settings: DNSSettings(), exchange: exchange,
            logger: Logger(label: "test"), now: { .uptimeNanoseconds(UInt64(1 + clock.withLockedValue { $0 }) * 1_000_000_000) }
        )
    }

    /// An answer to (id, question) with `records` A records of 127.0.0.N, TTL 60.
    static func aAnswer(_ id: UInt16, _ q: DNSQuestion, _ hosts: [UInt8], truncated: Bool = false) -> [UInt8] {
        var b = DNSAnswerBuilder()
        b.header(id: Int(id), truncated: truncated, counts: [1, hosts.count, 0, 0])
        b.question(q.name, q.type)
        for h in hosts { b.a(q.name, [127, 0, 0, h], ttl: 60) }
        return b.bytes
    }

    static func value(_ future: EventLoopFuture<DNSLookupResult>) throws -> DNSLookupResult {
        let result = NIOLockedValueBox<DNSLookupResult?>(nil)
        future.whenSuccess { value in result.withLockedValue { $0 = value } }
        return try #require(result.withLockedValue { $0 })
    }

    @Test("a datagram with another id or question is ignored; the matching one is taken")
    func matching() throws {
        let fake = FakeDNSExchange()
        fake.udpAnswers = { id, q, _ in
            [Self.aAnswer(id &+ 1, q, [9]), Self.aAnswer(id, DNSQuestion("other.test", .a), [8]), Self.aAnswer(id, q, [22])]
        }
        let resolver = Self.resolver(fake, clock: NIOLockedValueBox(0))
        let result = try Self.value(resolver.lookup(DNSQuestion("sip1.lab-b.test", .a)))
        #expect(result.records.map(\.data) == [.a("127.0.0.22")])
    }

    @Test("silence from the first server: the second is asked; both silent twice: failure")
    func retries() throws {
        let fake = FakeDNSExchange()
        fake.udpAnswers = { id, q, server in server == Self.servers[1] ? [Self.aAnswer(id, q, [22])] : [] }
        let resolver = Self.resolver(fake, clock: NIOLockedValueBox(0))
        #expect(try Self.value(resolver.lookup(DNSQuestion("a.test", .a))).records.count == 1)
        #expect(fake.sent.map(\.server) == Self.servers)

        let silent = FakeDNSExchange()
        let failing = Self.resolver(silent, clock: NIOLockedValueBox(0))
        #expect(try Self.value(failing.lookup(DNSQuestion("a.test", .a))) == .failure(DNSError(.timeout)))
        #expect(silent.sent.count == 4, "two attempts on each of two servers")
    }

    @Test("SERVFAIL moves on to the next server; NXDOMAIN is an answer")
    func rcodes() throws {
        let fake = FakeDNSExchange()
        fake.udpAnswers = { id, q, server in
            var b = DNSAnswerBuilder()
            b.header(id: Int(id), rcode: server == Self.servers[0] ? 2 : 3, counts: [1, 0, 0, 0])
            b.question(q.name, q.type)
            return [b.bytes]
        }
        let resolver = Self.resolver(fake, clock: NIOLockedValueBox(0))
        #expect(try Self.value(resolver.lookup(DNSQuestion("nowhere.test", .a))) == .nameError)
        #expect(fake.sent.count == 2)
    }

    @Test("a truncated UDP answer is asked again over TCP")
    func truncation() throws {
        let fake = FakeDNSExchange()
        fake.udpAnswers = { id, q, _ in [Self.aAnswer(id, q, [1], truncated: true)] }
        fake.tcpAnswer = { id, q in Self.aAnswer(id, q, [1, 2, 3]) }
        let resolver = Self.resolver(fake, clock: NIOLockedValueBox(0))
        #expect(try Self.value(resolver.lookup(DNSQuestion("big.test", .a))).records.count == 3)
        #expect(fake.sent.map(\.tcp) == [false, true])
    }

    @Test("answers come from the cache until their TTL passes (injected clock)")
    func cache() throws {
        let fake = FakeDNSExchange()
        fake.udpAnswers = { id, q, _ in [Self.aAnswer(id, q, [22])] }
        let clock = NIOLockedValueBox<Int64>(0)
        let resolver = Self.resolver(fake, clock: clock)
        let q = DNSQuestion("sip1.lab-b.test", .a)
        _ = try Self.value(resolver.lookup(q))
        clock.withLockedValue { $0 = 59 }
        _ = try Self.value(resolver.lookup(q))
        #expect(fake.sent.count == 1)
        clock.withLockedValue { $0 = 60 }
        _ = try Self.value(resolver.lookup(q))
        #expect(fake.sent.count == 2)
    }

    @Test("the locator runs to its targets: NAPTR none, SRV, then A")
    func locate() throws {
        let fake = FakeDNSExchange()
        fake.udpAnswers = { id, q, _ in
            var b = DNSAnswerBuilder()
            switch (q.name, q.type) {
            case ("_sip._udp.lab-b.test", .srv):
                return [DNSFixtures.srvAnswer(id: Int(id))]
            case ("sip1.lab-b.test", .a):
                return [Self.aAnswer(id, q, [22])]
            case ("sip2.lab-b.test", .a):
                return [Self.aAnswer(id, q, [23])]
            default:
                b.header(id: Int(id), rcode: 3, counts: [1, 0, 1, 0])
                b.question(q.name, q.type)
                b.soa("lab-b.test", ttl: 60, minimum: 60)
                return [b.bytes]
            }
        }
        let resolver = Self.resolver(fake, clock: NIOLockedValueBox(0))
        let locator = SIPServerLocator(
            host: "lab-b.test", port: nil, transport: nil, secure: false, supported: [.udp, .tcp], families: [.a],
            random: { _ in 0 }
        )
        let found = NIOLockedValueBox<[SIPServerLocator.Target]?>(nil)
        resolver.locate(locator).whenSuccess { result in found.withLockedValue { $0 = result.targets } }
        #expect(found.withLockedValue { $0 }?.map(\.description) == ["udp:sip1.lab-b.test(127.0.0.22):5070", "udp:sip2.lab-b.test(127.0.0.23):5080"])
        #expect(fake.sent.map(\.question.description) == [
            "lab-b.test NAPTR", "_sip._udp.lab-b.test SRV", "_sip._tcp.lab-b.test SRV",
            "sip1.lab-b.test A", "sip2.lab-b.test A",
        ])
    }
}
