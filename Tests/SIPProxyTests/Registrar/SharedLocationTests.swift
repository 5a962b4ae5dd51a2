// A location store shared by several proxies (issue 16 item 2): other proxies' rows map to bindings marked with
// their owner and the owner's URI, and merge into the local store without disturbing this proxy's own bindings.

import NIOCore
import Testing

@testable import SIPProxy

@Suite struct SharedLocationTests {
    let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    let wall = WallClock(microseconds: 1_765_000_000_000_000)

    func binding(_ contact: String, from ip: String = "127.0.0.12", owner: String? = nil, ownerURI: String? = nil) -> Binding {
        Binding(
            aor: "sip:bob@127.0.0.51",
            contact: NameAddress.parse(contact)!,
            expiresAt: self.now + .seconds(600),
            callID: "reg-\(contact)",
            cseq: 1,
            source: Peer(
                transport: .udp,
                remote: try! SocketAddress(ipAddress: ip, port: 40_000),
                local: try! SocketAddress(ipAddress: "127.0.0.51", port: 5060)
            ),
            q: 1.0,
            owner: owner,
            ownerURI: ownerURI
        )
    }

    func changes(upserts: [(String, Binding)] = [], removals: [StoredBinding.Key] = []) -> RegistrationPersistence.RemoteChanges {
        RegistrationPersistence.RemoteChanges(upserts: upserts.map { (user: $0.0, binding: $0.1) }, removals: removals)
    }

    @Test func anotherProxysRowBecomesABindingOwnedByIt() throws {
        // Proxy A writes bob's binding with its id and URI; proxy B reads it.
        let row = StoredBinding(self.binding("<sip:bob@127.0.0.12:5062>"), user: "bob", owner: "proxy-a",
                                ownerURI: "sip:127.0.0.51:5060", now: self.now, wallNow: self.wall)
        #expect(row.owner == "proxy-a" && row.ownerURI == "sip:127.0.0.51:5060")
        let atB = try #require(row.binding(now: self.now, wallNow: self.wall, ownInstance: "proxy-b"))
        #expect(atB.owner == "proxy-a" && atB.ownerURI == "sip:127.0.0.51:5060")
        let atA = try #require(row.binding(now: self.now, wallNow: self.wall, ownInstance: "proxy-a"))
        #expect(atA.owner == nil && atA.ownerURI == nil, "A holds the flow itself")
        // Written back by B (a refresh it mirrors) the row keeps A as owner.
        let again = StoredBinding(atB, user: "bob", owner: "proxy-b", ownerURI: "sip:127.0.0.52:5060", now: self.now, wallNow: self.wall)
        #expect(again.owner == "proxy-a" && again.ownerURI == "sip:127.0.0.51:5060")
    }

    @Test func mergeAddsReplacesAndRemovesOnlyOthersBindings() {
        var registrar = Registrar()
        let own = self.binding("<sip:bob@127.0.0.12:5062>")
        registrar.restore([(user: "bob", binding: own)], now: self.now)
        // A second phone of bob's, registered through A.
        let remote = self.binding("<sip:bob@127.0.0.13:5062>", from: "127.0.0.13", owner: "proxy-a", ownerURI: "sip:127.0.0.51:5060")
        registrar.merge(self.changes(upserts: [("bob", remote)]), now: self.now)
        #expect(registrar.store.lookup("bob", now: self.now).count == 2)
        // Merged twice (a poll rereads): still one binding per Contact.
        registrar.merge(self.changes(upserts: [("bob", remote)]), now: self.now)
        #expect(registrar.store.lookup("bob", now: self.now).count == 2)
        // A removal of our own Contact from another proxy's tombstone leaves ours alone.
        let ownKey = StoredBinding.Key(user: "bob", contact: Binding.contactKey(own.contact.uri))
        let remoteKey = StoredBinding.Key(user: "bob", contact: Binding.contactKey(remote.contact.uri))
        registrar.merge(self.changes(removals: [ownKey, remoteKey]), now: self.now)
        let left = registrar.store.lookup("bob", now: self.now)
        #expect(left.count == 1 && left.first?.owner == nil, "\(left)")
        // The phone moved to A: A's row replaces our binding for that Contact.
        var moved = own
        moved.owner = "proxy-a"
        moved.ownerURI = "sip:127.0.0.51:5060"
        registrar.merge(self.changes(upserts: [("bob", moved)]), now: self.now)
        #expect(registrar.store.lookup("bob", now: self.now).map(\.owner) == ["proxy-a"])
        #expect(registrar.store.bindingCount == 1)
    }

    @Test func postgresURLs() throws {
        #expect(try PostgresBindingStore.validate("postgresql://sip@127.0.0.59:5433/sip") == "postgresql://sip@127.0.0.59:5433/sip")
        #expect(try PostgresBindingStore.validate("postgres://sip:secret@127.0.0.59/reg") == "postgresql://sip@127.0.0.59:5432/reg",
                "no password in what status shows")
        #expect(try PostgresBindingStore.validate("postgresql://sip@localhost") == "postgresql://sip@localhost:5432/sip")
        for bad in ["", "sqlite:/tmp/x", "postgresql://127.0.0.1/db", "postgresql://sip@/db", "http://sip@h/db"] {
            #expect(throws: BindingStoreError.self, "\(bad)") { try PostgresBindingStore.validate(bad) }
        }
    }

    @Test("a database call that never finishes gives up at its time limit, and a late result is dropped")
    func blockingCallsHaveATimeLimit() throws {
        let clock = ContinuousClock()
        let start = clock.now
        #expect(throws: PostgresBindingStore.BlockingTimeout.self) {
            _ = try PostgresBindingStore.blocking(timeout: .milliseconds(200)) {
                try await Task.sleep(for: .seconds(30))  // a query on a connection nobody answers any more
                return 1
            }
        }
        #expect(clock.now - start < .seconds(5))
        #expect(try PostgresBindingStore.blocking(timeout: .seconds(10)) { 42 } == 42)
        #expect("\(PostgresBindingStore.BlockingTimeout(timeout: .seconds(60)))" == "no answer in 60 s")
    }
}
