// TraceRecorder: the façade of the SIP trace recorder. As the transport's `WireTap` it is told on the event loop of
// every SIP message read or written (TraceRecorder+WireTap) and `record`s it; a dedicated writer thread frames the
// events and writes the pcap ring buffer.

import Dispatch
import Logging
import NIOPosix
import Synchronization

/// Records SIP traffic into a rotating ring of pcap files.
///
/// Thread model:
/// - `record(_:)` runs on the caller's thread (the NIO event loop) and never blocks on I/O: it checks an atomic
///   flag (not recording: return), then under a mutex applies the filter and appends the event to a bounded queue
///   (`TraceSettings.queueCapacity` events and `queueByteBudget` payload octets). When the queue is full the event
///   is dropped and counted in `TraceStatus.drops`; memory never grows without bound.
/// - One writer thread (a `WriterThread`, as for the call journal, started on the first `start`) takes the whole
///   queue at once (swapping arrays under the mutex), frames the events (`PacketFramer`), writes and flushes them
///   (`PcapWriter`), and sleeps until new events arrive or a flush or rotation is due.
/// - `start`, `stop` and `shutdown` are serialized with each other and wait for the writer: `start` until the first
///   file is open, `stop` until every event queued before it is written and the file closed. They may block for the
///   time of that disk I/O, so call them off the event loop when that matters.
/// - Call `shutdown()` before dropping the last reference: the writer thread holds the recorder until then.
///
/// The transport reaches it as its `WireTap` (on the event loop, for every message read or written: bytes and
/// addresses only; the recorder parses a message itself when its filter needs the method, a user or the Call-ID),
/// and hears of the end of each TCP connection, so that the stream gets its FIN exchange. Others (the media relay)
/// call `record` with a `TraceEvent` directly.
public final class TraceRecorder: Sendable {
    enum Item: Sendable {
        case event(TraceEvent)
        case start(TraceSettings, Reply)
        case stop(Reply)
    }

    /// A one-shot answer from the writer thread.
    final class Reply: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        private let error = Mutex<TraceError?>(nil)

        func finish(_ error: TraceError?) {
            self.error.withLock { $0 = error }
            self.semaphore.signal()
        }

        func wait() -> TraceError? {
            self.semaphore.wait()
            return self.error.withLock { $0 }
        }
    }

    struct State: Sendable {
        var recording = false
        var settings = TraceSettings()
        var queue: [Item] = []
        var queuedEvents = 0
        var queuedBytes = 0
        /// The writer is (about to be) asleep: the next enqueue wakes it.
        var writerWaiting = false
        var writerStarted = false
        var shutDown = false
        /// Test hook: the writer leaves the queue alone.
        var paused = false
        // Published by the writer (drops also by `record`); reset by `start`.
        var currentFile: String?
        var bytes: Int64 = 0
        var records: Int64 = 0
        var drops: Int64 = 0
        var filesKept = 0
        var lastError: String?
    }

    /// Events queued before `record` wakes the writer early.
    static let wakeBatch = 256
    /// Longest sleep of the writer while recording, in microseconds: bounds how long a record waits in memory.
    static let pollInterval: Int64 = 50_000

    private let logger: Logger
    /// Mirror of `State.recording` for the lock-free early return of `record` (the mutex holds the truth).
    private let recordingFlag = Atomic<Bool>(false)
    /// The active filter looks at parsed fields: `record` parses what it is given.
    private let parsedFilterFlag = Atomic<Bool>(false)
    private let parser = SIPParser()
    private let state = Mutex(State())
    /// Serializes `start`, `stop` and `shutdown`.
    private let control = Mutex(())
    /// The writer's thread (`WriterThread`, shared design with the call journal).
    private let thread = WriterThread()
    /// The recent messages for `sipctl trace follow`, filled whether or not files are being recorded.
    public let follow = TraceFollowBuffer()
    /// Other consumers of the same events (HEP), fixed at creation: `record` fans out without a lock.
    let sinks: [any TraceSink]

    /// - Parameter sinks: consumers that get every event whether or not files are being recorded (`TraceSink`).
    public init(logger: Logger, sinks: [any TraceSink] = []) {
        self.logger = logger
        self.sinks = sinks
    }

    // MARK: Control

    /// Starts recording into `settings.directory` (created with its parents), or restarts with new settings
    /// (stopping the current recording first). Returns once the first file is open. Throws `.invalidSettings`,
    /// `.directory` (cannot create or write the directory) or `.file` (libpcap cannot open the file).
    public func start(_ settings: TraceSettings) throws(TraceError) {
        try settings.validate()
        try self.control.withLock { _ throws(TraceError) in
            let notice = try TraceFileSystem.createDirectory(settings.directory, permissions: settings.fileAccess)
            if let notice { self.logger.notice("trace directory: \(notice)") }
            self.stopLocked()
            let reply = Reply()
            let (startWriter, wake) = try self.state.withLock { state throws(TraceError) -> (Bool, Bool) in
                guard !state.shutDown else { throw TraceError(.invalidSettings, "the trace recorder is shut down") }
                state.recording = true
                state.settings = settings
                state.currentFile = nil
                state.bytes = 0
                state.records = 0
                state.drops = 0
                state.lastError = nil
                state.queue.append(.start(settings, reply))
                let startWriter = !state.writerStarted
                state.writerStarted = true
                return (startWriter, Self.takeWakeup(&state))
            }
            if startWriter {
                self.thread.start { self.writerLoop() }
            }
            if wake { self.thread.wake() }
            self.parsedFilterFlag.store(settings.filter?.needsSummary ?? false, ordering: .releasing)
            self.recordingFlag.store(true, ordering: .releasing)
            if let error = reply.wait() {
                self.state.withLock { $0.recording = false }
                self.recordingFlag.store(false, ordering: .releasing)
                throw error
            }
            self.logger.info("trace recording started", metadata: ["directory": "\(settings.directory)"])
        }
    }

    /// Stops recording: every event recorded before is written, the file flushed and closed. No-op when not
    /// recording.
    public func stop() {
        self.control.withLock { _ in self.stopLocked() }
    }

    /// `stop`, then ends the writer thread. The recorder cannot be started again.
    public func shutdown() {
        self.control.withLock { _ in
            self.stopLocked()
            let (started, wake) = self.state.withLock { state -> (Bool, Bool) in
                guard !state.shutDown else { return (false, false) }
                state.shutDown = true
                return (state.writerStarted, Self.takeWakeup(&state))
            }
            guard started else { return }
            if wake { self.thread.wake() }
            self.thread.join()
        }
    }

    private func stopLocked() {
        let reply = Reply()
        let wake: Bool? = self.state.withLock { state in
            guard state.recording else { return nil }
            state.recording = false
            state.paused = false
            state.queue.append(.stop(reply))
            return Self.takeWakeup(&state)
        }
        self.recordingFlag.store(false, ordering: .releasing)
        guard let wake else { return }
        if wake { self.thread.wake() }
        _ = reply.wait()
        self.logger.info("trace recording stopped")
    }

    /// Whether the writer must be signalled, clearing its waiting flag (call with the state locked).
    private static func takeWakeup(_ state: inout State) -> Bool {
        guard state.writerWaiting else { return false }
        state.writerWaiting = false
        return true
    }

    // MARK: Recording

    /// Whether files are being recorded.
    public var isRecording: Bool { self.recordingFlag.load(ordering: .relaxed) }

    /// Whether `record` would keep anything (files, or a `trace follow`): callers skip building events (copying
    /// payloads) when it is false.
    public var isTapped: Bool {
        self.recordingFlag.load(ordering: .relaxed) || self.follow.isActive || self.sinks.contains { $0.isActive }
    }

    /// Hands the event to a follower if one is active, and queues it for the writer if recording and the filter
    /// matches (dropped and counted if the queue is full). Never blocks on I/O; safe from any thread.
    public func record(_ event: TraceEvent) {
        for sink in self.sinks where sink.isActive { sink.consume(event) }
        if self.follow.isActive { self.follow.append(event, now: DispatchTime.now().uptimeNanoseconds) }
        guard self.recordingFlag.load(ordering: .relaxed) else { return }
        var event = event
        if event.summary == nil && self.parsedFilterFlag.load(ordering: .relaxed) {
            // The transport edge hands over bytes and addresses only; a filter on parsed fields (method, user,
            // Call-ID) makes the recorder read them, before queueing, so filtered-out messages take no queue room.
            event.summary = TraceSummary(parsing: event.payload, parser: self.parser)
        }
        let wake = self.state.withLock { state -> Bool in
            guard state.recording else { return false }
            if let filter = state.settings.filter, !filter.matches(event) { return false }
            guard state.queuedEvents < state.settings.queueCapacity,
                state.queuedBytes + event.payload.count <= state.settings.queueByteBudget
            else {
                state.drops += 1
                return false
            }
            state.queue.append(.event(event))
            state.queuedEvents += 1
            state.queuedBytes += event.payload.count
            // Waking the writer for every message costs a futex round trip per message on the SIP thread; it
            // polls every `Self.pollInterval` anyway, so only a full batch or flush-every-record wakes it early.
            guard state.settings.flushInterval == 0 || state.queuedEvents >= Self.wakeBatch else { return false }
            return Self.takeWakeup(&state)
        }
        if wake { self.thread.wake() }
    }

    public func status() -> TraceStatus {
        self.state.withLock { state in
            TraceStatus(
                recording: state.recording,
                currentFile: state.currentFile,
                bytes: state.bytes,
                records: state.records,
                drops: state.drops,
                filesKept: state.filesKept,
                settings: state.settings,
                lastError: state.lastError
            )
        }
    }

    /// Test hook: while paused the writer takes nothing from the queue (so it fills up). `stop` unpauses.
    func setWriterPausedForTesting(_ paused: Bool) {
        let wake = self.state.withLock { state -> Bool in
            state.paused = paused
            return paused ? false : Self.takeWakeup(&state)
        }
        if wake { self.thread.wake() }
    }

    // MARK: Writer thread

    private func writerLoop() {
        var framer = PacketFramer()
        var writer: PcapWriter?
        var batch: [Item] = []

        while true {
            var exit = false
            let took = self.state.withLock { state -> Bool in
                if !state.paused && !state.queue.isEmpty {
                    swap(&state.queue, &batch)
                    state.queuedEvents = 0
                    state.queuedBytes = 0
                    return true
                }
                if state.shutDown && state.queue.isEmpty {
                    exit = true
                    return false
                }
                state.writerWaiting = true
                return false
            }
            if exit { break }
            if !took {
                // Sleep until an enqueue signals, a flush is due, or a second passes (duration rotation).
                let idle: Int64 = writer == nil ? 1_000_000 : Self.pollInterval
                let micros = min(writer?.microsecondsUntilFlush() ?? idle, idle)
                self.thread.sleep(for: .microseconds(micros))
                self.state.withLock { $0.writerWaiting = false }
                writer?.tick()
                self.publish(writer, events: 0, drops: 0, error: nil)
                continue
            }
            var events: Int64 = 0
            var drops: Int64 = 0
            var lastError: TraceError?
            for item in batch {
                switch item {
                case .event(let event):
                    guard let writer else { continue }
                    do throws(TraceError) {
                        if writer.prepareForGroup(ofAtMost: PacketFramer.estimatedFileSize(of: event)) {
                            framer.resynchronize()
                        }
                        try writer.write(try framer.frames(for: event))
                        if event.kind == .message { events += 1 }
                    } catch {
                        drops += 1
                        if lastError == nil { self.logger.warning("trace: \(error.detail)") }
                        lastError = error
                    }
                case .start(let settings, let reply):
                    writer?.close()
                    writer = nil
                    framer = PacketFramer()
                    do throws(TraceError) {
                        let opened = try PcapWriter(configuration: PcapWriter.Configuration(settings))
                        try opened.rotate()
                        writer = opened
                        self.publish(writer, events: events, drops: drops, error: lastError)
                        (events, drops, lastError) = (0, 0, nil)
                        reply.finish(nil)
                    } catch {
                        reply.finish(error)
                    }
                case .stop(let reply):
                    writer?.close()
                    self.publish(writer, events: events, drops: drops, error: lastError)
                    (events, drops, lastError) = (0, 0, nil)
                    writer = nil
                    framer = PacketFramer()
                    reply.finish(nil)
                }
            }
            batch.removeAll(keepingCapacity: true)
            writer?.tick()
            self.publish(writer, events: events, drops: drops, error: lastError)
        }
        writer?.close()
    }

    /// Copies the writer's counters into the state (under the mutex, for `status`).
    private func publish(_ writer: PcapWriter?, events: Int64, drops: Int64, error: TraceError?) {
        let path = writer?.currentPath
        let bytes = writer?.bytesWritten
        let kept = writer?.filesKept
        let writeError = writer?.lastWriteError
        self.state.withLock { state in
            state.currentFile = path
            if let bytes { state.bytes = bytes }
            if let kept { state.filesKept = kept }
            state.records += events
            state.drops += drops
            if let error { state.lastError = error.detail }
            if let writeError { state.lastError = writeError }
        }
    }
}
