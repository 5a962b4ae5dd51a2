import Foundation
import Testing

/// Basic call flows through the proxy, each over UDP and over TCP (caller and callee
/// both use the transport): answer + BYE either way, CANCEL, rejections, re-INVITE.
@Suite("Calls through the proxy", .serialized)
struct SIPpCallTests {
    /// Registers bob, starts bob's UAS scenario, runs alice's UAC scenario, returns both results.
    private func call(
        _ bed: TestBed, transport: SIPTransport,
        calleeTransport: SIPTransport? = nil,
        caller: String, callee: String,
        callerSets: [String: String] = [:]
    ) async throws -> (alice: SIPpResult, bob: SIPpResult) {
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let bob = Phone("bob", ip: "127.0.0.12", transport: calleeTransport ?? transport)
        try await bed.register(bob)
        let uas = try await bed.startUAS(callee, as: bob)
        let a = try await bed.run(caller, as: alice, service: "bob", sets: callerSets)
        let b = await uas.wait()
        return (a, b)
    }

    @Test("answered call, caller hangs up", arguments: SIPTransport.allCases)
    func answeredCallerHangsUp(transport: SIPTransport) async throws {
        let bed = try await TestBed("call-bye-\(transport)")
        defer { bed.shutdown() }
        let (a, b) = try await call(bed, transport: transport, caller: "uac-call-bye.xml", callee: "uas-answer.xml")
        #expect(a.passed, "caller failed\n\(bed.diagnostics(a, b))")
        #expect(b.passed, "callee failed\n\(bed.diagnostics(a, b))")
        #expect(!a.receivedResponses(100).isEmpty, "caller got no 100 Trying\n\(bed.diagnostics(a, b))")
        let invite = try #require(b.receivedRequests("INVITE").first, "callee saw no INVITE\n\(bed.diagnostics(a, b))")
        #expect(bed.hasProxyRecordRoute(invite, transport: transport),
                "INVITE lacks the proxy's Record-Route\n\(invite)\n\(bed.diagnostics(a, b))")
        if let ok = a.receivedResponses(200).first {
            #expect(bed.hasProxyRecordRoute(ok, transport: transport),
                    "200 OK at the caller lacks the Record-Route\n\(bed.diagnostics(a, b))")
        }
        #expect(headers("Max-Forwards", in: invite) == ["69"], "Max-Forwards not decremented once\n\(invite)")
        #expect(headers("Via", in: invite).flatMap { $0.split(separator: ",") }.count == 2,
                "callee should see the proxy's Via on top of the caller's\n\(invite)")
        if let ok = a.receivedResponses(200).first {
            #expect(headers("Via", in: ok).flatMap { $0.split(separator: ",") }.count == 1,
                    "the proxy must remove its Via from responses\n\(ok)")
        }
        if let trying = a.receivedResponses(100).first {
            #expect(headers("To", in: trying).first?.contains("tag=") != true, "100 Trying must not carry a To tag\n\(trying)")
        }
        #expect(b.receivedRequests("ACK").count >= 1, "callee saw no ACK\n\(bed.diagnostics(a, b))")
        let bye = try #require(b.receivedRequests("BYE").first, "callee saw no BYE\n\(bed.diagnostics(a, b))")
        // Loose routing: the proxy consumed its own Route entry before forwarding.
        #expect(!headers("Route", in: bye).contains { $0.contains(bed.proxy.hostPort) },
                "BYE still routes via the proxy\n\(bye)")
    }

    @Test("answered call, callee hangs up", arguments: SIPTransport.allCases)
    func answeredCalleeHangsUp(transport: SIPTransport) async throws {
        let bed = try await TestBed("call-calleebye-\(transport)")
        defer { bed.shutdown() }
        let (a, b) = try await call(bed, transport: transport, caller: "uac-wait-bye.xml", callee: "uas-answer-then-bye.xml")
        #expect(a.passed, "caller failed\n\(bed.diagnostics(a, b))")
        #expect(b.passed, "callee failed\n\(bed.diagnostics(a, b))")
        #expect(a.receivedRequests("BYE").count >= 1, "caller saw no BYE\n\(bed.diagnostics(a, b))")
        if let bye = b.sentRequests("BYE").first {
            #expect(headers("Route", in: bye).contains { $0.contains(bed.proxy.hostPort) },
                    "callee's BYE should carry the route set\n\(bye)")
        }
    }

    @Test("CANCEL while ringing: 200 for CANCEL, 487 for INVITE, ACK", arguments: SIPTransport.allCases)
    func cancelWhileRinging(transport: SIPTransport) async throws {
        let bed = try await TestBed("cancel-\(transport)")
        defer { bed.shutdown() }
        let (a, b) = try await call(bed, transport: transport, caller: "uac-cancel.xml", callee: "uas-ring-cancel.xml")
        #expect(a.passed, "caller failed\n\(bed.diagnostics(a, b))")
        #expect(b.passed, "callee failed\n\(bed.diagnostics(a, b))")
        #expect(b.receivedRequests("CANCEL").count >= 1, "callee saw no CANCEL\n\(bed.diagnostics(a, b))")
        #expect(a.receivedResponses(487).count >= 1, "caller got no 487\n\(bed.diagnostics(a, b))")
        #expect(b.receivedRequests("ACK").count >= 1, "callee got no ACK for its 487\n\(bed.diagnostics(a, b))")
        // RFC 3261 9.1 / 16.10: the CANCEL (and the ACK for the 487) the proxy sends match its INVITE:
        // same Request-URI, top Via branch, Call-ID, CSeq number.
        if let invite = b.receivedRequests("INVITE").first, let cancel = b.receivedRequests("CANCEL").first {
            func topBranch(_ m: String) -> String? {
                headers("Via", in: m).first?.split(separator: ",").first?.split(separator: ";")
                    .first { $0.hasPrefix("branch=") }.map(String.init)
            }
            #expect(invite.split(separator: " ").dropFirst().first == cancel.split(separator: " ").dropFirst().first,
                    "CANCEL Request-URI differs from the INVITE's\n\(invite)\n\(cancel)")
            #expect(topBranch(invite) != nil && topBranch(invite) == topBranch(cancel),
                    "CANCEL branch differs from the INVITE's\n\(invite)\n\(cancel)")
            #expect(headers("CSeq", in: cancel).first == headers("CSeq", in: invite).first?.replacingOccurrences(of: "INVITE", with: "CANCEL"),
                    "CANCEL CSeq\n\(cancel)")
            if let ack = b.receivedRequests("ACK").first {
                #expect(topBranch(ack) == topBranch(invite), "ACK for 487 must reuse the INVITE branch\n\(ack)")
            }
        }
        if let final = a.receivedResponses(487).first {
            #expect(headers("To", in: final).first?.contains("tag=") == true, "487 needs a To tag\n\(final)")
        }
    }

    @Test("CANCEL before the callee's first provisional: the proxy holds it until the 180 (RFC 3261 9.1)",
          arguments: SIPTransport.allCases)
    func cancelBeforeProvisional(transport: SIPTransport) async throws {
        let bed = try await TestBed("cancel-early-\(transport)")
        defer { bed.shutdown() }
        let (a, b) = try await call(bed, transport: transport, caller: "uac-cancel-early.xml", callee: "uas-slow-ring-cancel.xml")
        #expect(a.passed, "caller should get 200 for CANCEL and 487\n\(bed.diagnostics(a, b))")
        #expect(b.passed, "callee got the CANCEL before sending its 180, or no CANCEL at all\n\(bed.diagnostics(a, b))")
        #expect(b.receivedRequests("CANCEL").count >= 1, "callee saw no CANCEL\n\(bed.diagnostics(a, b))")
    }

    @Test("callee rejects: the final code reaches the caller",
          arguments: [("uas-busy.xml", 486), ("uas-decline.xml", 603)], SIPTransport.allCases)
    func rejected(rejection: (callee: String, code: Int), transport: SIPTransport) async throws {
        let (callee, code) = rejection
        let bed = try await TestBed("reject-\(code)-\(transport)")
        defer { bed.shutdown() }
        let (a, b) = try await call(bed, transport: transport, caller: "uac-expect-final.xml", callee: callee,
                                    callerSets: ["code": String(code)])
        #expect(a.passed, "caller did not get \(code)\n\(bed.diagnostics(a, b))")
        #expect(b.passed, "callee failed (no ACK for \(code)?)\n\(bed.diagnostics(a, b))")
        #expect(a.receivedResponses(code).count >= 1, "\(bed.diagnostics(a, b))")
    }

    @Test("re-INVITE adds video to an established call", arguments: SIPTransport.allCases)
    func reinviteVideo(transport: SIPTransport) async throws {
        let bed = try await TestBed("reinvite-\(transport)")
        defer { bed.shutdown() }
        let (a, b) = try await call(bed, transport: transport, caller: "uac-reinvite-video.xml", callee: "uas-answer-reinvite.xml")
        #expect(a.passed, "caller failed\n\(bed.diagnostics(a, b))")
        #expect(b.passed, "callee failed\n\(bed.diagnostics(a, b))")
        let invites = b.receivedRequests("INVITE")
        #expect(invites.count == 2, "callee should see INVITE and re-INVITE\n\(bed.diagnostics(a, b))")
        #expect(invites.last?.contains("m=video") == true, "re-INVITE lost its video offer\n\(bed.diagnostics(a, b))")
    }

    @Test("mixed transports: caller and callee on different transports, BYE both ways",
          arguments: [(SIPTransport.tcp, SIPTransport.udp), (.udp, .tcp)])
    func mixedTransports(transports: (caller: SIPTransport, callee: SIPTransport)) async throws {
        let bed = try await TestBed("mixed-\(transports.caller)-\(transports.callee)")
        defer { bed.shutdown() }
        let (a, b) = try await call(bed, transport: transports.caller, calleeTransport: transports.callee,
                                    caller: "uac-call-bye.xml", callee: "uas-answer.xml")
        #expect(a.passed, "caller (\(transports.caller))\n\(bed.diagnostics(a, b))")
        #expect(b.passed, "callee (\(transports.callee))\n\(bed.diagnostics(a, b))")
        let bed2 = try await TestBed("mixed2-\(transports.caller)-\(transports.callee)")
        defer { bed2.shutdown() }
        let (a2, b2) = try await call(bed2, transport: transports.caller, calleeTransport: transports.callee,
                                      caller: "uac-wait-bye.xml", callee: "uas-answer-then-bye.xml")
        #expect(a2.passed, "caller (\(transports.caller)), callee hangs up\n\(bed2.diagnostics(a2, b2))")
        #expect(b2.passed, "callee (\(transports.callee)) hangs up\n\(bed2.diagnostics(a2, b2))")
    }

    @Test("a phone is reached over the flow it registered from (TCP connection / UDP source), not via its Contact port",
          arguments: SIPTransport.allCases)
    func flowReuse(transport: SIPTransport) async throws {
        let bed = try await TestBed("flow-\(transport)")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: transport)
        // One SIPp: REGISTER over its own TCP connection, stay 4 s; the INVITE (new Call-ID)
        // is handled by the out-of-call scenario uas-answer.xml on that same connection.
        // The Contact names a port nobody listens on (as behind a NAT): only the flow works.
        let deadPort = PortAllocator.block(on: bob.ip)
        let phone = try bed.start("register-hold.xml", as: bob, client: true,
                                  keys: ["expires": "300", "contactport": String(deadPort)],
                                  extraArguments: ["-oocsf", TestEnvironment.scenario("uas-answer.xml")])
        let registered = await waitUntil(timeout: .seconds(5)) { readText(phone.messageURL).contains("SIP/2.0 200 OK") }
        #expect(registered, "bob's REGISTER got no 200")
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let a = try await bed.run("uac-call-bye.xml", as: alice, service: "bob")
        let b = await phone.wait()
        #expect(a.passed, "caller\n\(bed.diagnostics(a, b))")
        #expect(b.passed, "bob (register + out-of-call UAS)\n\(bed.diagnostics(a, b))")
        #expect(b.receivedRequests("INVITE").count == 1, "INVITE did not come over bob's registration connection\n\(bed.diagnostics(a, b))")
        #expect(b.receivedRequests("BYE").count == 1, "\(bed.diagnostics(a, b))")
    }
}
