// BindingWriteBack: the queue of location-store changes waiting to be written to the backend, as a pure value.
//
// Kamailio's usrloc `db_mode: write-back` keeps the location table in memory and writes what changed to the
// database from a timer; we do the same: the registrar changes the in-memory store at once (the hot path) and
// records each change here; the backend's thread takes a batch at most `delay` after the oldest pending change
// and writes it in one transaction. Changes to one binding coalesce (only the latest state is written), so a phone
// refreshing twice within the delay costs one row write, and the queue never holds more entries than bindings.
//
//     registrar (any loop) ── record(change, now) ──► pending[key] = change
//     writer thread ── take(now) at `nextFlush` ──► [BindingChange] ── backend.apply ──► done / failed(batch)
//
// No clock is read here: every call passes `now`, so tests drive time by hand.

import NIOCore

/// Pending backend writes, coalesced per binding.
public struct BindingWriteBack: Sendable {
    /// Longest a change waits before its batch is due.
    public let delay: TimeAmount
    /// After a failed write, how long before the next attempt (a full or read-only disk is not hammered).
    public let retryDelay: TimeAmount
    private var pending: [StoredBinding.Key: BindingChange] = [:]
    /// When the current batch is due: the oldest pending change plus `delay` (or the retry time).
    public private(set) var nextFlush: NIODeadline?

    public init(delay: TimeAmount = .seconds(1), retryDelay: TimeAmount = .seconds(5)) {
        self.delay = delay
        self.retryDelay = retryDelay
    }

    /// Changes waiting.
    public var count: Int { self.pending.count }
    public var isEmpty: Bool { self.pending.isEmpty }

    /// Queues a change; a later change to the same binding replaces an earlier one. Returns true when this starts
    /// a new batch (the writer has nothing scheduled and must be woken to schedule it).
    @discardableResult
    public mutating func record(_ change: BindingChange, now: NIODeadline) -> Bool {
        self.pending[change.key] = change
        guard self.nextFlush == nil else { return false }
        self.nextFlush = now + self.delay
        return true
    }

    /// The changes to write when their batch is due at `now` (or at once with `force`, at shutdown), in no
    /// particular order (keys are unique within a batch, so the order has no effect); nil when there is nothing to
    /// write yet. The queue is empty afterwards. Cheap: it runs under the mutex the event loops queue through.
    public mutating func take(now: NIODeadline, force: Bool = false) -> [BindingChange]? {
        guard let due = self.nextFlush, !self.pending.isEmpty else {
            self.nextFlush = nil
            return nil
        }
        guard force || due <= now else { return nil }
        let batch = Array(self.pending.values)
        self.pending = [:]
        self.nextFlush = nil
        return batch
    }

    /// A batch in a stable order, removals first, then upserts, each by key: what the backend writes, so a
    /// batch's effect reads the same in a backend's log and the tests are exact. Sorted off the mutex.
    ///
    /// The keys are taken out once and positions are sorted, not the changes: sorting the changes themselves
    /// copied a whole binding and rebuilt two keys per comparison, a tenth of the CPU of a registration burst.
    public static func ordered(_ batch: [BindingChange]) -> [BindingChange] {
        let keys = batch.map { change -> (remove: Bool, user: String, contact: String) in
            let key = change.key
            if case .remove = change { return (true, key.user, key.contact) }
            return (false, key.user, key.contact)
        }
        let order = keys.indices.sorted { i, j in
            let a = keys[i]
            let b = keys[j]
            if a.remove != b.remove { return a.remove }
            return a.user != b.user ? a.user < b.user : a.contact < b.contact
        }
        return order.map { batch[$0] }
    }

    /// Puts back a batch the backend could not write, under the changes recorded since (those are newer), and
    /// schedules the next attempt `retryDelay` from `now`.
    public mutating func failed(_ batch: [BindingChange], now: NIODeadline) {
        for change in batch where self.pending[change.key] == nil {
            self.pending[change.key] = change
        }
        guard !self.pending.isEmpty else { return }
        let retry = now + self.retryDelay
        self.nextFlush = max(self.nextFlush ?? retry, retry)
    }
}
