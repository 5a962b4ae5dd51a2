// The proxy core end to end in one process: registration, calls, forking with best-response selection, CANCEL,
// Timer C, forwarding on no answer, 3xx recursion, Max-Forwards and loops (RFC 3261 §10, §16), each in
// milliseconds of wall time: no socket, no sleep, the clock moved by hand.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("Proxy engine in one process")
struct ProxyEngineTests {
    let net = EngineHarness()
    let alice = SimulatedPhone("alice", ip: "127.0.0.11")
    let bob = SimulatedPhone("bob", ip: "127.0.0.12")

    /// Registers `phone` under `user` (its own name unless given) and checks the 200.
    func register(_ phone: SimulatedPhone, in net: EngineHarness) {
        net.deliver(phone.register(), from: phone)
        let replies = net.received(by: phone)
        #expect(replies.compactMap(\.status) == [200], "REGISTER of \(phone.user): \(replies.map(\.summary))")
    }

    /// The single request of `method` a phone received (retransmissions over UDP, same branch, count once).
    func request(_ method: SIPMethod, at phone: SimulatedPhone, in messages: [SIPMessage]) throws -> SIPRequest {
        let found = messages.compactMap(\.request).filter { $0.method == method }
        let branches = Set(found.compactMap { $0.topVia?.branch })
        try #require(branches.count == 1, "\(phone.user) expected one \(method), got \(messages.map(\.summary))")
        return found[0]
    }

    @Test("REGISTER binds the contact; a query lists it; Expires 0 removes it")
    func registration() throws {
        self.register(self.bob, in: self.net)
        #expect(self.net.core.registrar.lookup("bob", now: self.net.clock.now).map(\.contact.uri.description)
            == ["sip:bob@127.0.0.12:5060"])
        self.net.deliver(self.bob.register(expires: 0), from: self.bob)
        #expect(self.net.received(by: self.bob).compactMap(\.status) == [200])
        #expect(self.net.core.registrar.lookup("bob", now: self.net.clock.now).isEmpty)
    }

    @Test("a binding that is not refreshed is swept when it expires (a timer in the wheel, not a NIO task)")
    func bindingExpiry() {
        self.net.deliver(self.bob.register(expires: 120), from: self.bob)
        #expect(self.net.received(by: self.bob).compactMap(\.status) == [200])
        self.net.advance(by: .seconds(115))
        #expect(self.net.core.registrar.lookup("bob", now: self.net.clock.now).count == 1)
        self.net.advance(by: .seconds(10))
        #expect(self.net.core.registrar.all(now: .distantPast).isEmpty, "swept from the store, not only hidden")
        self.net.deliver(self.alice.invite("bob", callID: "after-expiry"), from: self.alice)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [480], "known but not registered: 480")
    }

    @Test("a call rings, is answered, acknowledged and hung up through the proxy's Record-Route")
    func answeredCall() throws {
        self.register(self.bob, in: self.net)
        self.net.deliver(self.alice.invite("bob", callID: "call-1"), from: self.alice)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [100], "100 Trying stops alice's retransmissions")
        let invite = try self.request(.invite, at: self.bob, in: self.net.received(by: self.bob))
        #expect(invite.uri.description == "sip:bob@127.0.0.12:5060", "§16.6 step 2: the Request-URI is bob's contact")
        #expect(invite.maxForwards == 69)
        #expect(invite.headers.values("via").count == 2)
        let recordRoute = try #require(invite.headers.values("record-route").first)

        self.net.deliver(self.bob.respond(to: invite, 180, "Ringing", tag: "b1"), from: self.bob)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [180])
        self.net.deliver(self.bob.respond(to: invite, 200, "OK", tag: "b1"), from: self.bob)
        let ok = try #require(self.net.received(by: self.alice).first?.response)
        #expect(ok.statusCode == 200)
        #expect(ok.headers.values("via").count == 1, "§16.7 step 3: the proxy's Via is removed")
        #expect(ok.headers.values("record-route") == [recordRoute])

        // ACK and BYE follow the route set (the proxy's Record-Route) to bob's Contact.
        self.net.deliver(self.alice.inDialog("ACK", target: "sip:bob@127.0.0.12:5060", routes: [recordRoute],
                                             callID: "call-1", toTag: "b1", cseq: 1, to: "<sip:bob@127.0.0.10:5060>"),
                         from: self.alice)
        _ = try self.request(.ack, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.alice.inDialog("BYE", target: "sip:bob@127.0.0.12:5060", routes: [recordRoute],
                                             callID: "call-1", toTag: "b1", cseq: 2, to: "<sip:bob@127.0.0.10:5060>"),
                         from: self.alice)
        let bye = try self.request(.bye, at: self.bob, in: self.net.received(by: self.bob))
        #expect(bye.headers.values("route").isEmpty, "§16.4: the proxy's own Route is removed")
        self.net.deliver(self.bob.respond(to: bye, 200, "OK"), from: self.bob)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [200])
    }

    // MARK: Forking (§16.7)

    /// bob registered from three phones: one branch each.
    func forkToThree() throws -> [(phone: SimulatedPhone, invite: SIPRequest)] {
        let phones = ["127.0.0.21", "127.0.0.22", "127.0.0.23"].map { SimulatedPhone("bob", ip: $0) }
        for phone in phones { self.register(phone, in: self.net) }
        self.net.deliver(self.alice.invite("bob", callID: "fork"), from: self.alice)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [100])
        return try phones.map { ($0, try self.request(.invite, at: $0, in: self.net.received(by: $0))) }
    }

    @Test("486 on one branch and 200 on another: the caller gets the 200 only; the 486 branch is acknowledged")
    func busyAndAnswered() throws {
        let branches = try Array(self.forkToThree().prefix(2))
        let (b1, b2) = (branches[0], branches[1])
        self.net.deliver(b1.phone.respond(to: b1.invite, 486, "Busy Here", tag: "t1"), from: b1.phone)
        #expect(self.net.received(by: self.alice).isEmpty, "a 486 waits for the other branches (§16.7 step 4)")
        let ackOf486 = self.net.received(by: b1.phone).compactMap(\.request)
        #expect(ackOf486.map(\.method) == [.ack], "the client transaction acknowledges the 486 (§17.1.1.3)")
        self.net.deliver(b2.phone.respond(to: b2.invite, 200, "OK", tag: "t2"), from: b2.phone)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [200])
    }

    @Test("603 on one branch: the other branches are cancelled and the caller gets the 603 (§16.7 step 5)")
    func declineCancelsOthers() throws {
        let branches = try self.forkToThree()
        for (n, b) in branches.prefix(2).enumerated() {
            self.net.deliver(b.phone.respond(to: b.invite, 180, "Ringing", tag: "r\(n)"), from: b.phone)
        }
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [180, 180])
        let third = branches[2]
        self.net.deliver(third.phone.respond(to: third.invite, 603, "Decline", tag: "d"), from: third.phone)
        for b in branches.prefix(2) {
            let cancel = try self.request(.cancel, at: b.phone, in: self.net.received(by: b.phone))
            #expect(cancel.headers.values("via") == [b.invite.headers.values("via")[0]], "§9.1: CANCEL carries the branch's Via")
            self.net.deliver(b.phone.respond(to: cancel, 200, "OK"), from: b.phone)
            self.net.deliver(b.phone.respond(to: b.invite, 487, "Request Terminated", tag: "r"), from: b.phone)
        }
        let finals = self.net.received(by: self.alice).compactMap(\.status).filter { $0 >= 200 }
        #expect(finals == [603], "the 6xx wins over the 487s")
    }

    @Test("three branches, one 2xx: it is forwarded at once and the ringing branch is cancelled (§16.7 step 10)")
    func oneAnswerAmongThree() throws {
        let branches = try self.forkToThree()
        let (busy, answering, ringing) = (branches[0], branches[1], branches[2])
        self.net.deliver(ringing.phone.respond(to: ringing.invite, 180, "Ringing", tag: "r"), from: ringing.phone)
        self.net.deliver(busy.phone.respond(to: busy.invite, 486, "Busy Here", tag: "b"), from: busy.phone)
        self.net.deliver(answering.phone.respond(to: answering.invite, 200, "OK", tag: "a"), from: answering.phone)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [180, 200])
        _ = try self.request(.cancel, at: ringing.phone, in: self.net.received(by: ringing.phone))
    }

    @Test("a fork cancelled after another's 2xx ignores the CANCEL: its INVITE transaction is given up 64*T1 later, though the context ended (§9.1)")
    func cancelledForkIgnoringCancelIsGivenUp() throws {
        let branches = try self.forkToThree()
        let (busy, answering, ringing) = (branches[0], branches[1], branches[2])
        self.net.deliver(ringing.phone.respond(to: ringing.invite, 180, "Ringing", tag: "r"), from: ringing.phone)
        self.net.deliver(busy.phone.respond(to: busy.invite, 486, "Busy Here", tag: "b"), from: busy.phone)
        self.net.deliver(answering.phone.respond(to: answering.invite, 200, "OK", tag: "a"), from: answering.phone)
        _ = try self.request(.cancel, at: ringing.phone, in: self.net.received(by: ringing.phone))
        #expect(self.net.core.contexts.isEmpty, "the 2xx ended the response context")
        let ringingKey = TransactionKey.client(branch: ringing.invite.topVia?.branch ?? "", method: .invite)
        #expect(self.net.core.transactions.clients[ringingKey] != nil, "the ringing fork still waits for its 487")
        // The ringing phone never answers the CANCEL nor sends 487.
        self.net.advance(by: .seconds(31))
        #expect(self.net.core.transactions.clients[ringingKey] != nil)
        self.net.advance(by: .seconds(2))
        #expect(self.net.core.transactions.clients[ringingKey] == nil, "given up at 64*T1, not kept for ever")
        #expect(self.net.received(by: self.alice).compactMap(\.status).filter { $0 >= 200 }.allSatisfy { $0 == 200 },
                "nothing but the 2xx (and its retransmissions) reaches the caller")
    }

    @Test("a request that reuses an ended request's branch gets a context of its own: the old request's §9.1 guards leave it alone")
    func staleGuardsLeaveANewContextAlone() throws {
        let carol = SimulatedPhone("carol", ip: "127.0.0.13")
        self.register(carol, in: self.net)
        let branches = try self.forkToThree()
        for (n, b) in branches.enumerated() {
            self.net.deliver(b.phone.respond(to: b.invite, 180, "Ringing", tag: "r\(n)"), from: b.phone)
        }
        // 603 on the first branch: the other two are cancelled (their 64*T1 guards start) and answer 487 at once.
        self.net.deliver(branches[0].phone.respond(to: branches[0].invite, 603, "Decline", tag: "r0"), from: branches[0].phone)
        for b in branches.dropFirst() {
            let cancel = try self.request(.cancel, at: b.phone, in: self.net.received(by: b.phone))
            self.net.deliver(b.phone.respond(to: cancel, 200, "OK", tag: "c"), from: b.phone)
            self.net.deliver(b.phone.respond(to: b.invite, 487, "Request Terminated", tag: "r"), from: b.phone)
        }
        #expect(self.net.received(by: self.alice).compactMap(\.status).filter { $0 >= 200 } == [603])
        self.net.deliver(self.alice.ackFailure("bob", callID: "fork", toTag: "r0"), from: self.alice)
        self.net.advance(by: .seconds(6))  // Timer I ends the server transaction, and the context with it
        #expect(self.net.core.contexts.isEmpty)
        // The same branch again, for carol: one branch, at the index the old request's guards name no branch of.
        self.net.deliver(self.alice.invite("carol", callID: "fork"), from: self.alice)
        let invite = try self.request(.invite, at: carol, in: self.net.received(by: carol))
        self.net.deliver(carol.respond(to: invite, 180, "Ringing", tag: "c1"), from: carol)
        self.net.advance(by: .seconds(30))  // the old guards fire (32 s after the CANCELs)
        #expect(self.net.core.contexts.count == 1, "carol's call goes on")
        self.net.deliver(carol.respond(to: invite, 200, "OK", tag: "c1"), from: carol)
        #expect(self.net.received(by: self.alice).compactMap(\.status).contains(200))
    }

    @Test("two forks answer: the second 2xx reaches the caller too (§16.7 step 5), after the first ended the context")
    func secondAnswerIsForwarded() throws {
        let branches = try self.forkToThree()
        let (first, second) = (branches[0], branches[1])
        self.net.deliver(second.phone.respond(to: second.invite, 180, "Ringing", tag: "s"), from: second.phone)
        self.net.deliver(first.phone.respond(to: first.invite, 200, "OK", tag: "f"), from: first.phone)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [180, 200])
        #expect(self.net.core.contexts.isEmpty, "the first 2xx ends the response context")
        self.net.deliver(second.phone.respond(to: second.invite, 200, "OK", tag: "s"), from: second.phone)
        let late = self.net.received(by: self.alice).compactMap(\.response)
        #expect(late.map(\.statusCode) == [200], "the caller gets the second 2xx and can end that dialog")
        #expect(late.first?.to.tag == "s")
        // The UAS retransmits its 2xx until the ACK: each copy still goes up (RFC 6026 §8.4).
        self.net.deliver(first.phone.respond(to: first.invite, 200, "OK", tag: "f"), from: first.phone)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [200])
    }

    // MARK: Finished transactions (§17.2.2, RFC 6026)

    @Test("a REGISTER is answered statelessly (the retransmission answered alike); a relayed MESSAGE lingers compactly and a retransmission gets bob's 200 without reaching bob; an INVITE retransmitted after the 2xx is absorbed, a late CANCEL gets 200; Timer J and L end them")
    func lingeringTransactions() throws {
        self.net.deliver(self.bob.register(), from: self.bob)
        let first = self.net.received(by: self.bob).compactMap(\.response)
        #expect(first.map(\.statusCode) == [200])
        #expect(self.net.core.transactions.count.server == 0 && self.net.core.transactions.lingeringCount == 0,
                "§8.2.7: no transaction kept for an answer the proxy makes itself without auth")
        // The same REGISTER again (same branch): answered alike, §10.3 step 7 leaves the binding as it is.
        let again = self.bob.request("REGISTER", uri: "sip:\(self.bob.proxy)", to: "<sip:bob@\(self.bob.proxy)>",
                                     callID: "reg-bob", cseq: 1, branch: first[0].topVia?.branch,
                                     extra: ["Contact: \(self.bob.contact)", "Expires: 300"])
        self.net.deliver(again, from: self.bob)
        let resent = self.net.received(by: self.bob).compactMap(\.response)
        #expect(resent.map(\.statusCode) == [200])
        #expect(resent.first?.to.tag == first[0].to.tag, "the same response")
        #expect(self.net.core.registrar.lookup("bob", now: self.net.clock.now).count == 1)

        // A MESSAGE relayed to bob and answered by him lingers: its retransmission gets the 200 from the proxy.
        let message = self.alice.request("MESSAGE", uri: "sip:bob@\(self.alice.proxy)", to: "<sip:bob@\(self.alice.proxy)>",
                                         callID: "msg", cseq: 1, branch: "z9hG4bK-msg", body: "hi")
        self.net.deliver(message, from: self.alice)
        let relayed = try self.request(.message, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.bob.respond(to: relayed, 200, "OK", tag: "m"), from: self.bob)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [200])
        #expect(self.net.core.transactions.lingeringCount >= 1)
        self.net.deliver(message, from: self.alice)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [200], "§17.2.2: the final response resent")
        #expect(self.net.received(by: self.bob).isEmpty, "not relayed again")

        self.net.deliver(self.alice.invite("bob", callID: "linger"), from: self.alice)
        let invite = try self.request(.invite, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.bob.respond(to: invite, 200, "OK", tag: "b"), from: self.bob)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [100, 200])
        self.net.deliver(self.alice.invite("bob", callID: "linger"), from: self.alice)
        #expect(self.net.received(by: self.bob).isEmpty, "RFC 6026 §7.1: the INVITE retransmission is absorbed")
        #expect(self.net.received(by: self.alice).isEmpty)
        self.net.deliver(self.alice.cancel("bob", callID: "linger"), from: self.alice)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [200], "§9.2: a CANCEL after the 2xx: 200")
        #expect(self.net.received(by: self.bob).isEmpty, "and nothing else")

        self.net.advance(by: .seconds(31))
        #expect(self.net.core.transactions.lingeringCount >= 1, "not before 64*T1")
        self.net.advance(by: .seconds(2))
        #expect(self.net.core.transactions.lingeringCount == 0, "Timer J, L, M (64*T1) end them")
        #expect(self.net.core.transactions.count == (0, 0))
    }

    // MARK: CANCEL (§16.10)

    @Test("CANCEL before any provisional: 200 at once; the branch is cancelled when it rings (§9.1); caller gets 487")
    func cancelBeforeProvisional() throws {
        self.register(self.bob, in: self.net)
        self.net.deliver(self.alice.invite("bob", callID: "c-early"), from: self.alice)
        let invite = try self.request(.invite, at: self.bob, in: self.net.received(by: self.bob))
        _ = self.net.received(by: self.alice)
        self.net.deliver(self.alice.cancel("bob", callID: "c-early"), from: self.alice)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [200], "200 for the CANCEL")
        #expect(self.net.received(by: self.bob).isEmpty, "no CANCEL before a provisional response")
        self.net.deliver(self.bob.respond(to: invite, 180, "Ringing", tag: "b"), from: self.bob)
        let cancel = try self.request(.cancel, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.bob.respond(to: cancel, 200, "OK"), from: self.bob)
        self.net.deliver(self.bob.respond(to: invite, 487, "Request Terminated", tag: "b"), from: self.bob)
        #expect(self.net.received(by: self.alice).compactMap(\.status).filter { $0 >= 200 } == [487])
    }

    @Test("CANCEL after 180: the branch gets CANCEL, the 487 reaches the caller")
    func cancelAfterProvisional() throws {
        self.register(self.bob, in: self.net)
        self.net.deliver(self.alice.invite("bob", callID: "c-late"), from: self.alice)
        let invite = try self.request(.invite, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.bob.respond(to: invite, 180, "Ringing", tag: "b"), from: self.bob)
        _ = self.net.received(by: self.alice)
        self.net.deliver(self.alice.cancel("bob", callID: "c-late"), from: self.alice)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [200])
        let cancel = try self.request(.cancel, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.bob.respond(to: cancel, 200, "OK"), from: self.bob)
        self.net.deliver(self.bob.respond(to: invite, 487, "Request Terminated", tag: "b"), from: self.bob)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [487])
        let ack = try self.request(.ack, at: self.bob, in: self.net.received(by: self.bob))
        #expect(ack.topVia?.branch == invite.topVia?.branch, "the proxy's client transaction acknowledges the 487 (§17.1.1.3)")
        self.net.deliver(self.alice.ackFailure("bob", callID: "c-late", toTag: "b"), from: self.alice)
        #expect(self.net.received(by: self.bob).isEmpty, "alice's ACK for the 487 ends at the proxy (hop by hop)")
    }

    // MARK: Timers

    @Test("Timer C: a branch that rings for over 3 minutes is cancelled and the caller gets its 487 (§16.8)")
    func timerC() throws {
        self.register(self.bob, in: self.net)
        self.net.deliver(self.alice.invite("bob", callID: "timer-c"), from: self.alice)
        let invite = try self.request(.invite, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.bob.respond(to: invite, 180, "Ringing", tag: "b"), from: self.bob)
        _ = self.net.received(by: self.alice)
        self.net.advance(by: .seconds(179))
        #expect(self.net.received(by: self.bob).isEmpty, "no CANCEL before Timer C")
        self.net.advance(by: .seconds(2))
        let cancel = try self.request(.cancel, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.bob.respond(to: cancel, 200, "OK"), from: self.bob)
        self.net.deliver(self.bob.respond(to: invite, 487, "Request Terminated", tag: "b"), from: self.bob)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [487])
    }

    @Test("a phone that answers the CANCEL but never sends 487: given up 64*T1 later, the caller gets 487 (§9.1)")
    func cancelIgnored() throws {
        self.register(self.bob, in: self.net)
        self.net.deliver(self.alice.invite("bob", callID: "deaf"), from: self.alice)
        let invite = try self.request(.invite, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.bob.respond(to: invite, 180, "Ringing", tag: "b"), from: self.bob)
        self.net.deliver(self.alice.cancel("bob", callID: "deaf"), from: self.alice)
        let cancel = try self.request(.cancel, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.bob.respond(to: cancel, 200, "OK"), from: self.bob)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [100, 180, 200], "100, 180, 200 for the CANCEL")
        self.net.advance(by: .seconds(31))
        #expect(self.net.received(by: self.alice).isEmpty, "still waiting for bob's 487")
        self.net.advance(by: .seconds(2))
        #expect(self.net.received(by: self.alice).compactMap(\.status).first == 487, "cancelled: 487 from the proxy")
        #expect(self.net.core.transactions.count.client == 0, "the INVITE and CANCEL client transactions are gone")
    }

    @Test("Timer C cancels a ringing branch and the phone never answers the CANCEL: 64*T1 later the caller gets 408 (§16.8, §9.1)")
    func timerCThenCancelIgnored() throws {
        self.register(self.bob, in: self.net)
        self.net.deliver(self.alice.invite("bob", callID: "timer-c-deaf"), from: self.alice)
        let invite = try self.request(.invite, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.bob.respond(to: invite, 180, "Ringing", tag: "b"), from: self.bob)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [100, 180])
        self.net.advance(by: .seconds(181))
        let cancel = try self.request(.cancel, at: self.bob, in: self.net.received(by: self.bob))
        #expect(cancel.topVia?.branch == invite.topVia?.branch, "§9.1: the CANCEL matches the INVITE's branch")
        // bob stays silent: no 200 for the CANCEL, no 487 (the CANCEL's retransmissions go unanswered). Timer C
        // fired at 180 s; the CANCEL went then, so 64*T1 (32 s) runs to 212 s.
        self.net.advance(by: .seconds(30))
        #expect(self.net.received(by: self.alice).isEmpty, "the caller waits up to 64*T1 for bob's 487")
        #expect(self.net.core.transactions.count.client >= 1)
        self.net.advance(by: .seconds(2))
        let finals = self.net.received(by: self.alice).compactMap(\.status)
        #expect(finals.first == 408 && Set(finals) == [408], "the branch given up counts as a timeout: \(finals)")
        #expect(self.net.core.transactions.count.client == 0, "the INVITE and CANCEL client transactions are gone")
        _ = self.net.received(by: self.bob)
        self.net.advance(by: .seconds(200))
        #expect(self.net.received(by: self.bob).compactMap(\.request).filter { $0.method != .ack }.isEmpty,
                "nothing more is sent to bob")
    }

    @Test("a branch that never answers: Timer B ends it and the caller gets 408 (§16.7 step 2, §17.1.1.2)")
    func timerB() throws {
        self.register(self.bob, in: self.net)
        self.net.deliver(self.alice.invite("bob", callID: "timer-b"), from: self.alice)
        _ = self.net.received(by: self.alice)
        self.net.advance(by: .seconds(33))
        let retransmissions = self.net.received(by: self.bob).compactMap(\.request).filter { $0.method == .invite }
        #expect(retransmissions.count == 7, "Timer A: sent at 0, then 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s")
        let finals = self.net.received(by: self.alice).compactMap(\.status)
        #expect(finals.first == 408 && Set(finals) == [408], "408, retransmitted until alice ACKs: \(finals)")
    }

    @Test("no answer for the rule's time: the call goes on to the forwarding target, bob's branch is cancelled")
    func noAnswerForwarding() throws {
        let net = EngineHarness { $0.forwarding = ["bob": ForwardingRule(noAnswer: "carol", noAnswerAfter: 10)] }
        let carol = SimulatedPhone("carol", ip: "127.0.0.13")
        self.register(self.bob, in: net)
        self.register(carol, in: net)
        net.deliver(self.alice.invite("bob", callID: "fwd"), from: self.alice)
        let invite = try self.request(.invite, at: self.bob, in: net.received(by: self.bob))
        net.deliver(self.bob.respond(to: invite, 180, "Ringing", tag: "b"), from: self.bob)
        net.advance(by: .seconds(9))
        #expect(net.received(by: carol).isEmpty)
        net.advance(by: .seconds(2))
        _ = try self.request(.cancel, at: self.bob, in: net.received(by: self.bob))
        let forwarded = try self.request(.invite, at: carol, in: net.received(by: carol))
        #expect(forwarded.headers.values("diversion").first?.contains("no-answer") == true, "RFC 5806 Diversion")
        net.deliver(carol.respond(to: forwarded, 200, "OK", tag: "c"), from: carol)
        #expect(net.received(by: self.alice).compactMap(\.status).filter { $0 >= 200 } == [200])
    }

    @Test("a 302 is recursed: the Contact it names is called and its answer reaches the caller")
    func redirectRecursion() throws {
        let carol = SimulatedPhone("carol", ip: "127.0.0.13")
        self.register(self.bob, in: self.net)
        self.register(carol, in: self.net)
        self.net.deliver(self.alice.invite("bob", callID: "redirect"), from: self.alice)
        let invite = try self.request(.invite, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(self.bob.respond(to: invite, 302, "Moved Temporarily", tag: "b",
                                          extra: ["Contact: <sip:carol@127.0.0.10:5060>"]), from: self.bob)
        let atCarol = try self.request(.invite, at: carol, in: self.net.received(by: carol))
        #expect(self.net.received(by: self.alice).compactMap(\.status).filter { $0 >= 200 }.isEmpty, "the 302 is not passed on")
        self.net.deliver(carol.respond(to: atCarol, 200, "OK", tag: "c"), from: carol)
        #expect(self.net.received(by: self.alice).compactMap(\.status).filter { $0 >= 200 } == [200])
    }

    @Test("a branch whose send fails at once and one refused later: the caller gets 500, not silence (§16.7 step 6)")
    func transportFailures() {
        let bob2 = SimulatedPhone("bob", ip: "127.0.0.22")
        self.register(self.bob, in: self.net)
        self.register(bob2, in: self.net)
        self.net.transport.failingAtOnce = [self.bob.address]
        self.net.transport.refusing = [bob2.address]
        self.net.deliver(self.alice.invite("bob", callID: "unreachable"), from: self.alice)
        let statuses = self.net.received(by: self.alice).compactMap(\.status)
        #expect(statuses.filter { $0 >= 200 } == [500], "two 503s become the proxy's 500: \(statuses)")
    }

    // MARK: §16.3 checks

    @Test("Max-Forwards 0 gets 483 (§16.3 step 3)")
    func maxForwards() {
        self.register(self.bob, in: self.net)
        let text = self.alice.invite("bob", callID: "mf").replacingOccurrences(of: "Max-Forwards: 70", with: "Max-Forwards: 0")
        self.net.deliver(text, from: self.alice)
        #expect(self.net.received(by: self.alice).compactMap(\.status) == [483])
        #expect(self.net.received(by: self.bob).isEmpty)
    }

    @Test("a request that comes back unchanged is a loop: 482 (§16.3 step 4)")
    func loop() throws {
        self.register(self.bob, in: self.net)
        self.net.deliver(self.alice.invite("bob", callID: "loop"), from: self.alice)
        let first = try self.request(.invite, at: self.bob, in: self.net.received(by: self.bob))
        // bob's phone sends it back twice as a broken forwarder would: the first return is a spiral (the
        // Request-URI changed), the second has not changed since the proxy last saw it.
        self.net.deliver(SIPMessage.request(first).serializedText, from: self.bob)
        let second = try self.request(.invite, at: self.bob, in: self.net.received(by: self.bob))
        self.net.deliver(SIPMessage.request(second).serializedText, from: self.bob)
        #expect(self.net.received(by: self.bob).compactMap(\.status).contains(482))
    }
}

extension SIPMessage {
    var serializedText: String { String(buffer: self.serialize()) }
}
