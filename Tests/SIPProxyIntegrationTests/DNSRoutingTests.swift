import Foundation
import Testing

/// Requests for another domain routed by DNS (RFC 3263): two proxies serving lab-a.test and lab-b.test, a dnsmasq
/// with their records, SIPp phones on each side. alice (registered at lab-a) calls sip:bob@lab-b.test; lab-a finds
/// lab-b through SRV (and NAPTR), and fails over to the next SRV target when the first is dead.
@Suite("Other domains by DNS (RFC 3263)", .serialized)
struct DNSRoutingTests {
    /// Everything one test runs: dnsmasq, the two proxies, the phones' SIPp processes. `shutdown()` stops all.
    final class TwoLabs {
        let dns: DnsmasqProcess
        let labA: ProxyProcess
        let labB: ProxyProcess
        let directory: URL
        private var sipps: [SIPpProcess] = []
        private var counter = 0

        /// lab-b listens on 127.0.0.42:`labBPort`; `records(labBPort)` are dnsmasq's records for that port.
        convenience init(_ label: String, labAArguments: [String] = [], records: (Int) -> [String]) async throws {
            try await self.init(label, labAArguments: labAArguments) { _, labBPort in records(labBPort) }
        }

        /// lab-a listens on 127.0.0.41:`labAPort` and lab-b on 127.0.0.42:`labBPort`; `records(labAPort, labBPort)`
        /// are dnsmasq's records.
        init(_ label: String, labAArguments: [String] = [], records: (Int, Int) -> [String]) async throws {
            _ = try TestEnvironment.requireSIPp()
            self.directory = try TestEnvironment.makeTemporaryDirectory("dns-\(label)")
            let labAPort = PortAllocator.block(on: "127.0.0.41")
            let labBPort = PortAllocator.block(on: "127.0.0.42")
            self.dns = try await DnsmasqProcess.start(
                ip: "127.0.0.40", records: records(labAPort, labBPort), directory: directory
            )
            do {
                self.labB = try await ProxyProcess.start(
                    ip: "127.0.0.42", port: labBPort, label: "\(label)-lab-b",
                    extraArguments: ["--domain", "lab-b.test", "--dns", dns.server]
                )
            } catch {
                dns.stop()
                throw error
            }
            do {
                self.labA = try await ProxyProcess.start(
                    ip: "127.0.0.41", port: labAPort, label: "\(label)-lab-a",
                    extraArguments: ["--domain", "lab-a.test", "--dns", dns.server] + labAArguments
                )
            } catch {
                labB.stop()
                dns.stop()
                throw error
            }
        }

        func sipp(_ scenario: String, as phone: Phone, to proxy: ProxyProcess?, service: String? = nil,
                  keys: [String: String] = [:], timeout: Int = 20) throws -> SIPpProcess {
            counter += 1
            let name = "\(counter)-\(phone.user)-\(scenario.replacingOccurrences(of: ".xml", with: ""))"
            let p = try SIPpProcess(
                name: name, scenario: scenario, phone: phone, remote: proxy?.hostPort, directory: directory,
                service: service, keys: ["user": phone.user].merging(keys) { _, new in new }, timeout: timeout
            )
            sipps.append(p)
            return p
        }

        func register(_ phone: Phone, at proxy: ProxyProcess) async throws {
            let r = try await sipp("register.xml", as: phone, to: proxy, keys: ["expires": "300"]).wait()
            #expect(r.passed, "REGISTER of \(phone.user) at \(proxy.hostPort)\n\(r)\n\(proxy.logTail())")
        }

        func diagnostics(_ results: SIPpResult...) -> String {
            results.map(\.description).joined(separator: "\n\n")
                + "\n\n--- lab-a ---\n\(labA.logTail(60))\n--- lab-b ---\n\(labB.logTail(40))\n--- dnsmasq ---\n\(dns.log)"
        }

        func shutdown() {
            for p in sipps { p.terminate() }
            labA.stop()
            labB.stop()
            dns.stop()
            if sipps.allSatisfy({ $0.lastResult?.passed == true || $0.stoppedByTest }) {
                try? FileManager.default.removeItem(at: directory)
                labA.stopAndRemoveDirectory()
                labB.stopAndRemoveDirectory()
            }
        }
    }

    /// alice at lab-a calls bob at lab-b: both phones see the whole call (INVITE, 200, ACK, BYE, 200).
    static func call(_ labs: TwoLabs) async throws -> (caller: SIPpResult, callee: SIPpResult, seconds: Double) {
        let bob = Phone("bob", ip: "127.0.0.43")
        try await labs.register(bob, at: labs.labB)
        let uas = try labs.sipp("uas-answer.xml", as: bob, to: nil)
        #expect(await uas.waitListening(), "bob's UAS did not start")
        let alice = Phone("alice", ip: "127.0.0.44")
        try await labs.register(alice, at: labs.labA)
        let started = Date()
        let caller = try await labs.sipp("uac-call-domain.xml", as: alice, to: labs.labA, service: "bob",
                                         keys: ["domain": "lab-b.test"]).wait()
        let seconds = Date().timeIntervalSince(started)
        let callee = await uas.wait()
        return (caller, callee, seconds)
    }

    @Test("sip:bob@lab-b.test from a phone on lab-a reaches bob through DNS SRV: 200, ACK and BYE end to end")
    func callThroughSRV() async throws {
        let labs = try await TwoLabs("srv") { port in
            ["--srv-host=_sip._udp.lab-b.test,sip.lab-b.test,\(port),10,0", "--host-record=sip.lab-b.test,127.0.0.42"]
        }
        defer { labs.shutdown() }
        let (caller, callee, _) = try await Self.call(labs)
        #expect(caller.passed, "caller\n\(labs.diagnostics(caller, callee))")
        #expect(callee.passed, "callee\n\(labs.diagnostics(caller, callee))")
        #expect(caller.receivedResponses(200).count >= 2, "200 to the INVITE and to the BYE\n\(labs.diagnostics(caller, callee))")
        #expect(callee.receivedRequests("ACK").count == 1 && callee.receivedRequests("BYE").count == 1,
                "bob gets the ACK and the BYE\n\(labs.diagnostics(caller, callee))")
        // The INVITE bob got went through both proxies (two Vias besides alice's) ...
        let invite = callee.receivedRequests("INVITE").first ?? ""
        let vias = headers("Via", in: invite).flatMap { $0.split(separator: ",") }
        #expect(vias.contains { $0.contains(labs.labA.hostPort) } && vias.contains { $0.contains(labs.labB.hostPort) },
                "\(invite)")
        // ... and lab-a says where DNS sent it: the SRV target with its address and port.
        let logA = readText(labs.labA.stderrURL)
        #expect(logA.contains("dns: lab-b.test -> udp:sip.lab-b.test(127.0.0.42):\(labs.labB.port)"),
                "lab-a's log names the SRV target\n\(labs.diagnostics(caller, callee))")
        #expect(labs.dns.log.contains("query[SRV] _sip._udp.lab-b.test"), "\(labs.dns.log)")
        // lab-a's trace holds the INVITE to that address.
        let traces = try FileManager.default.contentsOfDirectory(
            at: labs.labA.workDirectory.appendingPathComponent("traces"), includingPropertiesForKeys: nil
        ).filter { $0.pathExtension == "pcap" }
        let found = await waitUntil(timeout: .seconds(5)) {
            traces.contains { file in
                let bytes = (try? Data(contentsOf: file)) ?? Data()
                return bytes.range(of: Data("INVITE sip:bob@lab-b.test SIP/2.0".utf8)) != nil
            }
        }
        #expect(found, "lab-a's trace has the INVITE for sip:bob@lab-b.test")
    }

    @Test("both ways: alice at lab-a calls bob@lab-b.test, then dave at lab-b calls carol@lab-a.test, each through SRV")
    func bothWays() async throws {
        let labs = try await TwoLabs("both-ways") { portA, portB in
            [
                "--srv-host=_sip._udp.lab-a.test,sip.lab-a.test,\(portA),10,0", "--host-record=sip.lab-a.test,127.0.0.41",
                "--srv-host=_sip._udp.lab-b.test,sip.lab-b.test,\(portB),10,0", "--host-record=sip.lab-b.test,127.0.0.42",
            ]
        }
        defer { labs.shutdown() }
        let (caller, callee, _) = try await Self.call(labs)
        #expect(caller.passed && callee.passed, "lab-a -> lab-b\n\(labs.diagnostics(caller, callee))")

        // The other way: carol registered at lab-a, dave registered at lab-b calls sip:carol@lab-a.test.
        let carol = Phone("carol", ip: "127.0.0.47")
        try await labs.register(carol, at: labs.labA)
        let uas = try labs.sipp("uas-answer.xml", as: carol, to: nil)
        #expect(await uas.waitListening(), "carol's UAS did not start")
        let dave = Phone("dave", ip: "127.0.0.48")
        try await labs.register(dave, at: labs.labB)
        let back = try await labs.sipp("uac-call-domain.xml", as: dave, to: labs.labB, service: "carol",
                                       keys: ["domain": "lab-a.test"]).wait()
        let answered = await uas.wait()
        #expect(back.passed && answered.passed, "lab-b -> lab-a\n\(labs.diagnostics(back, answered))")
        let invite = answered.receivedRequests("INVITE").first ?? ""
        let vias = headers("Via", in: invite).flatMap { $0.split(separator: ",") }
        #expect(vias.first?.contains(labs.labA.hostPort) == true && vias.contains { $0.contains(labs.labB.hostPort) },
                "carol's INVITE came from lab-b through lab-a\n\(invite)")
        let logB = readText(labs.labB.stderrURL)
        #expect(logB.contains("dns: lab-a.test -> udp:sip.lab-a.test(127.0.0.41):\(labs.labA.port)"),
                "lab-b's log names lab-a's SRV target\n\(labs.diagnostics(back, answered))")
        #expect(labs.dns.log.contains("query[SRV] _sip._udp.lab-a.test"), "\(labs.dns.log)")
    }

    @Test("the first SRV target (priority 10) is dead: after --dns-failover-timeout the second is used, the call connects")
    func failoverToSecondTarget() async throws {
        // The first target is an address and port nothing listens on: UDP to it is silently lost.
        let deadPort = PortAllocator.block(on: "127.0.0.45")
        let labs = try await TwoLabs("failover", labAArguments: ["--dns-failover-timeout", "1s"]) { port in
            [
                "--naptr-record=lab-b.test,10,50,S,SIP+D2U,,_sip._udp.lab-b.test",
                "--srv-host=_sip._udp.lab-b.test,dead.lab-b.test,\(deadPort),10,0",
                "--srv-host=_sip._udp.lab-b.test,sip.lab-b.test,\(port),20,0",
                "--host-record=dead.lab-b.test,127.0.0.45",
                "--host-record=sip.lab-b.test,127.0.0.42",
            ]
        }
        defer { labs.shutdown() }
        let (caller, callee, seconds) = try await Self.call(labs)
        #expect(caller.passed, "caller\n\(labs.diagnostics(caller, callee))")
        #expect(callee.passed, "callee\n\(labs.diagnostics(caller, callee))")
        #expect(seconds < 10, "the call connected after \(seconds) s (failover 1 s, Timer B would be 32 s)")
        let logA = readText(labs.labA.stderrURL)
        #expect(logA.contains("dns: lab-b.test -> udp:dead.lab-b.test(127.0.0.45):\(deadPort), udp:sip.lab-b.test(127.0.0.42):\(labs.labB.port)"),
                "NAPTR then SRV by priority\n\(labs.diagnostics(caller, callee))")
        #expect(logA.contains("dns failover: udp:127.0.0.45:\(deadPort) failed (no response in 1000 ms), trying udp:127.0.0.42:\(labs.labB.port)"),
                "\(labs.diagnostics(caller, callee))")
        #expect(labs.dns.log.contains("query[NAPTR] lab-b.test"), "\(labs.dns.log)")
    }

    @Test("an SRV answer too large for UDP (TC) is asked again over TCP, and the call still goes to priority 10")
    func truncatedAnswerOverTCP() async throws {
        let labs = try await TwoLabs("tcp-dns") { port in
            // 16 SRV records with long targets: well over the 512 octets of a UDP answer without EDNS.
            (1...15).map { n in
                "--srv-host=_sip._udp.lab-b.test,a-long-target-name-for-the-answer-to-overflow-\(n).lab-b.test,5060,\(20 + n),0"
            } + ["--srv-host=_sip._udp.lab-b.test,sip.lab-b.test,\(port),10,0", "--host-record=sip.lab-b.test,127.0.0.42"]
        }
        defer { labs.shutdown() }
        let (caller, callee, _) = try await Self.call(labs)
        #expect(caller.passed && callee.passed, "\(labs.diagnostics(caller, callee))")
        let logA = readText(labs.labA.stderrURL)
        #expect(logA.contains("dns: answer to _sip._udp.lab-b.test SRV truncated (TC), asking \(labs.dns.server) over TCP"),
                "\(labs.diagnostics(caller, callee))")
        #expect(logA.contains("dns: lab-b.test -> udp:sip.lab-b.test(127.0.0.42):\(labs.labB.port)"),
                "priority 10 first\n\(labs.diagnostics(caller, callee))")
    }

    @Test("bob at lab-a forwards every call to sip:carol@lab-b.test: alice's call to bob reaches carol through DNS SRV")
    func forwardToAnotherDomain() async throws {
        let labs = try await TwoLabs("forward") { port in
            ["--srv-host=_sip._udp.lab-b.test,sip.lab-b.test,\(port),10,0", "--host-record=sip.lab-b.test,127.0.0.42"]
        }
        defer { labs.shutdown() }
        let carol = Phone("carol", ip: "127.0.0.43")
        try await labs.register(carol, at: labs.labB)
        let uas = try labs.sipp("uas-answer.xml", as: carol, to: nil)
        #expect(await uas.waitListening(), "carol's UAS did not start")
        let rule = try await sipctl(["forward", "set", "bob", "--always", "sip:carol@lab-b.test"], cwd: labs.labA.workDirectory)
        #expect(rule.succeeded, "\(rule)")
        let alice = Phone("alice", ip: "127.0.0.44")
        try await labs.register(alice, at: labs.labA)
        let caller = try await labs.sipp("uac-call-domain.xml", as: alice, to: labs.labA, service: "bob",
                                         keys: ["domain": "lab-a.test"]).wait()
        let callee = await uas.wait()
        #expect(caller.passed && callee.passed, "\(labs.diagnostics(caller, callee))")
        // carol's INVITE went through both proxies, was addressed to her at lab-b, and says why (Diversion).
        let invite = callee.receivedRequests("INVITE").first ?? ""
        let vias = headers("Via", in: invite).flatMap { $0.split(separator: ",") }
        #expect(vias.contains { $0.contains(labs.labA.hostPort) } && vias.contains { $0.contains(labs.labB.hostPort) },
                "\(invite)")
        #expect(headers("Diversion", in: invite).first?.contains("reason=unconditional") == true, "\(invite)")
        let logA = readText(labs.labA.stderrURL)
        #expect(logA.contains("dns: lab-b.test -> udp:sip.lab-b.test(127.0.0.42):\(labs.labB.port)"),
                "lab-a resolved the forward target\n\(labs.diagnostics(caller, callee))")
        #expect(logA.contains("forwarded to sip:carol@lab-b.test"), "\(labs.diagnostics(caller, callee))")

        // A forward to a domain with no records: the target is skipped and the caller gets 480 at once.
        let dead = try await sipctl(["forward", "set", "dave", "--always", "sip:dave@nowhere.test"], cwd: labs.labA.workDirectory)
        #expect(dead.succeeded, "\(dead)")
        let call = try labs.sipp("uac-call-domain.xml", as: alice, to: labs.labA, service: "dave",
                                 keys: ["domain": "lab-a.test"], timeout: 5)
        let r = await call.wait()
        call.stop()
        #expect(r.receivedResponses(480).count >= 1, "\(labs.diagnostics(r))")
        // The log line may be written just after the 480 went out: wait for it, bounded.
        let skipped = await waitUntil(timeout: .seconds(5)) {
            readText(labs.labA.stderrURL).contains("dns: no target for nowhere.test, forward to sip:dave@nowhere.test skipped")
        }
        #expect(skipped, "\(labs.diagnostics(r))")
    }

    @Test("a domain with no SIP records gets 404; a stranger cannot make the proxy look anything up (403)")
    func unknownDomainAndRelay() async throws {
        let labs = try await TwoLabs("nxdomain") { _ in [] }
        defer { labs.shutdown() }
        let alice = Phone("alice", ip: "127.0.0.44")
        try await labs.register(alice, at: labs.labA)
        // The call fails (the scenario expects a 200): what matters is the 404 from lab-a.
        let call = try labs.sipp("uac-call-domain.xml", as: alice, to: labs.labA, service: "bob",
                                 keys: ["domain": "nowhere.test"], timeout: 5)
        let r = await call.wait()
        call.stop()
        #expect(r.receivedResponses(404).count >= 1, "\(labs.diagnostics(r))")
        #expect(labs.dns.log.contains("nowhere.test is NXDOMAIN"), "\(labs.dns.log)")
        // A stranger (not registered at lab-a) calling another domain: refused before any DNS query.
        let before = labs.dns.log.components(separatedBy: "query[").count
        let mallory = Phone("mallory", ip: "127.0.0.46")
        let stranger = try labs.sipp("uac-call-domain.xml", as: mallory, to: labs.labA, service: "bob",
                                     keys: ["domain": "lab-b.test"], timeout: 5)
        let m = await stranger.wait()
        stranger.stop()
        #expect(m.receivedResponses(403).count >= 1, "\(labs.diagnostics(m))")
        #expect(labs.dns.log.components(separatedBy: "query[").count == before, "no DNS query for a stranger\n\(labs.dns.log)")
    }
}
