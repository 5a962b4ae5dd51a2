// CallJournal: writes ended calls to a JSON Lines file (and optionally a human-readable log), off the event loop.
//
//     calls.jsonl              one CallRecord per line, appended (O_APPEND), fsync'ed per the durability policy
//     calls-20261201-103318.jsonl   rotated files (renamed when over the size limit or at a new day)
//     calls.inprogress.jsonl   the calls in progress, rewritten atomically (temp file + rename) at most once a
//                              second; `recover()` turns what a killed proxy left there into `interrupted` records
//     calls.log                `10:33:18 alice called bob`, `10:33:24 bob answered alice`, ...
//
// All file work runs on one dedicated thread: `record(_:)` and `append(_:)` only queue and return. The journal is
// ordered: a record is never written after one queued later.

import Foundation
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let systemWrite = Glibc.write
private let systemClose = Glibc.close
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
private let systemClose = Darwin.close
#endif

/// The call journal on disk.
///
/// `@unchecked Sendable`: the queue is behind `state`'s mutex; the writer is only used on the journal thread (and
/// before it starts, or after it stopped).
public final class CallJournal: @unchecked Sendable {
    /// When written lines are forced to disk (fsync).
    public enum Durability: Sendable, Equatable {
        /// After every record.
        case everyRecord
        /// At most this many seconds after a record was written (default 1 s).
        case interval(Double)
    }

    public struct Configuration: Sendable {
        /// The journal (default `calls.jsonl` in the working directory).
        public var path: String
        /// The human-readable log, nil for none (`calls.log` is the usual name).
        public var textLogPath: String?
        public var durability: Durability = .interval(1)
        /// Rotate when the file would grow beyond this many bytes; nil for no size limit.
        public var maxBytes: Int? = 64 << 20
        /// Rotate when a record is written on a later (local) day than the file's previous one.
        public var rotateDaily = false
        /// Minimum seconds between two rewrites of the in-progress snapshot.
        public var snapshotInterval: Double = 1
        /// Zone of the text log's times and of the rotated file names.
        public var timeZone: TimeZone = .current

        public init(path: String = "calls.jsonl", textLogPath: String? = nil) {
            self.path = path
            self.textLogPath = textLogPath
        }

        /// `calls.inprogress.jsonl` beside the journal.
        public var snapshotPath: String { CallJournal.sibling(of: self.path, suffix: ".inprogress") }
    }

    public let configuration: Configuration
    private struct State {
        var queue: [@Sendable (Writer) -> Void] = []
        var stopping = false
    }
    private let state = Mutex(State())
    private let writer: Writer
    /// The journal's thread (`WriterThread`, shared design with the trace recorder).
    private let thread = WriterThread()

    /// Opens (or creates) the files and starts the journal thread. Reads what a previous run left in the snapshot
    /// so `recover()` can journal it.
    public init(configuration: Configuration) throws(CallLogError) {
        self.configuration = configuration
        self.writer = try Writer(configuration: configuration)
        self.thread.start { [self] in self.run() }
    }

    // MARK: API

    /// Feeds the tracker's events: `.ended` appends the record; every event updates the in-progress snapshot and
    /// the text log. Returns at once.
    public func record(_ events: [CallEvent]) {
        guard !events.isEmpty else { return }
        self.submit { writer in
            for event in events { writer.handle(event, now: .now()) }
        }
    }

    /// Appends one record. Returns at once.
    public func append(_ record: CallRecord) {
        self.submit { writer in writer.append(record, now: .now()) }
    }

    /// Turns the calls a killed proxy left in progress into `interrupted` records (ended at the snapshot's last
    /// rewrite), journals them durably and returns them. Call once at start, before the first event.
    @discardableResult
    public func recover() throws(CallLogError) -> [CallRecord] {
        let result = self.perform { writer in writer.recover(now: .now()) }
        return try result.get()
    }

    /// Copies every record written from now on into a shared database as well (`--journal-db`), after it reached
    /// the file: the file stays the local record, the copy is written behind by `database`'s own thread.
    public func copy(to database: JournalDatabaseWriter) {
        self.perform { writer in writer.database = database }
    }

    /// Waits until everything queued is written and synced (tests, shutdown).
    public func flush() {
        self.perform { writer in writer.sync(force: true, now: .now()) }
    }

    /// Flushes, writes the last snapshot and stops the thread. Later calls are ignored.
    public func close() {
        self.flush()
        let first = self.state.withLock { state -> Bool in
            defer { state.stopping = true }
            return !state.stopping
        }
        guard first else { return }
        self.thread.wake()
        self.thread.join()
    }

    /// Warnings met while writing (failed writes, renames); cleared when read.
    public func takeWarnings() -> [String] {
        self.perform { writer in
            defer { writer.warnings = [] }
            return writer.warnings
        }
    }

    // MARK: Thread

    /// Queued records that wake the thread early; below that it takes them on its next poll.
    static let wakeBatch = 64
    /// How long the thread sleeps at most: the delay of a record in the files when few are queued.
    static let pollInterval = TimeAmount.milliseconds(100)

    private func submit(_ work: @escaping @Sendable (Writer) -> Void) {
        // Waking the thread for every call event costs a futex wake per SIP message on the event loop (1.8 % of
        // the CPU at 300 calls/s): it polls every `pollInterval` anyway, so only a batch, or a journal that must
        // be synced per record, wakes it at once.
        let perRecord = self.configuration.durability == .everyRecord
        let wake = self.state.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.queue.append(work)
            return perRecord || state.queue.count >= Self.wakeBatch
        }
        if wake { self.thread.wake() }
    }

    /// Runs `work` on the journal thread and waits for its result.
    private func perform<T>(_ work: @escaping @Sendable (Writer) -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        let accepted = self.state.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.queue.append { writer in
                box.value = work(writer)
                done.signal()
            }
            return true
        }
        if accepted {
            self.thread.wake()
            done.wait()
        } else {
            box.value = work(self.writer)  // the thread has stopped: nothing else touches the writer
        }
        return box.value!
    }

    private func run() {
        while true {
            let (work, stop) = self.state.withLock { state -> ([@Sendable (Writer) -> Void], Bool) in
                defer { state.queue = [] }
                return (state.queue, state.stopping)
            }
            if work.isEmpty && !stop {
                // Sleep until woken, the poll interval, or the writer's next fsync or snapshot, whichever is first.
                var wait = Self.pollInterval
                if let deadline = self.writer.nextDeadline {
                    wait = min(wait, .nanoseconds(Int64(max(0, deadline.seconds(since: .now())) * 1e9)))
                }
                if wait > .zero { self.thread.sleep(for: wait) }
                self.writer.sync(force: false, now: .now())
                continue
            }
            for item in work { item(self.writer) }
            self.writer.sync(force: false, now: .now())
            if stop {
                if self.state.withLock({ !$0.queue.isEmpty }) { continue }
                self.writer.sync(force: true, now: .now())
                self.writer.closeFiles()
                return
            }
        }
    }

    // MARK: Paths

    /// `calls.jsonl` + `.inprogress` → `calls.inprogress.jsonl`.
    static func sibling(of path: String, suffix: String) -> String {
        let (directory, stem, ext) = Self.split(path)
        return directory + stem + suffix + ext
    }

    /// (directory with trailing slash or "", stem, extension with dot or "").
    static func split(_ path: String) -> (String, String, String) {
        var directory = ""
        var name = Substring(path)
        if let slash = path.lastIndex(of: "/") {
            directory = String(path[...slash])
            name = path[path.index(after: slash)...]
        }
        if let dot = name.lastIndex(of: "."), dot != name.startIndex {
            return (directory, String(name[..<dot]), String(name[dot...]))
        }
        return (directory, String(name), "")
    }
}

/// Carries a result out of the journal thread (written before the semaphore is signalled, read after).
private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}

/// The journal's files; used only on the journal thread.
final class Writer {
    let configuration: CallJournal.Configuration
    private var journal: AppendFile
    private var textLog: AppendFile?
    /// Calls in progress, by key, for the snapshot.
    private var inProgress: [String: CallRecord] = [:]
    /// What a previous run left in the snapshot (read at open, journaled by `recover`).
    private var leftover: [CallRecord] = []
    private var leftoverTime: WallClock?
    private var snapshotDirty = false
    private var lastSnapshot = WallClock(microseconds: 0)
    /// When the unchanged snapshot's modification time was last refreshed: while calls are in progress it is
    /// kept within `snapshotInterval` of now, because `recover` ends interrupted calls at that time.
    private var lastTouch = WallClock(microseconds: 0)
    private var unsyncedSince: WallClock?
    /// The local day (yyyymmdd) of the journal's last write, for daily rotation.
    private var day: Int?
    var warnings: [String] = []
    /// Where written records are copied (`--journal-db`); nil for none.
    var database: JournalDatabaseWriter?

    init(configuration: CallJournal.Configuration) throws(CallLogError) {
        self.configuration = configuration
        self.journal = try AppendFile(path: configuration.path)
        if let text = configuration.textLogPath { self.textLog = try AppendFile(path: text) }
        // Rotated files an older version left readable by others are tightened like the live ones.
        for path in [configuration.path] + (configuration.textLogPath.map { [$0] } ?? []) {
            for file in CallJournalReader.files(for: path) where file != path { AppendFile.makeOwnerOnly(file) }
        }
        if self.journal.size > 0, let modified = AppendFile.modificationTime(configuration.path) {
            self.day = Self.dayNumber(modified, self.configuration.timeZone)
        }
        let snapshot = configuration.snapshotPath
        if let data = FileManager.default.contents(atPath: snapshot) {
            self.leftover = CallJournalReader.parse(data, name: snapshot, warnings: &self.warnings)
            self.leftoverTime = AppendFile.modificationTime(snapshot)
        }
    }

    /// When the thread must wake up without new work: a pending fsync or snapshot.
    var nextDeadline: WallClock? {
        var deadline: WallClock?
        if let since = self.unsyncedSince, case .interval(let seconds) = self.configuration.durability {
            deadline = since.adding(seconds: seconds)
        }
        if self.snapshotDirty || !self.inProgress.isEmpty {
            let next = max(self.lastSnapshot, self.lastTouch).adding(seconds: self.configuration.snapshotInterval)
            deadline = min(deadline ?? next, next)
        }
        return deadline
    }

    func handle(_ event: CallEvent, now: WallClock) {
        let record = event.record
        switch event {
        case .started:
            self.inProgress[record.key] = record
            self.text("\(record.callerUser) called \(record.calleeUser)", at: record.inviteAt)
        case .ringing:
            self.inProgress[record.key] = record
        case .answered:
            self.inProgress[record.key] = record
            self.text("\(record.calleeUser) answered \(record.callerUser)", at: record.answeredAt ?? now)
        case .mediaChanged(let record):
            let before = self.inProgress[record.key]
            self.inProgress[record.key] = record
            let types = record.media.filter(\.isActive).map(\.type).joined(separator: ", ")
            let change = record.videoAdded && before?.videoAdded != true ? "video added" : "media now \(types)"
            self.text("call \(record.callerUser)–\(record.calleeUser): \(change)", at: now)
        case .ended:
            self.inProgress[record.key] = nil
            self.append(record, now: now)
        }
        self.snapshotDirty = true
    }

    func append(_ record: CallRecord, now: WallClock) {
        let line = record.jsonLine()
        self.rotateIfNeeded(adding: line.utf8.count + 1, now: now)
        do {
            try self.journal.write(line + "\n")
        } catch {
            self.warnings.append(error.description)
        }
        self.day = Self.dayNumber(now, self.configuration.timeZone)
        self.database?.append([record])
        self.text(CallFormatter.endLine(record), at: record.endedAt ?? now)
        if self.configuration.durability == .everyRecord {
            self.sync(force: true, now: now)
        } else if self.unsyncedSince == nil {
            self.unsyncedSince = now
        }
    }

    private func text(_ line: String, at time: WallClock) {
        guard let textLog = self.textLog else { return }
        do {
            try textLog.write("\(time.timeOfDay(in: self.configuration.timeZone)) \(line)\n")
        } catch {
            self.warnings.append(error.description)
        }
        if self.unsyncedSince == nil { self.unsyncedSince = WallClock.now() }
    }

    /// fsyncs when due (or `force`), then rewrites the snapshot when due: the journal is on disk before a call
    /// leaves the snapshot, so a crash in between duplicates nothing that `recover` does not skip.
    func sync(force: Bool, now: WallClock) {
        // The batch just handled reaches the files now (one write each); fsync follows when due.
        do {
            try self.journal.flush()
            try self.textLog?.flush()
        } catch {
            self.warnings.append(error.description)
        }
        if let since = self.unsyncedSince {
            var due = force
            if case .interval(let seconds) = self.configuration.durability, now.seconds(since: since) >= seconds {
                due = true
            }
            if due {
                do {
                    try self.journal.sync()
                    try self.textLog?.sync()
                } catch {
                    self.warnings.append(error.description)
                }
                self.unsyncedSince = nil
            }
        }
        if self.snapshotDirty
            && (force || now.seconds(since: self.lastSnapshot) >= self.configuration.snapshotInterval)
        {
            if self.unsyncedSince != nil {
                try? self.journal.sync()
                self.unsyncedSince = nil
            }
            self.writeSnapshot(now: now)
        } else if !self.snapshotDirty && !self.inProgress.isEmpty
            && now.seconds(since: max(self.lastSnapshot, self.lastTouch)) >= self.configuration.snapshotInterval
        {
            // Nothing changed, but the calls are still up: a crash now must not end them at the last change
            // (an hour-long call would be journaled as a few seconds). Only the timestamp is refreshed.
            if utimes(self.configuration.snapshotPath, nil) != 0 {
                self.warnings.append(
                    "cannot touch \(self.configuration.snapshotPath): \(String(cString: strerror(errno)))")
            }
            self.lastTouch = now
        }
    }

    private func writeSnapshot(now: WallClock) {
        let records = self.inProgress.values.sorted { ($0.inviteAt, $0.key) < ($1.inviteAt, $1.key) }
        var text = ""
        for record in records {
            text += record.jsonLine() + "\n"
        }
        do {
            try AppendFile.replace(self.configuration.snapshotPath, with: text)
            self.snapshotDirty = false
            self.lastSnapshot = now
        } catch {
            self.warnings.append(error.description)
            self.lastSnapshot = now  // retried after the interval, not in a loop
        }
    }

    func recover(now: WallClock) -> Result<[CallRecord], CallLogError> {
        guard !self.leftover.isEmpty else { return .success([]) }
        let journaled = self.recentKeys()
        var out: [CallRecord] = []
        for var record in self.leftover where !journaled.contains(record.key) && self.inProgress[record.key] == nil {
            let last = [record.inviteAt, record.ringingAt, record.answeredAt].compactMap { $0 }.max() ?? now
            record.close(.interrupted, at: max(self.leftoverTime ?? now, last))
            out.append(record)
        }
        self.leftover = []
        for record in out {
            self.rotateIfNeeded(adding: 0, now: now)
            do {
                try self.journal.write(record.jsonLine() + "\n")
            } catch {
                return .failure(error)
            }
            self.text(CallFormatter.endLine(record), at: record.endedAt ?? now)
        }
        do {
            try self.journal.sync()
            try self.textLog?.sync()
        } catch {
            return .failure(error)
        }
        self.snapshotDirty = true
        self.writeSnapshot(now: now)
        return .success(out)
    }

    /// Keys of the records at the end of the current journal (the last 1 MiB), so `recover` does not write an
    /// `interrupted` copy of a call that ended just before the crash.
    private func recentKeys() -> Set<String> {
        guard let handle = FileHandle(forReadingAtPath: self.configuration.path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > 1 << 20 ? size - (1 << 20) : 0
        try? handle.seek(toOffset: start)
        guard let data = try? handle.readToEnd() else { return [] }
        var ignored: [String] = []
        return Set(CallJournalReader.parse(data, name: "", warnings: &ignored).map(\.key))
    }

    private func rotateIfNeeded(adding bytes: Int, now: WallClock) {
        var rotate = false
        if let limit = self.configuration.maxBytes, self.journal.size > 0, self.journal.size + bytes > limit {
            rotate = true
        }
        if self.configuration.rotateDaily, let day = self.day, self.journal.size > 0,
            Self.dayNumber(now, self.configuration.timeZone) != day
        {
            rotate = true
        }
        guard rotate else { return }
        do {
            try self.journal.sync()
            let target = CallJournalReader.rotatedName(for: self.configuration.path, at: now,
                timeZone: self.configuration.timeZone)
            self.journal.close()
            if rename(self.configuration.path, target) != 0 {
                self.warnings.append("cannot rotate \(self.configuration.path): \(String(cString: strerror(errno)))")
            }
            self.journal = try AppendFile(path: self.configuration.path)
        } catch {
            self.warnings.append(error.description)
        }
    }

    func closeFiles() {
        self.journal.close()
        self.textLog?.close()
    }

    static func dayNumber(_ time: WallClock, _ zone: TimeZone) -> Int {
        let f = time.fields(in: zone)
        return f.year * 10_000 + f.month * 100 + f.day
    }
}

/// A file opened for appending with POSIX calls, so fsync means what it says. Owner-only (0600, see `FileAccess`):
/// the journal says who called whom; a file an older version created with 0644 is tightened on open.
final class AppendFile {
    let path: String
    private var fd: Int32
    /// The file's size with what is still buffered.
    private(set) var size: Int
    /// Written but not yet handed to the system: the journal thread writes a batch of lines with one write(2)
    /// (`flush`, after each batch and before every fsync, rotation and close) instead of one per line.
    private var pending: [UInt8] = []
    /// Beyond this many buffered bytes a write goes out at once.
    static let bufferLimit = 64 * 1024

    init(path: String) throws(CallLogError) {
        self.path = path
        let fd: Int32
        do throws(FileAccessError) {
            fd = try FileAccess.ownerOnly.open(path, flags: O_WRONLY | O_APPEND)
        } catch {
            throw CallLogError(.io, error.description)
        }
        self.fd = fd
        var info = stat()
        self.size = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        if self.size > 0 && !Self.endsWithNewline(path) {
            // A line half-written by a crash: end it, so the next record starts on a line of its own (readers skip
            // the broken line with a warning).
            try self.write("\n")
        }
    }

    deinit { self.close() }

    /// Takes group and other permissions away from a file of ours (a rotated journal); errors leave it as it is.
    static func makeOwnerOnly(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0, info.st_uid == geteuid(), info.st_mode & 0o077 != 0 else { return }
        _ = chmod(path, info.st_mode & 0o700)
    }

    func write(_ text: String) throws(CallLogError) {
        guard self.fd >= 0 else { throw CallLogError(.io, "\(self.path) is closed") }
        self.pending.append(contentsOf: text.utf8)
        self.size += text.utf8.count
        if self.pending.count >= Self.bufferLimit { try self.flush() }
    }

    /// Hands the buffered lines to the system in one write (whole lines: a crash leaves at most the last one cut,
    /// which readers skip and the next open ends).
    func flush() throws(CallLogError) {
        guard !self.pending.isEmpty else { return }
        guard self.fd >= 0 else { throw CallLogError(.io, "\(self.path) is closed") }
        defer { self.pending.removeAll(keepingCapacity: self.pending.count <= Self.bufferLimit) }
        var offset = 0
        while offset < self.pending.count {
            let n = self.pending.withUnsafeBytes { raw in
                systemWrite(self.fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                self.size -= self.pending.count - offset
                throw CallLogError(.io, "cannot write \(self.path): \(reason)")
            }
            offset += n
        }
    }

    func sync() throws(CallLogError) {
        guard self.fd >= 0 else { return }
        try self.flush()
        if fsync(self.fd) != 0 {
            throw CallLogError(.io, "cannot sync \(self.path): \(String(cString: strerror(errno)))")
        }
    }

    func close() {
        if self.fd >= 0 {
            try? self.flush()
            _ = systemClose(self.fd)
            self.fd = -1
        }
    }

    static func endsWithNewline(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return true }
        defer { try? handle.close() }
        guard let end = try? handle.seekToEnd(), end > 0 else { return true }
        try? handle.seek(toOffset: end - 1)
        return (try? handle.read(upToCount: 1)) == Data([0x0A])
    }

    static func modificationTime(_ path: String) -> WallClock? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return WallClock(microseconds: Int64(info.st_mtim.tv_sec) * 1_000_000 + Int64(info.st_mtim.tv_nsec) / 1000)
    }

    /// Writes `text` to `path` atomically: a temp file beside it (owner-only), fsync, rename (POSIX rename is
    /// atomic, and the file keeps the temp file's mode).
    static func replace(_ path: String, with text: String) throws(CallLogError) {
        let temp = path + ".tmp"
        let fd: Int32
        do throws(FileAccessError) {
            fd = try FileAccess.ownerOnly.open(temp, flags: O_WRONLY | O_TRUNC)
        } catch {
            throw CallLogError(.io, error.description)
        }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in systemWrite(fd, raw.baseAddress! + offset, raw.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                _ = systemClose(fd)
                throw CallLogError(.io, "cannot write \(temp): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        fsync(fd)
        _ = systemClose(fd)
        guard rename(temp, path) == 0 else {
            throw CallLogError(.io, "cannot rename \(temp): \(String(cString: strerror(errno)))")
        }
    }
}
