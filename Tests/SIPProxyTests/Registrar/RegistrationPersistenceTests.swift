// RegistrationPersistence: what reaches the backend, with a recording backend and hand-set clocks. No test waits
// on the thread's timing: `close()` writes what is pending and joins the thread.

import Logging
import NIOCore
import Synchronization
import Testing

@testable import SIPProxy

/// A backend that keeps what it is given (and can be told to fail).
final class RecordingStore: BindingStore, @unchecked Sendable {
    let location = "test:memory"
    let instanceID = "proxy-a"
    let openingNotice: String? = nil
    let rows: [StoredBinding]
    let batches = Mutex<[[BindingChange]]>([])
    let failing = Mutex(false)
    let closed = Mutex(false)

    init(rows: [StoredBinding] = []) { self.rows = rows }

    func load(now: WallClock) throws(BindingStoreError) -> [StoredBinding] { self.rows }
    func apply(_ changes: [BindingChange]) throws(BindingStoreError) {
        if self.failing.withLock({ $0 }) { throw BindingStoreError(.write, "disk full") }
        self.batches.withLock { $0.append(changes) }
    }
    func close() { self.closed.withLock { $0 = true } }
}

@Suite struct RegistrationPersistenceTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    let wall = WallClock(microseconds: 1_765_000_000_000_000)

    func request(_ user: String, expires: Int) -> SIPRequest {
        let text = [
            "REGISTER sip:127.0.0.10:5060 SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.12:5062;branch=z9hG4bK-\(user)-\(expires)",
            "From: <sip:\(user)@127.0.0.10>;tag=f1",
            "To: <sip:\(user)@127.0.0.10>",
            "Call-ID: reg-\(user)",
            "CSeq: \(expires == 0 ? 2 : 1) REGISTER",
            "Contact: <sip:\(user)@127.0.0.12:5062>",
            "Expires: \(expires)",
            "Content-Length: 0",
        ].joined(separator: "\r\n") + "\r\n\r\n"
        guard case .request(let request) = try! SIPParser().parse(Array(text.utf8)) else { fatalError() }
        return request
    }

    var peer: Peer {
        Peer(
            transport: .udp, remote: try! SocketAddress(ipAddress: "127.0.0.12", port: 5062),
            local: try! SocketAddress(ipAddress: "127.0.0.10", port: 5060)
        )
    }

    func persistence(_ store: RecordingStore) -> RegistrationPersistence {
        RegistrationPersistence(
            store: store, logger: Logger(label: "test"), wallClock: { self.wall }, clock: { self.t0 }
        )
    }

    @Test func registrarChangesReachTheBackendAndCloseWritesThem() {
        let store = RecordingStore()
        let persistence = self.persistence(store)
        let service = LocationService(persistence: persistence)
        persistence.start()
        _ = service.register(self.request("alice", expires: 600), source: self.peer, authenticated: false, now: self.t0)
        _ = service.register(self.request("bob", expires: 600), source: self.peer, authenticated: false, now: self.t0)
        _ = service.register(self.request("bob", expires: 0), source: self.peer, authenticated: false, now: self.t0)
        persistence.close()
        let written = store.batches.withLock { $0 }.flatMap { $0 }
        #expect(written.count == 2, "bob's add and removal coalesced into the removal: \(written)")
        #expect(written.contains(.remove(StoredBinding.Key(user: "bob", contact: "sip:bob@127.0.0.12:5062"))))
        guard case .upsert(let alice)? = written.first(where: { $0.key.user == "alice" }) else {
            Issue.record("no row for alice: \(written)")
            return
        }
        #expect(alice.expiresAt == self.wall.adding(seconds: 600) && alice.owner == "proxy-a")
        #expect(store.closed.withLock { $0 })
        let status = persistence.status
        #expect(status.written == 2 && status.pending == 0 && status.writeErrors == 0 && status.lastFlush == self.wall)
    }

    @Test func sweptBindingsAreDeleted() {
        let store = RecordingStore()
        let persistence = self.persistence(store)
        let service = LocationService(persistence: persistence)
        _ = service.register(self.request("alice", expires: 600), source: self.peer, authenticated: false, now: self.t0)
        let swept = service.sweep(now: self.t0 + .seconds(601))
        #expect(swept.count == 1)
        persistence.start()
        persistence.close()
        let written = store.batches.withLock { $0 }.flatMap { $0 }
        #expect(written == [.remove(StoredBinding.Key(user: "alice", contact: "sip:alice@127.0.0.12:5062"))])
    }

    @Test func storedBindingsAreRestoredWithTheirRemainingTime() {
        let row = StoredBinding(
            user: "carol", contactKey: "sip:carol@127.0.0.12:5062", aor: "sip:carol@127.0.0.10",
            contact: "<sip:carol@127.0.0.12:5062>", expiresAt: self.wall.adding(seconds: 120), callID: "c", cseq: 3,
            q: 1, transport: .udp, remoteIP: "127.0.0.12", remotePort: 5062, localIP: "127.0.0.10", localPort: 5060,
            owner: "proxy-a"
        )
        let persistence = self.persistence(RecordingStore(rows: [row]))
        let service = LocationService(persistence: persistence)
        #expect(service.restore(now: self.t0) == 1)
        #expect(service.lookup("carol", now: self.t0).first?.remaining(at: self.t0) == 120)
        #expect(persistence.status.loaded == 1)
        persistence.close()  // never started: closes the backend without a thread
    }

    @Test func aFailedWriteIsCountedAndKeptForRetry() {
        let store = RecordingStore()
        store.failing.withLock { $0 = true }
        let persistence = self.persistence(store)
        let service = LocationService(persistence: persistence)
        persistence.start()
        _ = service.register(self.request("alice", expires: 600), source: self.peer, authenticated: false, now: self.t0)
        persistence.close()
        let status = persistence.status
        #expect(status.writeErrors >= 1 && status.lastError == "disk full" && status.pending == 1, "\(status)")
    }
}
