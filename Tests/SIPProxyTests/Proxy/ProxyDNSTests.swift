// The proxy core routing to another domain (RFC 3263) in one process: the resolver answers from a fake DNS
// exchange, the clock is moved by hand. The INVITE goes to the first SRV target; a silent target is left after the
// failover timeout, a 503 at once; strangers are refused before any lookup.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("Proxy engine: other domains by DNS (RFC 3263)")
struct ProxyDNSTests {
    let dns = FakeDNSExchange()
    let alice = SimulatedPhone("alice", ip: "127.0.0.11")
    let sip1 = SimulatedPhone("proxy", ip: "127.0.0.22", port: 5070)
    let sip2 = SimulatedPhone("proxy", ip: "127.0.0.23", port: 5080)

    init() {
        // lab-b.test: no NAPTR; _sip._udp SRV to sip1 (priority 10) and sip2 (20); their A records.
        self.dns.udpAnswers = { id, q, _ in
            switch (q.name, q.type) {
            case ("_sip._udp.lab-b.test", .srv):
                return [DNSFixtures.srvAnswer(id: Int(id))]
            case ("sip1.lab-b.test", .a):
                return [DNSResolverTests.aAnswer(id, q, [22])]
            case ("sip2.lab-b.test", .a):
                return [DNSResolverTests.aAnswer(id, q, [23])]
            default:
                var b = DNSAnswerBuilder()
                b.header(id: Int(id), rcode: 3, counts: [1, 0, 0, 0])
                b.question(q.name, q.type)
                return [b.bytes]
            }
        }
    }

    func harness(failover: TimeAmount = .seconds(5)) -> EngineHarness {
        EngineHarness(dns: self.dns) { configuration in
            configuration.domains = ["lab-a.test"]
            configuration.dns.servers = [try! SocketAddress(ipAddress: "127.0.0.53", port: 53)]
            configuration.dns.failoverTimeout = failover
        }
    }

    func call(_ net: EngineHarness, callID: String) -> String {
        self.alice.request(
            "INVITE", uri: "sip:bob@lab-b.test", to: "<sip:bob@lab-b.test>", callID: callID, cseq: 1,
            branch: "z9hG4bK-\(callID)", extra: ["Contact: \(self.alice.contact)"]
        )
    }

    func invites(at phone: SimulatedPhone, _ net: EngineHarness) -> [SIPRequest] {
        net.received(by: phone).compactMap(\.request).filter { $0.method == .invite }
    }

    @Test("an INVITE for another domain goes to the first SRV target, Request-URI unchanged")
    func firstTarget() throws {
        let net = self.harness()
        net.deliver(self.alice.register(), from: self.alice)
        _ = net.received(by: self.alice)
        net.deliver(self.call(net, callID: "dns-1"), from: self.alice)
        #expect(net.received(by: self.alice).compactMap(\.status) == [100], "one 100 Trying, not two")
        let invite = try #require(self.invites(at: self.sip1, net).first)
        #expect(invite.uri.description == "sip:bob@lab-b.test")
        #expect(invite.headers.values("via").count == 2)
        #expect(self.invites(at: self.sip2, net).isEmpty)
        #expect(self.dns.sent.map(\.question.description) == [
            "lab-b.test NAPTR", "_sip._udp.lab-b.test SRV", "_sip._tcp.lab-b.test SRV",
            "sip1.lab-b.test A", "sip2.lab-b.test A",
        ], "RFC 3263 §4.1; A only, the proxy has no IPv6 listener")
        net.deliver(self.sip1.respond(to: invite, 200, "OK", tag: "b"), from: self.sip1)
        #expect(net.received(by: self.alice).compactMap(\.status) == [200])
    }

    @Test("a silent first target: after the failover timeout (not Timer B) the second gets the INVITE")
    func failoverOnTimeout() throws {
        let net = self.harness(failover: .seconds(2))
        net.deliver(self.alice.register(), from: self.alice)
        _ = net.received(by: self.alice)
        net.deliver(self.call(net, callID: "dns-2"), from: self.alice)
        #expect(!self.invites(at: self.sip1, net).isEmpty)
        net.advance(by: .milliseconds(1900))
        #expect(self.invites(at: self.sip2, net).isEmpty, "not before the timeout")
        _ = self.invites(at: self.sip1, net)
        net.advance(by: .milliseconds(200))
        let second = try #require(self.invites(at: self.sip2, net).first)
        net.advance(by: .seconds(3))
        #expect(self.invites(at: self.sip1, net).isEmpty, "the abandoned target gets no more retransmissions")
        net.deliver(self.sip2.respond(to: second, 180, "Ringing", tag: "b"), from: self.sip2)
        net.deliver(self.sip2.respond(to: second, 200, "OK", tag: "b"), from: self.sip2)
        #expect(net.received(by: self.alice).compactMap(\.status).filter { $0 > 100 } == [180, 200])
    }

    @Test("a 503 from the first target moves on at once; a provisional response stops the failover timer")
    func failoverOn503() throws {
        let net = self.harness(failover: .seconds(2))
        net.deliver(self.alice.register(), from: self.alice)
        net.deliver(self.call(net, callID: "dns-3"), from: self.alice)
        let first = try #require(self.invites(at: self.sip1, net).first)
        net.deliver(self.sip1.respond(to: first, 503, "Service Unavailable", tag: "x"), from: self.sip1)
        #expect(net.received(by: self.sip1).compactMap(\.request).map(\.method) == [.ack], "the 503 is acknowledged")
        let second = try #require(self.invites(at: self.sip2, net).first)
        #expect(!net.received(by: self.alice).compactMap(\.status).contains(503), "the caller never sees the 503")
        net.deliver(self.sip2.respond(to: second, 180, "Ringing", tag: "b"), from: self.sip2)
        net.advance(by: .seconds(3))
        net.deliver(self.sip2.respond(to: second, 486, "Busy Here", tag: "b"), from: self.sip2)
        #expect(net.received(by: self.alice).compactMap(\.status).filter { $0 > 100 } == [180, 486])
    }

    @Test("a send error to the first target (connection refused) moves on at once, without waiting")
    func failoverOnTransportError() throws {
        let net = self.harness(failover: .seconds(2))
        net.transport.refusing = [self.sip1.address]
        net.deliver(self.alice.register(), from: self.alice)
        _ = net.received(by: self.alice)
        net.deliver(self.call(net, callID: "dns-7"), from: self.alice)
        let second = try #require(self.invites(at: self.sip2, net).first, "no timer needed: the error comes back")
        net.deliver(self.sip2.respond(to: second, 200, "OK", tag: "b"), from: self.sip2)
        #expect(net.received(by: self.alice).compactMap(\.status) == [100, 200])
    }

    @Test("CANCEL while the lookup is out: 487 at once, and nothing is sent when the answer comes")
    func cancelDuringLookup() throws {
        let net = self.harness()
        net.deliver(self.alice.register(), from: self.alice)
        _ = net.received(by: self.alice)
        self.dns.hold = true
        net.deliver(self.call(net, callID: "dns-8"), from: self.alice)
        #expect(net.received(by: self.alice).compactMap(\.status) == [100], "100 Trying while DNS works")
        let cancel = self.alice.request(
            "CANCEL", uri: "sip:bob@lab-b.test", to: "<sip:bob@lab-b.test>", callID: "dns-8", cseq: 1,
            branch: "z9hG4bK-dns-8"
        )
        net.deliver(cancel, from: self.alice)
        #expect(net.received(by: self.alice).compactMap(\.status).sorted() == [200, 487])
        self.dns.release()
        net.advance(by: .milliseconds(100))
        #expect(self.invites(at: self.sip1, net).isEmpty && self.invites(at: self.sip2, net).isEmpty)
    }

    @Test("a 2xx ACK whose next hop is a domain name is sent statelessly once the lookup is done")
    func statelessACK() throws {
        let net = self.harness()
        net.deliver(self.alice.register(), from: self.alice)
        _ = net.received(by: self.alice)
        net.deliver(self.alice.inDialog("ACK", target: "sip:bob@lab-b.test", routes: [], callID: "dns-9", toTag: "b",
                                        cseq: 1, to: "<sip:bob@lab-b.test>"), from: self.alice)
        let ack = try #require(net.received(by: self.sip1).compactMap(\.request).first)
        #expect(ack.method == .ack && ack.uri.description == "sip:bob@lab-b.test")
        #expect(ack.headers.values("via").count == 2 && ack.maxForwards == 69)
    }

    @Test("a domain with no SIP records: 404; our own domain is a local user, not a lookup")
    func noRecordsAndOwnDomain() throws {
        let net = self.harness()
        net.deliver(self.alice.register(), from: self.alice)
        _ = net.received(by: self.alice)
        let nowhere = self.alice.request(
            "INVITE", uri: "sip:bob@nowhere.test", to: "<sip:bob@nowhere.test>", callID: "dns-4", cseq: 1,
            branch: "z9hG4bK-dns-4", extra: ["Contact: \(self.alice.contact)"]
        )
        net.deliver(nowhere, from: self.alice)
        #expect(net.received(by: self.alice).compactMap(\.status) == [100, 404])
        let sent = self.dns.sent.count
        let own = self.alice.request(
            "INVITE", uri: "sip:carol@lab-a.test", to: "<sip:carol@lab-a.test>", callID: "dns-5", cseq: 1,
            branch: "z9hG4bK-dns-5", extra: ["Contact: \(self.alice.contact)"]
        )
        net.deliver(own, from: self.alice)
        #expect(net.received(by: self.alice).compactMap(\.status) == [404], "carol is unknown at lab-a.test")
        #expect(self.dns.sent.count == sent, "no DNS for the proxy's own domain")
    }

    @Test("a stranger's request for another domain: 403 and no lookup (no open relay, no DNS on demand)")
    func strangerRefused() {
        let net = self.harness()
        let mallory = SimulatedPhone("mallory", ip: "127.0.0.66")
        net.deliver(mallory.request("INVITE", uri: "sip:bob@lab-b.test", to: "<sip:bob@lab-b.test>", callID: "dns-6",
                                    cseq: 1, branch: "z9hG4bK-dns-6"), from: mallory)
        #expect(net.received(by: mallory).compactMap(\.status) == [403])
        #expect(self.dns.sent.isEmpty)
    }
}
