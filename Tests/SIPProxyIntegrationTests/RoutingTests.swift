import Foundation
import Testing

/// Proxy routing decisions and multi-party flows: unknown/unregistered users, hop limit,
/// forking, concurrent calls, transfer with REFER, retransmission absorption, shutdown.
@Suite("Proxy routing over SIPp", .serialized)
struct SIPpRoutingTests {
    @Test("INVITE to a user never seen gets 404", arguments: SIPTransport.allCases)
    func unknownUser(transport: SIPTransport) async throws {
        let bed = try await TestBed("404-\(transport)")
        defer { bed.shutdown() }
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let r = try await bed.run("uac-expect-final.xml", as: alice, service: "nobody", sets: ["code": "404"])
        #expect(r.passed, "\(bed.diagnostics(r))")
        #expect(r.receivedResponses(404).count >= 1, "\(bed.diagnostics(r))")
    }

    @Test("INVITE to a user whose binding was removed gets 480", arguments: SIPTransport.allCases)
    func unregisteredUser(transport: SIPTransport) async throws {
        let bed = try await TestBed("480-\(transport)")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: transport)
        try await bed.register(bob)
        let unreg = try await bed.run("register-remove.xml", as: bob)
        #expect(unreg.passed, "\(bed.diagnostics(unreg))")
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let r = try await bed.run("uac-expect-final.xml", as: alice, service: "bob", sets: ["code": "480"])
        #expect(r.passed, "expected 480 Temporarily Unavailable\n\(bed.diagnostics(r))")
    }

    @Test("Max-Forwards: 0 gets 483 (INVITE and OPTIONS), nothing reaches the callee", arguments: SIPTransport.allCases)
    func maxForwardsZero(transport: SIPTransport) async throws {
        let bed = try await TestBed("483-\(transport)")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: transport)
        try await bed.register(bob)
        // bob's UAS would fail on any INVITE: only uac-expect-final must complete.
        let uas = try await bed.startUAS("uas-busy.xml", as: bob, timeout: 3)
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let invite = try await bed.run("uac-expect-final.xml", as: alice, service: "bob",
                                       sets: ["code": "483", "maxfwd": "0"])
        #expect(invite.passed, "INVITE with Max-Forwards 0\n\(bed.diagnostics(invite))")
        let alice2 = Phone("alice", ip: "127.0.0.11", transport: transport)
        let options = try await bed.run("options-maxforwards0.xml", as: alice2, service: "bob")
        #expect(options.passed, "OPTIONS with Max-Forwards 0\n\(bed.diagnostics(options))")
        uas.stop()
        let b = await uas.wait()
        #expect(b.received.isEmpty, "the callee must not see requests with Max-Forwards 0\n\(b)")
    }

    @Test("forking: two contacts ring, one answers, the other is CANCELled (487)", arguments: SIPTransport.allCases)
    func forking(transport: SIPTransport) async throws {
        let bed = try await TestBed("fork-\(transport)")
        defer { bed.shutdown() }
        let bobDesk = Phone("bob", ip: "127.0.0.12", transport: transport)
        let bobMobile = Phone("bob", ip: "127.0.0.14", transport: transport)
        try await bed.register(bobDesk)
        try await bed.register(bobMobile)
        let answering = try await bed.startUAS("uas-answer-slow.xml", as: bobDesk)
        let ringing = try await bed.startUAS("uas-ring-cancel.xml", as: bobMobile)
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let a = try await bed.run("uac-call-bye.xml", as: alice, service: "bob")
        let desk = await answering.wait()
        let mobile = await ringing.wait()
        #expect(a.passed, "caller\n\(bed.diagnostics(a, desk, mobile))")
        #expect(desk.passed, "answering contact\n\(bed.diagnostics(a, desk, mobile))")
        #expect(mobile.passed, "other contact should get CANCEL, answer 487, get ACK\n\(bed.diagnostics(a, desk, mobile))")
        #expect(mobile.receivedRequests("CANCEL").count >= 1, "\(bed.diagnostics(a, desk, mobile))")
        #expect(a.receivedResponses(487).isEmpty, "the caller must not see the cancelled branch's 487\n\(bed.diagnostics(a, desk, mobile))")
        #expect(a.receivedResponses(200).count >= 1)
    }

    @Test("forking: a 603 from one contact cancels the still ringing one and reaches the caller (RFC 3261 16.7)",
          arguments: SIPTransport.allCases)
    func forkingDeclineCancelsOthers(transport: SIPTransport) async throws {
        let bed = try await TestBed("fork-decline-\(transport)")
        defer { bed.shutdown() }
        let bobDesk = Phone("bob", ip: "127.0.0.12", transport: transport)
        let bobMobile = Phone("bob", ip: "127.0.0.14", transport: transport)
        try await bed.register(bobDesk)
        try await bed.register(bobMobile)
        // (Two quick rejections would race: the CANCEL for a branch that already sent its
        // 486 is legal but a SIPp UAS scenario cannot expect it.)
        let ringing = try await bed.startUAS("uas-ring-cancel.xml", as: bobDesk)
        let decline = try await bed.startUAS("uas-decline.xml", as: bobMobile)
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let a = try await bed.run("uac-expect-final.xml", as: alice, service: "bob", sets: ["code": "603"])
        let b1 = await ringing.wait()
        let b2 = await decline.wait()
        #expect(a.passed, "caller should get 603\n\(bed.diagnostics(a, b1, b2))")
        #expect(b1.passed, "ringing contact should get CANCEL, answer 487, get ACK\n\(bed.diagnostics(a, b1, b2))")
        #expect(b2.passed, "declining contact should get the ACK for its 603\n\(bed.diagnostics(a, b1, b2))")
        #expect(a.receivedResponses(487).isEmpty, "the caller must get the 603, not the 487\n\(bed.diagnostics(a, b1, b2))")
    }

    @Test("forking: one contact busy, the other answers; the caller gets 200, not 486", arguments: SIPTransport.allCases)
    func forkingBusyAndAnswer(transport: SIPTransport) async throws {
        let bed = try await TestBed("fork-busy-answer-\(transport)")
        defer { bed.shutdown() }
        let bobDesk = Phone("bob", ip: "127.0.0.12", transport: transport)
        let bobMobile = Phone("bob", ip: "127.0.0.14", transport: transport)
        try await bed.register(bobDesk)
        try await bed.register(bobMobile)
        let busy = try await bed.startUAS("uas-busy.xml", as: bobDesk)
        let answer = try await bed.startUAS("uas-answer-slow.xml", as: bobMobile)
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let a = try await bed.run("uac-call-bye.xml", as: alice, service: "bob")
        let b1 = await busy.wait()
        let b2 = await answer.wait()
        #expect(a.passed, "caller\n\(bed.diagnostics(a, b1, b2))")
        #expect(b1.passed, "busy contact should get the ACK for its 486\n\(bed.diagnostics(a, b1, b2))")
        #expect(b2.passed, "answering contact\n\(bed.diagnostics(a, b1, b2))")
        #expect(a.receivedResponses(486).isEmpty, "the 486 of one branch must not reach the caller\n\(bed.diagnostics(a, b1, b2))")
    }

    @Test("one user in two simultaneous calls (bob receives calls from alice and carol)", arguments: SIPTransport.allCases)
    func twoSimultaneousCalls(transport: SIPTransport) async throws {
        let bed = try await TestBed("two-calls-\(transport)")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: transport)
        try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer.xml", as: bob, calls: 2)
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let carol = Phone("carol", ip: "127.0.0.13", transport: transport)
        let pa = try bed.start("uac-call-bye.xml", as: alice, client: true, service: "bob")
        let pc = try bed.start("uac-call-bye.xml", as: carol, client: true, service: "bob")
        let a = await pa.wait()
        let c = await pc.wait()
        let b = await uas.wait()
        #expect(a.passed, "alice\n\(bed.diagnostics(a, c, b))")
        #expect(c.passed, "carol\n\(bed.diagnostics(a, c, b))")
        #expect(b.passed, "bob\n\(bed.diagnostics(a, c, b))")
        let callIDs = Set(b.receivedRequests("INVITE").flatMap { headers("Call-ID", in: $0) })
        #expect(callIDs.count == 2, "bob should see two calls: \(callIDs)")
    }

    @Test("REFER: bob transfers alice to carol; alice answers 202, NOTIFYs, then calls carol", arguments: SIPTransport.allCases)
    func referTransfer(transport: SIPTransport) async throws {
        let bed = try await TestBed("refer-\(transport)")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: transport)
        let carol = Phone("carol", ip: "127.0.0.13", transport: transport)
        try await bed.register(bob)
        try await bed.register(carol)
        let transferor = try await bed.startUAS("refer-transferor.xml", as: bob,
                                                keys: ["referto": "sip:carol@\(bed.proxy.hostPort)"])
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let a = try await bed.run("refer-transferee.xml", as: alice, service: "bob")
        let b = await transferor.wait()
        #expect(a.passed, "alice (transferee)\n\(bed.diagnostics(a, b))")
        #expect(b.passed, "bob (transferor)\n\(bed.diagnostics(a, b))")
        let refer = try #require(a.receivedRequests("REFER").first, "alice got no REFER\n\(bed.diagnostics(a, b))")
        let target = try #require(headers("Refer-To", in: refer).first)
        #expect(target.contains("sip:carol@"), "Refer-To: \(target)")
        #expect(b.receivedRequests("NOTIFY").count == 2, "bob should get both NOTIFYs\n\(bed.diagnostics(a, b))")

        // alice now calls the Refer-To target through the proxy.
        let callee = try await bed.startUAS("uas-answer.xml", as: carol)
        let alice2 = Phone("alice", ip: "127.0.0.11", transport: transport)
        let a2 = try await bed.run("uac-call-bye.xml", as: alice2, service: "carol")
        let c = await callee.wait()
        #expect(a2.passed, "alice -> carol\n\(bed.diagnostics(a2, c))")
        #expect(c.passed, "carol\n\(bed.diagnostics(a2, c))")
        #expect(c.receivedRequests("INVITE").count == 1)
    }

    @Test("a retransmitted INVITE reaches the callee once")
    func retransmittedInvite() async throws {
        let bed = try await TestBed("retransmit")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer-slow.xml", as: bob)
        let alice = Phone("alice", ip: "127.0.0.11")
        let tag = "t\(UInt32.random(in: 0..<UInt32.max))"
        let cid = ["-cid_str", "retrans-\(tag)-%u@\(alice.ip)"]
        let caller = try bed.start("uac-retransmit.xml", as: alice, client: true, service: "bob",
                                   keys: ["tag": tag], extraArguments: cid)
        // Wait until bob has the INVITE (it rings 500 ms before answering), then retransmit.
        let bobGotInvite = await waitUntil(timeout: .seconds(5)) {
            readText(uas.messageURL).contains("INVITE sip:")
        }
        #expect(bobGotInvite, "bob never saw the first INVITE")
        let dupPhone = Phone("alice", ip: "127.0.0.11")
        let dup = try bed.start("uac-retransmit-dup.xml", as: dupPhone, client: true, service: "bob",
                                keys: ["tag": tag, "sentby": alice.address], timeout: 5, extraArguments: cid)
        let d = await dup.wait()
        let a = await caller.wait()
        let b = await uas.wait()
        #expect(a.passed, "caller\n\(bed.diagnostics(a, d, b))")
        #expect(b.passed, "callee (fails on a second INVITE)\n\(bed.diagnostics(a, d, b))")
        #expect(d.sentRequests("INVITE").count == 1, "the retransmission was not sent\n\(d)")
        #expect(b.receivedRequests("INVITE").count == 1, "callee saw the INVITE \(b.receivedRequests("INVITE").count) times\n\(bed.diagnostics(a, d, b))")
    }

    @Test("an expired registration is not used: the user gets 480 afterwards")
    func registrationExpires() async throws {
        let bed = try await TestBed("expiry", proxyArguments: ["--min-expires", "1"])
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob, expires: 2)
        try await Task.sleep(for: .milliseconds(3_000))
        let alice = Phone("alice", ip: "127.0.0.11")
        let r = try await bed.run("uac-expect-final.xml", as: alice, service: "bob", sets: ["code": "480"])
        #expect(r.passed, "binding with Expires: 2 should be gone after 3 s\n\(bed.diagnostics(r))")
    }

    @Test("a burst of 30 calls (10 per second) to one callee all complete", arguments: SIPTransport.allCases)
    func burstOfCalls(transport: SIPTransport) async throws {
        let bed = try await TestBed("burst-\(transport)", logLevel: "info")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: transport)
        try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer.xml", as: bob, calls: 30, timeout: 20)
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let a = try await bed.run("uac-call-bye.xml", as: alice, service: "bob", calls: 30, timeout: 20,
                                  extraArguments: ["-r", "10", "-rp", "1000", "-l", "30"])
        let b = await uas.wait()
        #expect(a.passed, "caller side\n\(bed.diagnostics(a, b))")
        #expect(b.passed, "callee side\n\(bed.diagnostics(a, b))")
        #expect(b.receivedRequests("INVITE").count == 30, "callee saw \(b.receivedRequests("INVITE").count) INVITEs")
    }

    @Test("CANCEL for an unknown transaction gets 481")
    func cancelUnknown() async throws {
        let bed = try await TestBed("481")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let alice = Phone("alice", ip: "127.0.0.11")
        let r = try await bed.run("cancel-unknown.xml", as: alice, service: "bob")
        #expect(r.passed, "\(bed.diagnostics(r))")
    }

    @Test("sipctl serve exits 0 on SIGTERM")
    func gracefulShutdown() async throws {
        let bed = try await TestBed("shutdown")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let status = bed.proxy.stop(grace: 5)
        #expect(status == 0, "exit status \(String(describing: status))\n\(bed.proxy.logTail())")
    }
}
