// JournalDatabaseWriter: copies the call journal into a shared database, behind the journal file.
//
//     CallJournal thread ── calls.jsonl written ── append(record) ──► JournalBacklog (mutex, bounded)
//                                                                          │
//     journal database thread (WriterThread) ── peek batch ── store.insert (one transaction) ── removeFirst
//
// The file stays the crash-safe local record; the database copy is best effort but complete while the database
// answers: a failed batch stays queued and is retried every `retryInterval`, a database outage is logged once and
// once more when it is over, and a full backlog drops (and counts) new records rather than grow without bound.
// Neither the event loops nor the journal thread ever wait for the database: only this thread does.

import Foundation
import Logging
import NIOCore
import Synchronization

/// The write-behind copy of the call journal in a database (`--journal-db`).
public final class JournalDatabaseWriter: Sendable {
    /// What the writer has done, for logs and tests.
    public struct Status: Codable, Sendable, Equatable {
        public var location: String
        public var instance: String
        /// Records queued, not yet written.
        public var pending: Int
        /// Records written (or found already there) so far.
        public var written: Int
        /// Records refused because the backlog was full.
        public var dropped: Int
        /// Since when the database cannot be written; nil while it answers.
        public var unreachableSince: WallClock?
        public var lastError: String?
    }

    private struct State {
        var backlog: JournalBacklog
        var written = 0
        var unreachableSince: WallClock?
        var lastError: String?
        /// A full backlog was logged in this outage.
        var fullLogged = false
        var started = false
        var stopping = false
    }

    /// `@unchecked Sendable` box: the store is only used on the writer's thread (and after it stopped).
    private final class Store: @unchecked Sendable {
        let store: any CallRowStore
        init(_ store: any CallRowStore) { self.store = store }
    }

    /// The proxy written in every row (`--instance-id`, else the location store's or its SIP URI).
    public let instance: String
    private let store: Store
    private let location: String
    private let state: Mutex<State>
    private let thread = WriterThread()
    private let logger: Logger
    private let batchSize: Int
    private let retryInterval: TimeAmount
    private let closeTimeout: TimeAmount
    private let wallClock: @Sendable () -> WallClock

    public init(
        store: any CallRowStore,
        instance: String,
        capacity: Int = 100_000,
        batchSize: Int = 500,
        retryInterval: TimeAmount = .seconds(1),
        closeTimeout: TimeAmount = .seconds(5),
        logger: Logger,
        wallClock: @escaping @Sendable () -> WallClock = { WallClock.now() }
    ) {
        self.store = Store(store)
        self.location = store.location
        self.instance = instance
        self.state = Mutex(State(backlog: JournalBacklog(capacity: capacity)))
        self.logger = logger
        self.batchSize = max(1, batchSize)
        self.retryInterval = retryInterval
        self.closeTimeout = closeTimeout
        self.wallClock = wallClock
    }

    /// Starts the thread that writes the queued records.
    public func start() {
        self.state.withLock { $0.started = true }
        self.thread.start { [self] in self.run() }
    }

    /// Queues ended calls (called on the journal thread after they reached the file). Returns at once.
    public func append(_ records: [CallRecord]) {
        guard !records.isEmpty else { return }
        let (wake, refused, logFull) = self.state.withLock { state -> (Bool, Int, Bool) in
            guard !state.stopping else { return (false, 0, false) }
            let wasEmpty = state.backlog.isEmpty
            let refused = state.backlog.append(records)
            let logFull = refused > 0 && !state.fullLogged
            if logFull { state.fullLogged = true }
            // An empty backlog means the thread sleeps until woken; otherwise it is writing or waiting to retry
            // (waking it would retry a database that is down once per call).
            return (wasEmpty, refused, logFull)
        }
        if logFull {
            self.logger.error(
                "call journal: \(refused) call(s) not queued for \(self.location), the backlog is full; they are only in the journal file"
            )
        }
        if wake { self.thread.wake() }
    }

    public var status: Status {
        self.state.withLock { state in
            Status(
                location: self.location, instance: self.instance, pending: state.backlog.count,
                written: state.written, dropped: state.backlog.dropped, unreachableSince: state.unreachableSince,
                lastError: state.lastError
            )
        }
    }

    /// Writes what is pending (waiting at most `closeTimeout` for a database that does not answer), stops the
    /// thread and closes the connection. Later calls do nothing.
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
        self.store.store.close()
    }

    // MARK: Thread

    private func run() {
        var giveUpAt: NIODeadline?
        while true {
            let (batch, stopping) = self.state.withLock { ($0.backlog.peek(self.batchSize), $0.stopping) }
            if stopping && giveUpAt == nil { giveUpAt = .now() + self.closeTimeout }
            if batch.isEmpty {
                if stopping { return }
                self.thread.sleep(for: nil)
                continue
            }
            do {
                try self.store.store.insert(batch, instance: self.instance)
                self.written(batch.count)
            } catch {
                self.failed(error)
                if let giveUpAt, NIODeadline.now() >= giveUpAt {
                    let left = self.state.withLock { $0.backlog.count }
                    self.logger.error(
                        "call journal: stopping with \(left) call(s) not written to \(self.location); they are in the journal file"
                    )
                    return
                }
                self.thread.sleep(for: self.retryInterval)
            }
        }
    }

    private func written(_ count: Int) {
        let (was, caughtUp) = self.state.withLock { state -> (WallClock?, Int) in
            state.backlog.removeFirst(count)
            state.written += count
            defer {
                state.unreachableSince = nil
                state.fullLogged = false
            }
            return (state.unreachableSince, state.backlog.count + count)
        }
        guard let was else { return }
        let down = String(format: "%.1f", max(0, self.wallClock().seconds(since: was)))
        self.logger.notice(
            "call journal: \(self.location) reachable again after \(down) s, catching up \(caughtUp) call(s)")
    }

    private func failed(_ error: CallLogError) {
        let now = self.wallClock()
        let (first, pending) = self.state.withLock { state -> (Bool, Int) in
            defer {
                state.lastError = error.description
                state.unreachableSince = state.unreachableSince ?? now
            }
            return (state.unreachableSince == nil, state.backlog.count)
        }
        // Once per outage: a database that is down must not fill the log every retry.
        if first {
            self.logger.error("call journal: \(error.description); \(pending) call(s) kept queued, retrying")
        }
    }
}

extension JournalDatabaseWriter.Status {
    /// One line for `sipctl status`: where, as whom, how the copy goes.
    public func summary(now: WallClock) -> String {
        var line = "\(self.location) as \(self.instance), \(self.written) calls written, \(self.pending) pending"
        if self.dropped > 0 { line += ", \(self.dropped) dropped (backlog full)" }
        if let since = self.unreachableSince {
            line += "; UNREACHABLE for \(String(format: "%.0f", max(0, now.seconds(since: since)))) s, calls queued"
            if let error = self.lastError { line += " (\(error))" }
        }
        return line
    }
}
