// Registrar: REGISTER semantics of RFC 3261 §10.3 on pure values, with an injected clock.

import NIOCore
import Testing

@testable import SIPProxy

@Suite struct RegistrarTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    let source = Peer(
        transport: .udp,
        remote: try! SocketAddress(ipAddress: "127.0.0.12", port: 5062),
        local: try! SocketAddress(ipAddress: "127.0.0.10", port: 5060)
    )

    func register(
        user: String = "bob",
        contacts: [String],
        expires: Int? = nil,
        callID: String = "reg-1",
        cseq: UInt32 = 1
    ) -> SIPRequest {
        var lines = [
            "REGISTER sip:127.0.0.10:5060 SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.12:5062;branch=z9hG4bK-\(callID)-\(cseq)",
            "From: <sip:\(user)@127.0.0.10>;tag=f1",
            "To: <sip:\(user)@127.0.0.10>",
            "Call-ID: \(callID)",
            "CSeq: \(cseq) REGISTER",
            "Max-Forwards: 70",
        ]
        for c in contacts { lines.append("Contact: \(c)") }
        if let expires { lines.append("Expires: \(expires)") }
        lines.append("Content-Length: 0")
        let text = lines.joined(separator: "\r\n") + "\r\n\r\n"
        guard case .request(let request) = try! SIPParser().parse(Array(text.utf8)) else { fatalError() }
        return request
    }

    @Test func registersWithDefaultExpiryAndKeepsSource() throws {
        var registrar = Registrar()
        let result = try registrar.register(
            self.register(contacts: ["<sip:bob@127.0.0.12:5062>"]),
            source: self.source,
            now: self.t0
        ).get()
        #expect(result.user == "bob")
        #expect(result.bindings.count == 1)
        #expect(result.bindings[0].remaining(at: self.t0) == 3600)
        #expect(result.bindings[0].source == self.source)
        #expect(registrar.store.lookup("bob", now: self.t0).count == 1)
    }

    @Test func contactParameterBeatsExpiresHeaderAndIsClamped() throws {
        var registrar = Registrar(policy: RegistrarPolicy(defaultExpires: 3600, minExpires: 60, maxExpires: 7200))
        let result = try registrar.register(
            self.register(contacts: ["<sip:bob@127.0.0.12:5062>;expires=120", "<sip:bob@127.0.0.14>"], expires: 99_999),
            source: self.source,
            now: self.t0
        ).get()
        let byHost = Dictionary(uniqueKeysWithValues: result.bindings.map { ($0.contact.uri.host, $0) })
        #expect(byHost["127.0.0.12"]?.remaining(at: self.t0) == 120)
        #expect(byHost["127.0.0.14"]?.remaining(at: self.t0) == 7200)
        // The stored contact drops its expires parameter: the 200 writes the remaining time instead.
        #expect(byHost["127.0.0.12"]?.contact.parameters.contains("expires") == false)
    }

    @Test func tooBriefIsRefusedAtomically() {
        var registrar = Registrar()
        let result = registrar.register(
            self.register(contacts: ["<sip:bob@127.0.0.12>", "<sip:bob@127.0.0.14>;expires=10"]),
            source: self.source,
            now: self.t0
        )
        #expect(result == .failure(.intervalTooBrief(minimum: 60)))
        #expect(registrar.store.lookup("bob", now: self.t0).isEmpty)
        #expect(!registrar.store.isKnown("bob"))
    }

    @Test func refreshExpireAndUnregister() throws {
        var registrar = Registrar()
        _ = try registrar.register(self.register(contacts: ["<sip:bob@127.0.0.12:5062>"], expires: 100),
            source: self.source, now: self.t0).get()
        // Refresh with a higher CSeq moves the expiry.
        let later = self.t0 + .seconds(50)
        let refreshed = try registrar.register(
            self.register(contacts: ["<sip:bob@127.0.0.12:5062>"], expires: 100, cseq: 2),
            source: self.source,
            now: later
        ).get()
        #expect(refreshed.changes.count == 1)
        if case .refreshed = refreshed.changes[0] {} else { Issue.record("expected a refresh") }
        #expect(registrar.store.lookup("bob", now: self.t0 + .seconds(140)).count == 1)
        // Expired bindings vanish from look-ups and are swept, but the user stays known (480, not 404).
        #expect(registrar.store.lookup("bob", now: later + .seconds(101)).isEmpty)
        #expect(registrar.sweep(now: later + .seconds(101)).count == 1)
        #expect(registrar.store.isKnown("bob"))
    }

    /// The sweep visits only users whose first binding is due (an index by second): it must remove exactly what a
    /// walk over every binding removes, in any order of registrations, refreshes and removals, and keep the index
    /// to one entry per user with bindings.
    @Test func sweepRemovesExactlyTheExpiredBindings() throws {
        var registrar = Registrar(policy: RegistrarPolicy(defaultExpires: 3600, minExpires: 1, maxExpires: 7200))
        var generator = SystemRandomNumberGenerator()
        var now = self.t0
        var expected: [String: NIODeadline] = [:]  // contact key -> expiry
        var swept = 0
        for step in 0..<3000 {
            let user = "u\(Int.random(in: 0..<60, using: &generator))"
            let contact = "<sip:\(user)@127.0.0.12:\(5000 + Int.random(in: 0..<3, using: &generator))>"
            let expires = Int.random(in: 0..<20, using: &generator)  // 0: removal
            _ = registrar.register(
                self.register(user: user, contacts: [contact], expires: expires, callID: "c-\(step)", cseq: 1),
                source: self.source, now: now
            )
            // A REGISTER drops its user's lapsed bindings itself (they are not the sweep's any more).
            for (key, at) in expected where key.hasPrefix("\(user) ") && at <= now { expected[key] = nil }
            let key = "\(user) \(contact)"
            if expires == 0 { expected[key] = nil } else { expected[key] = now + .seconds(Int64(expires)) }
            // Time moves by 0-1.5 s; now and then a sweep, which must remove exactly the lapsed ones.
            now = now + .milliseconds(Int64.random(in: 0...1500, using: &generator))
            if step % 7 == 0 {
                let removed = registrar.sweep(now: now)
                let due = expected.filter { $0.value <= now }
                #expect(removed.count == due.count, "step \(step)")
                for key in due.keys { expected[key] = nil }
                swept += removed.count
                let index = registrar.store.expiryIndexCount
                #expect(index.users == registrar.store.userCount && index.entries == index.users, "step \(step)")
            }
        }
        #expect(swept > 100)
        #expect(registrar.store.bindingCount == expected.count)
    }

    @Test func outOfOrderCSeqDoesNotUpdate() throws {
        var registrar = Registrar()
        _ = try registrar.register(self.register(contacts: ["<sip:bob@127.0.0.12:5062>"], expires: 600, cseq: 5),
            source: self.source, now: self.t0).get()
        let stale = try registrar.register(
            self.register(contacts: ["<sip:bob@127.0.0.12:5062>"], expires: 0, cseq: 4),
            source: self.source,
            now: self.t0
        ).get()
        #expect(stale.changes.isEmpty)
        #expect(registrar.store.lookup("bob", now: self.t0).count == 1)
    }

    @Test func wildcardRemovesAllAndNeedsExpiresZero() throws {
        var registrar = Registrar()
        _ = try registrar.register(
            self.register(contacts: ["<sip:bob@127.0.0.12>", "<sip:bob@127.0.0.14>"]),
            source: self.source,
            now: self.t0
        ).get()
        #expect(
            registrar.register(self.register(contacts: ["*"], expires: 30, callID: "other"), source: self.source, now: self.t0)
                == .failure(.invalidWildcard)
        )
        #expect(
            registrar.register(
                self.register(contacts: ["*", "<sip:bob@127.0.0.12>"], expires: 0, callID: "other"),
                source: self.source,
                now: self.t0
            ) == .failure(.invalidWildcard)
        )
        let removed = try registrar.register(
            self.register(contacts: ["*"], expires: 0, callID: "other"),
            source: self.source,
            now: self.t0
        ).get()
        #expect(removed.changes.count == 2)
        #expect(registrar.store.lookup("bob", now: self.t0).isEmpty)
        #expect(registrar.store.isKnown("bob"))
    }

    @Test func usersOfAllLocalDomainsShareOneNamespaceAndEscapesAreNormalised() throws {
        var registrar = Registrar()
        _ = try registrar.register(self.register(user: "%62ob", contacts: ["<sip:bob@127.0.0.12>"]),
            source: self.source, now: self.t0).get()
        #expect(registrar.store.lookup("bob", now: self.t0).count == 1)
        let uri = try #require(SIPURI.parse("sip:bob@lab.example:5070"))
        #expect(LocationStore.userKey(uri) == "bob")
        // The contact index finds the binding for flow reuse.
        let contact = try #require(SIPURI.parse("sip:bob@127.0.0.12"))
        #expect(registrar.store.binding(forContact: contact, now: self.t0)?.source == self.source)
    }

    @Test func nonSIPAORIsRefused() {
        var registrar = Registrar()
        let text = [
            "REGISTER sip:127.0.0.10 SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.12;branch=z9hG4bKx",
            "From: <http://example.com>;tag=1", "To: isbn:2983792873", "Call-ID: c", "CSeq: 1 REGISTER",
            "Contact: <sip:bob@127.0.0.12>", "Content-Length: 0",
        ].joined(separator: "\r\n") + "\r\n\r\n"
        guard case .request(let request) = try! SIPParser().parse(Array(text.utf8)) else { fatalError() }
        #expect(registrar.register(request, source: self.source, now: self.t0) == .failure(.notSIPAOR))
    }

    // MARK: Limits and ownership without authentication

    var stranger: Peer {
        Peer(
            transport: .udp,
            remote: try! SocketAddress(ipAddress: "127.0.0.66", port: 5060),
            local: try! SocketAddress(ipAddress: "127.0.0.10", port: 5060)
        )
    }

    @Test func bindingsAreListedOnlyToAnAddressThatHoldsOne() throws {
        var registrar = Registrar()
        _ = try registrar.register(
            self.register(contacts: ["<sip:bob@127.0.0.12:5062>"]), source: self.source, now: self.t0
        ).get()
        // The phone's own address (another port, as after a NAT rebinding) gets the list (§10.3 step 8).
        var own = self.source
        own.remote = try SocketAddress(ipAddress: "127.0.0.12", port: 6000)
        let listed = try registrar.register(self.register(contacts: [], callID: "q-1"), source: own, now: self.t0).get()
        #expect(listed.bindings.map(\.contact.uri.host) == ["127.0.0.12"])
        // A stranger does not, unless authenticated; an unknown user's empty list is no secret.
        var stranger = self.source
        stranger.remote = try SocketAddress(ipAddress: "127.0.0.66", port: 5060)
        #expect(registrar.register(self.register(contacts: [], callID: "q-2"), source: stranger, now: self.t0)
            == .failure(.queryRefused))
        #expect(RegistrarError.queryRefused.status.code == 403)
        let authorised = try registrar.register(
            self.register(contacts: [], callID: "q-3"), source: stranger, authenticated: true, now: self.t0
        ).get()
        #expect(authorised.bindings.count == 1)
        let nobody = try registrar.register(
            self.register(user: "nobody", contacts: [], callID: "q-4"), source: stranger, now: self.t0
        ).get()
        #expect(nobody.bindings.isEmpty)
    }

    @Test func wildcardFromAnotherAddressRemovesNothing() throws {
        var registrar = Registrar()
        _ = registrar.register(self.register(contacts: ["<sip:bob@127.0.0.12:5062>"]), source: self.source, now: self.t0)
        let attack = try registrar.register(
            self.register(contacts: ["*"], expires: 0, callID: "evil"),
            source: self.stranger,
            now: self.t0
        ).get()
        #expect(attack.changes.isEmpty)
        #expect(registrar.store.lookup("bob", now: self.t0).count == 1)
        // The same request from the phone's own address removes it.
        let own = try registrar.register(
            self.register(contacts: ["*"], expires: 0, callID: "own"),
            source: self.source,
            now: self.t0
        ).get()
        #expect(own.changes.count == 1)
        #expect(registrar.store.lookup("bob", now: self.t0).isEmpty)
    }

    @Test func expiresZeroFromAnotherAddressIsIgnoredUnlessAuthenticated() throws {
        var registrar = Registrar()
        _ = registrar.register(self.register(contacts: ["<sip:bob@127.0.0.12:5062>"]), source: self.source, now: self.t0)
        let request = self.register(contacts: ["<sip:bob@127.0.0.12:5062>;expires=0"], callID: "evil")
        _ = registrar.register(request, source: self.stranger, now: self.t0)
        #expect(registrar.store.lookup("bob", now: self.t0).count == 1)
        _ = registrar.register(request, source: self.stranger, authenticated: true, now: self.t0)
        #expect(registrar.store.lookup("bob", now: self.t0).isEmpty)
    }

    @Test func contactLimitsAreEnforced() throws {
        var registrar = Registrar()
        #expect(registrar.policy.maxContacts == 10)
        let eleven = (1...11).map { "<sip:bob@127.0.0.12:\(5100 + $0)>" }
        #expect(
            registrar.register(self.register(contacts: eleven), source: self.source, now: self.t0)
                == .failure(.tooManyContacts(limit: 10))
        )
        #expect(registrar.store.lookup("bob", now: self.t0).isEmpty, "a refused REGISTER changes nothing")
        let long = "<sip:bob@127.0.0.12:5062;x=\(String(repeating: "a", count: 1100))>"
        guard case .failure(.contactTooLong(limit: 1024, _)) = registrar.register(
            self.register(contacts: [long]), source: self.source, now: self.t0)
        else {
            Issue.record("a 1.1 KB contact must be refused")
            return
        }
    }

    @Test func locationStoreIsBounded() throws {
        var registrar = Registrar(policy: RegistrarPolicy(maxBindings: 3))
        for user in ["u1", "u2", "u3"] {
            _ = try registrar.register(
                self.register(user: user, contacts: ["<sip:\(user)@127.0.0.12:5062>"]), source: self.source, now: self.t0
            ).get()
        }
        #expect(registrar.store.bindingCount == 3)
        let refused = registrar.register(
            self.register(user: "u4", contacts: ["<sip:u4@127.0.0.12:5062>"]), source: self.source, now: self.t0)
        #expect(refused == .failure(.locationStoreFull(limit: 3)))
        #expect(RegistrarError.locationStoreFull(limit: 3).status.code == 503)
        // Refreshing an existing binding still works when the store is full.
        _ = try registrar.register(
            self.register(user: "u1", contacts: ["<sip:u1@127.0.0.12:5062>"], cseq: 2), source: self.source, now: self.t0
        ).get()
        #expect(registrar.store.isRegisteredSource(self.source.remote))
        #expect(!registrar.store.isRegisteredSource(self.stranger.remote))
    }

    @Test func veryLongUserNamesAreRefused() {
        var registrar = Registrar()
        let name = String(repeating: "x", count: 300)
        let result = registrar.register(
            self.register(user: name, contacts: ["<sip:x@127.0.0.12:5062>"]), source: self.source, now: self.t0)
        #expect((try? result.get()) == nil)
        #expect(!registrar.store.isKnown(name))
    }
}
