// Registrar.restore: bindings loaded from a location backend at start, under the registrar's limits.

import NIOCore
import Testing

@testable import SIPProxy

@Suite struct RegistrarRestoreTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    func binding(_ user: String, _ n: Int, expiresIn seconds: Int64 = 600) -> (user: String, binding: Binding) {
        let address = try! SocketAddress(ipAddress: "127.0.0.12", port: 5000 + n)
        return (
            user,
            Binding(
                aor: "sip:\(user)@127.0.0.10",
                contact: NameAddress.parse("<sip:\(user)@127.0.0.12:\(5000 + n)>")!,
                expiresAt: self.t0 + .seconds(seconds),
                callID: "c\(n)",
                cseq: 1,
                source: Peer(transport: .udp, remote: address, local: try! SocketAddress(ipAddress: "127.0.0.10", port: 5060)),
                q: 1
            )
        )
    }

    @Test func restoredBindingsAreFoundAsRegisteredOnes() {
        var registrar = Registrar()
        let kept = registrar.restore([self.binding("alice", 1), self.binding("bob", 2), self.binding("bob", 3)], now: self.t0)
        #expect(kept == 3)
        #expect(registrar.store.lookup("bob", now: self.t0).count == 2)
        #expect(registrar.store.isKnown("alice"))
        #expect(registrar.store.isRegisteredSource(try! SocketAddress(ipAddress: "127.0.0.12", port: 5001)))
        #expect(registrar.store.lookup("alice", now: self.t0)[0].remaining(at: self.t0) == 600)
    }

    @Test func limitsHoldAndTheLongestLivedAreKept() {
        var registrar = Registrar(policy: RegistrarPolicy(maxContacts: 2, maxBindings: 3))
        let kept = registrar.restore(
            [
                self.binding("bob", 1, expiresIn: 100), self.binding("bob", 2, expiresIn: 300),
                self.binding("bob", 3, expiresIn: 200), self.binding("carol", 4), self.binding("dave", 5),
            ],
            now: self.t0
        )
        #expect(kept == 3)
        #expect(registrar.store.lookup("bob", now: self.t0).map(\.callID).sorted() == ["c2", "c3"])
        #expect(registrar.store.bindingCount == 3)
    }

    @Test func lapsedBindingsAndDuplicatesAreLeftOut() {
        var registrar = Registrar()
        let kept = registrar.restore(
            [self.binding("bob", 1, expiresIn: 0), self.binding("bob", 2), self.binding("bob", 2)], now: self.t0
        )
        #expect(kept == 1)
        #expect(registrar.store.lookup("bob", now: self.t0).count == 1)
    }
}
