// BindingWriteBack: the write-behind queue of location changes, driven by hand-set times.

import NIOCore
import Testing

@testable import SIPProxy

@Suite struct BindingWriteBackTests {
    let t0 = NIODeadline.uptimeNanoseconds(5_000_000_000_000)

    func row(_ user: String, contact: String = "sip:x@127.0.0.12:5062", expires: Int64 = 100) -> StoredBinding {
        StoredBinding(
            user: user, contactKey: contact, aor: "sip:\(user)@127.0.0.10", contact: "<\(contact)>",
            expiresAt: WallClock(microseconds: expires * 1_000_000), callID: "c", cseq: 1, q: 1, transport: .udp,
            remoteIP: "127.0.0.12", remotePort: 5062, localIP: "127.0.0.10", localPort: 5060, owner: "me"
        )
    }

    @Test func aBatchIsDueOneDelayAfterItsFirstChangeNotBefore() {
        var queue = BindingWriteBack(delay: .seconds(1))
        let first = queue.record(.upsert(self.row("alice")), now: self.t0)
        #expect(first, "the first change starts a batch")
        let second = queue.record(.upsert(self.row("bob")), now: self.t0 + .milliseconds(900))
        #expect(!second, "joins it")
        #expect(queue.nextFlush == self.t0 + .seconds(1))
        let early = queue.take(now: self.t0 + .milliseconds(999))
        #expect(early == nil)
        let batch = queue.take(now: self.t0 + .seconds(1))
        #expect(batch.map(BindingWriteBack.ordered)?.map(\.key.user) == ["alice", "bob"])
        #expect(queue.isEmpty && queue.nextFlush == nil)
        let none = queue.take(now: self.t0 + .seconds(10))
        #expect(none == nil, "nothing left")
        let third = queue.record(.upsert(self.row("carol")), now: self.t0 + .seconds(3))
        #expect(third, "a new batch")
        #expect(queue.nextFlush == self.t0 + .seconds(4))
    }

    @Test func changesToOneBindingCoalesceToTheLatest() {
        var queue = BindingWriteBack()
        queue.record(.upsert(self.row("alice", expires: 100)), now: self.t0)
        queue.record(.upsert(self.row("alice", expires: 200)), now: self.t0)
        queue.record(.upsert(self.row("alice", contact: "sip:y@127.0.0.13")), now: self.t0)
        queue.record(.remove(self.row("bob").key), now: self.t0)
        queue.record(.upsert(self.row("bob")), now: self.t0)
        queue.record(.upsert(self.row("carol")), now: self.t0)
        queue.record(.remove(self.row("carol").key), now: self.t0)
        #expect(queue.count == 4)
        let batch = BindingWriteBack.ordered(queue.take(now: self.t0, force: true) ?? [])
        #expect(batch == [
            .remove(self.row("carol").key),
            .upsert(self.row("alice", expires: 200)),
            .upsert(self.row("alice", contact: "sip:y@127.0.0.13")),
            .upsert(self.row("bob")),
        ])
    }

    @Test func forceTakesABatchBeforeItIsDue() {
        var queue = BindingWriteBack(delay: .seconds(1))
        queue.record(.upsert(self.row("alice")), now: self.t0)
        let forced = queue.take(now: self.t0, force: true)
        #expect(forced?.count == 1, "shutdown writes at once")
        let again = queue.take(now: self.t0, force: true)
        #expect(again == nil)
    }

    @Test func aFailedBatchIsRetriedLaterUnderNewerChanges() {
        var queue = BindingWriteBack(delay: .seconds(1), retryDelay: .seconds(5))
        queue.record(.upsert(self.row("alice", expires: 100)), now: self.t0)
        queue.record(.upsert(self.row("bob")), now: self.t0)
        let batch = queue.take(now: self.t0 + .seconds(1))!
        // While the write failed, alice refreshed: her newer row must win over the failed one.
        queue.record(.upsert(self.row("alice", expires: 300)), now: self.t0 + .milliseconds(1500))
        queue.failed(batch, now: self.t0 + .seconds(2))
        #expect(queue.nextFlush == self.t0 + .seconds(7), "retried after retryDelay, not hammered")
        let early = queue.take(now: self.t0 + .seconds(6))
        #expect(early == nil)
        let retry = BindingWriteBack.ordered(queue.take(now: self.t0 + .seconds(7)) ?? [])
        #expect(retry == [.upsert(self.row("alice", expires: 300)), .upsert(self.row("bob"))])
    }
}
