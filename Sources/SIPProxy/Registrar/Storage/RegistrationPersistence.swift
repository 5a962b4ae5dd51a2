// RegistrationPersistence: runs a location backend behind the event loops (issue 16 item 1).
//
//     LocationService (under its mutex, any loop) ── record(changes) ──► BindingWriteBack (mutex)
//                                                                              │ at most `delay` later
//     persistence thread (WriterThread) ── take batch ── backend.apply (one transaction) ──► counters for status
//
// The loops never wait for the disk: `record` converts the bindings to their stored form, queues them and, when
// that starts a new batch, wakes the thread (once per batch, not per REGISTER). `load` runs once at start, before
// the shards process anything. `close` writes what is pending, then stops the thread (graceful shutdown); a
// SIGKILL loses at most the changes of the last `delay`.

import Dispatch
import Foundation
import Logging
import NIOCore
import Synchronization

/// The write-behind side of the location service.
public final class RegistrationPersistence: Sendable {
    /// What `sipctl status` and `registrations` show about the backend.
    public struct Status: Codable, Sendable, Equatable {
        /// `sqlite:/path/registrations.sqlite`.
        public var location: String
        public var instanceID: String
        /// Bindings loaded at start, and what was dropped or set aside then.
        public var loaded: Int
        public var notice: String?
        /// Changes queued, not yet written.
        public var pending: Int
        /// Batches and changes written so far, and when the last batch was.
        public var flushes: Int
        public var written: Int
        public var lastFlush: WallClock?
        /// Failed batches (their changes are retried) and the last failure.
        public var writeErrors: Int
        public var lastError: String?
        /// Since when the backend cannot be reached (a database outage); nil while it answers. Calls go on from
        /// the in-memory store meanwhile, and the changes wait in the queue.
        public var unreachableSince: WallClock?
        /// A shared backend: whether other proxies' changes arrive as notices (LISTEN/NOTIFY) now, rather than
        /// by polling alone; nil for a backend of this proxy only.
        public var listening: Bool?
    }

    private struct State {
        var queue: BindingWriteBack
        var status: Status
        var started = false
        var stopping = false
        var stopped = false
    }

    /// `@unchecked Sendable` box: the backend is only touched on the persistence thread, or before it starts
    /// (`load`) and after it stopped.
    private final class Backend: @unchecked Sendable {
        let store: any BindingStore
        init(_ store: any BindingStore) { self.store = store }
    }

    private let backend: Backend
    private let state: Mutex<State>
    private let thread = WriterThread()
    private let logger: Logger
    private let wallClock: @Sendable () -> WallClock
    private let clock: @Sendable () -> NIODeadline
    /// How often a shared backend is asked for other proxies' changes while it sends no change notices (issue 16
    /// item 2: within a second), and while it does (a safety net: the notices make the poll happen at once).
    private let pollInterval: TimeAmount
    private let listeningPollInterval: TimeAmount
    /// Set by a change notice from another proxy: the persistence thread polls at its next turn.
    private let pollRequested = Atomic<Bool>(false)
    /// Where other proxies' changes go (the location service's merge); set once, before `start()`.
    private let remoteSink = Mutex<(@Sendable (RemoteChanges) -> Void)?>(nil)

    /// Other proxies' bindings that changed, on this proxy's monotonic clock.
    public struct RemoteChanges: Sendable {
        public var upserts: [(user: String, binding: Binding)]
        public var removals: [StoredBinding.Key]
    }

    /// The owner id written in rows.
    public let instanceID: String

    public init(
        store: any BindingStore,
        delay: TimeAmount = .seconds(1),
        logger: Logger,
        wallClock: @escaping @Sendable () -> WallClock = { WallClock.now() },
        clock: @escaping @Sendable () -> NIODeadline = { NIODeadline.now() },
        pollInterval: TimeAmount = .milliseconds(500),
        listeningPollInterval: TimeAmount = .seconds(5)
    ) {
        self.backend = Backend(store)
        self.pollInterval = pollInterval
        self.listeningPollInterval = listeningPollInterval
        self.logger = logger
        self.wallClock = wallClock
        self.clock = clock
        self.instanceID = store.instanceID
        self.state = Mutex(
            State(
                queue: BindingWriteBack(delay: delay),
                status: Status(
                    location: store.location, instanceID: store.instanceID, loaded: 0, notice: store.openingNotice,
                    pending: 0, flushes: 0, written: 0, lastFlush: nil, writeErrors: 0, lastError: nil
                )
            )
        )
    }

    /// Reads the stored bindings that are still live, as registrar bindings on the monotonic clock, grouped by
    /// user. Call once, before `start()`. A read failure is logged and gives no bindings (never fatal).
    public func load() -> [(user: String, binding: Binding)] {
        let wallNow = self.wallClock()
        let now = self.clock()
        let started = NIODeadline.now()
        let rows: [StoredBinding]
        do {
            rows = try self.backend.store.load(now: wallNow)
        } catch {
            self.logger.error("registrations: \(error.message); starting with none")
            self.state.withLock { $0.status.lastError = error.message }
            return []
        }
        let notice = self.backend.store.openingNotice
        if let notice { self.logger.error("registrations: \(notice)") }
        let read = NIODeadline.now()
        let loaded = rows.compactMap { row in
            row.binding(now: now, wallNow: wallNow, ownInstance: self.instanceID).map { (row.user, $0) }
        }
        self.logger.debug(
            "registrations: read \(rows.count) row(s) in \((read - started).nanoseconds / 1_000_000) ms, parsed in \((NIODeadline.now() - read).nanoseconds / 1_000_000) ms"
        )
        self.state.withLock {
            $0.status.loaded = loaded.count
            $0.status.notice = notice
        }
        if rows.count != loaded.count {
            self.logger.warning("registrations: skipped \(rows.count - loaded.count) unreadable row(s) of \(self.backend.store.location)")
        }
        return loaded
    }

    /// Whether the backend is shared with other proxies (their bindings are merged in as they change).
    public var isShared: Bool { self.backend.store is any SharedBindingStore }

    /// Sets where other proxies' changes are delivered (on the persistence thread). Call before `start()`.
    func onRemoteChanges(_ sink: @escaping @Sendable (RemoteChanges) -> Void) {
        self.remoteSink.withLock { $0 = sink }
    }

    /// Starts the thread that writes the queued changes.
    public func start() {
        self.state.withLock { $0.started = true }
        self.thread.start { [self] in self.run() }
    }

    /// Queues the changes of one registrar operation. Called under the location service's mutex, so changes to
    /// one binding are queued in the order they were made. Returns at once.
    func record(_ changes: [RegistrationResult.Change], user: String, now: NIODeadline) {
        guard !changes.isEmpty else { return }
        let wallNow = self.wallClock()
        let stored = changes.map { change -> BindingChange in
            switch change {
            case .added(let b), .refreshed(let b):
                return .upsert(StoredBinding(b, user: user, owner: self.instanceID, now: now, wallNow: wallNow))
            case .removed(let b):
                return .remove(StoredBinding.Key(user: user, contact: Binding.contactKey(b.contact.uri)))
            }
        }
        let queueNow = self.clock()
        let wake = self.state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            var first = false
            for change in stored where state.queue.record(change, now: queueNow) { first = true }
            return first
        }
        if wake { self.thread.wake() }
    }

    public var status: Status {
        self.state.withLock { state in
            var status = state.status
            status.pending = state.queue.count
            // An atomic flag of the store's listener task: safe to read from any thread.
            status.listening = (self.backend.store as? any SharedBindingStore)?.isListening
            return status
        }
    }

    /// Writes what is pending, stops the thread and closes the backend (graceful shutdown). Later calls do nothing.
    public func close() {
        let (first, started) = self.state.withLock { state -> (Bool, Bool) in
            defer { state.stopping = true }
            return (!state.stopping, state.started)
        }
        guard first else { return }
        if started {
            self.thread.wake()
            self.thread.join()
        }
        self.backend.store.close()
    }

    // MARK: Thread

    private func run() {
        let shared = self.backend.store as? any SharedBindingStore
        var lastPoll = self.clock()
        // Another proxy's commit wakes this thread to poll at once (LISTEN/NOTIFY), instead of at the next tick.
        shared?.startListening { [self] in
            self.pollRequested.store(true, ordering: .releasing)
            self.thread.wake()
        }
        while true {
            let nextPoll = lastPoll + (shared?.isListening == true ? self.listeningPollInterval : self.pollInterval)
            let (batch, stopping, nextFlush) = self.state.withLock { state in
                let stopping = state.stopping
                let batch = state.queue.take(now: self.clock(), force: stopping)
                if stopping { state.stopped = true }
                return (batch, stopping, state.queue.nextFlush)
            }
            if let batch { self.write(batch) }
            if stopping {
                // What was queued between the last take and `stopped` (none can be queued afterwards).
                if let rest = self.state.withLock({ $0.queue.take(now: self.clock(), force: true) }) { self.write(rest) }
                return
            }
            if let shared, self.pollRequested.exchange(false, ordering: .acquiringAndReleasing) || self.clock() >= nextPoll {
                self.poll(shared)
                lastPoll = self.clock()
                continue
            }
            if batch == nil {
                // Until the batch is due, or until woken by the first change of a new batch (or by close); a
                // shared backend also until the next poll.
                var wait = nextFlush.map { $0 - self.clock() }
                if shared != nil {
                    let untilPoll = nextPoll - self.clock()
                    wait = min(wait ?? untilPoll, untilPoll)
                }
                self.thread.sleep(for: wait)
            }
        }
    }

    /// Reads other proxies' changes and hands them to the location service.
    private func poll(_ store: any SharedBindingStore) {
        let wallNow = self.wallClock()
        let now = self.clock()
        let changes: [BindingChange]
        do {
            changes = try store.poll(now: wallNow)
        } catch {
            let first = self.state.withLock { state -> Bool in
                defer {
                    state.status.lastError = error.message
                    state.status.unreachableSince = state.status.unreachableSince ?? wallNow
                }
                return state.status.unreachableSince == nil
            }
            if first { self.logger.error("registrations: \(error.message); calls go on from memory, retrying") }
            return
        }
        self.backOnline()
        guard !changes.isEmpty, let sink = self.remoteSink.withLock({ $0 }) else { return }
        var remote = RemoteChanges(upserts: [], removals: [])
        for change in changes {
            switch change {
            case .upsert(let row):
                if let binding = row.binding(now: now, wallNow: wallNow, ownInstance: self.instanceID) {
                    remote.upserts.append((row.user, binding))
                } else {
                    remote.removals.append(row.key)
                }
            case .remove(let key):
                remote.removals.append(key)
            }
        }
        sink(remote)
    }

    /// The backend answered again after an outage: one log line; the pending changes go at their next flush.
    private func backOnline() {
        let (was, pending) = self.state.withLock { state -> (WallClock?, Int) in
            defer { state.status.unreachableSince = nil }
            return (state.status.unreachableSince, state.queue.count)
        }
        guard let was else { return }
        let down = String(format: "%.1f", max(0, self.wallClock().seconds(since: was)))
        self.logger.notice("registrations: \(self.backend.store.location) reachable again after \(down) s, \(pending) change(s) to catch up")
    }

    private func write(_ batch: [BindingChange]) {
        do {
            try self.backend.store.apply(BindingWriteBack.ordered(batch))
            let at = self.wallClock()
            self.state.withLock { state in
                state.status.flushes += 1
                state.status.written += batch.count
                state.status.lastFlush = at
            }
            self.backOnline()
        } catch {
            let first = self.state.withLock { state -> Bool in
                state.status.writeErrors += 1
                defer {
                    state.status.lastError = error.message
                    state.status.unreachableSince = state.status.unreachableSince ?? self.wallClock()
                }
                state.queue.failed(batch, now: self.clock())
                return state.status.lastError != error.message && state.status.unreachableSince == nil
            }
            // Once per outage: a full disk or a database that is down must not fill the log every retry.
            if first { self.logger.error("registrations: \(error.message); \(batch.count) change(s) kept for retry, calls go on from memory") }
        }
    }
}

extension RegistrationPersistence.Status {
    /// One line for `sipctl status` and `sipctl registrations`: where, what was loaded, how writing goes.
    public func summary(now: WallClock) -> String {
        var line = "\(self.location), \(self.loaded) loaded at start"
        if let last = self.lastFlush {
            line += ", last write \(String(format: "%.1f", max(0, now.seconds(since: last)))) s ago"
        } else {
            line += ", nothing written yet"
        }
        line += " (\(self.written) changes in \(self.flushes) batches), \(self.pending) pending, \(self.writeErrors) write errors"
        if let error = self.lastError { line += "; last error: \(error)" }
        if let listening = self.listening {
            line += listening ? "; other proxies' changes by notice" : "; other proxies' changes by polling"
        }
        if let since = self.unreachableSince {
            line += "; UNREACHABLE for \(String(format: "%.0f", max(0, now.seconds(since: since)))) s, calls go on from memory"
        }
        if let notice = self.notice { line += "\n  note: \(notice)" }
        return line
    }
}
