// StoredBinding: a binding's expiry carried across the monotonic clock of two runs by wall-clock time, and its
// flow as a later run can use it.

import NIOCore
import Testing

@testable import SIPProxy

@Suite struct StoredBindingTests {
    let run1 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    /// A later run's monotonic clock starts anew: smaller than the first run's.
    let run2 = NIODeadline.uptimeNanoseconds(20_000_000_000)
    let wall = WallClock(microseconds: 1_765_000_000_000_000)

    func binding(_ transport: TransportKind = .udp, contact: String = "<sip:bob@127.0.0.12:5062>") -> Binding {
        Binding(
            aor: "sip:bob@127.0.0.10",
            contact: NameAddress.parse(contact)!,
            expiresAt: self.run1 + .seconds(3600),
            callID: "reg-1",
            cseq: 7,
            source: Peer(
                transport: transport,
                remote: try! SocketAddress(ipAddress: "127.0.0.12", port: 40_000),
                local: try! SocketAddress(ipAddress: "127.0.0.10", port: 5060),
                connection: transport == .udp ? nil : ConnectionID(rawValue: 3)
            ),
            q: 0.5
        )
    }

    @Test func remainingExpiryCarriesOverLessTheTimeDown() throws {
        let stored = StoredBinding(self.binding(), user: "bob", owner: "proxy-a", now: self.run1, wallNow: self.wall)
        #expect(stored.expiresAt == self.wall.adding(seconds: 3600))
        #expect(stored.owner == "proxy-a")
        // Down 100 s: the next run sees 3500 s left, on its own clock.
        let back = try #require(stored.binding(now: self.run2, wallNow: self.wall.adding(seconds: 100), ownInstance: "proxy-a"))
        #expect(back.remaining(at: self.run2) == 3500)
        #expect(back.contact == self.binding().contact && back.callID == "reg-1" && back.cseq == 7 && back.q == 0.5)
        #expect(back.source == self.binding().source)
        #expect(back.owner == nil, "our own binding")
        let other = try #require(stored.binding(now: self.run2, wallNow: self.wall, ownInstance: "proxy-b"))
        #expect(other.owner == "proxy-a", "another instance's flow")
    }

    @Test func aLapsedBindingIsNotRestored() {
        let stored = StoredBinding(self.binding(), user: "bob", owner: "a", now: self.run1, wallNow: self.wall)
        #expect(stored.binding(now: self.run2, wallNow: self.wall.adding(seconds: 3600), ownInstance: "a") == nil)
        #expect(stored.binding(now: self.run2, wallNow: self.wall.adding(seconds: 3599), ownInstance: "a") != nil)
    }

    @Test func aConnectionFlowComesBackWithoutItsConnection() throws {
        let stored = StoredBinding(self.binding(.tcp), user: "bob", owner: "a", now: self.run1, wallNow: self.wall)
        #expect(stored.flowIsConnection)
        let back = try #require(stored.binding(now: self.run2, wallNow: self.wall, ownInstance: "a"))
        #expect(back.source.transport == .tcp && back.source.connection == nil, "the proxy connects anew")
        #expect(back.source.remote == self.binding().source.remote)
    }

    @Test func outboundInstanceAndRegIDAreKeptApart() {
        let b = self.binding(contact: "<sip:bob@127.0.0.12:5062>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=2")
        let stored = StoredBinding(b, user: "bob", owner: "a", now: self.run1, wallNow: self.wall)
        #expect(stored.instance == "\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"")
        #expect(stored.regID == 2)
    }

    @Test func unreadableFieldsAndHugeExpiriesNeverTrap() {
        var stored = StoredBinding(self.binding(), user: "bob", owner: "a", now: self.run1, wallNow: self.wall)
        stored.remoteIP = "not-an-ip"
        #expect(stored.binding(now: self.run2, wallNow: self.wall, ownInstance: "a") == nil)
        stored.remoteIP = "127.0.0.12"
        stored.expiresAt = WallClock(microseconds: .max)
        let back = stored.binding(now: self.run2, wallNow: WallClock(microseconds: .min), ownInstance: "a")
        #expect(back?.remaining(at: self.run2) == RegistrarPolicy.expiresLimit, "clamped to 2**32-1 s")
    }
}
