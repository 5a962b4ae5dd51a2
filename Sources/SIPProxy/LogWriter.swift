// LogWriter: log lines leave the event loops through a queue, and a writer thread puts them on stderr in batches.
//
// At info level the proxy logs two lines per SIP message. Written one `write(2)` each on the loop, they cost about
// a third of the loop's CPU per call (sipp-load.sh --log-level info: 0.86 CPU-s per 1,000 calls against 0.60 at
// warning), and a slow terminal (stderr over SSH) stopped the loop until it had taken every line: blocking I/O on
// an event loop. Now a line is appended to a buffer under a mutex; the writer thread writes what has gathered every
// 50 ms (sooner for a warning or a full batch) in one call.
//
//     loop: format line ── append (mutex) ──►  writer thread: swap buffer, write(2, all of it), sleep(50 ms)
//
// Bounded: past `capacity` octets waiting, lines are dropped and counted, and the next batch says how many, so a
// stuck terminal costs log lines, never memory or a loop. A `critical` line (the process may be about to end) is
// written before `log` returns, after everything queued before it.

import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class LogWriter: Sendable {
    /// The process's stderr writer.
    public static let standardError = LogWriter(fileDescriptor: STDERR_FILENO)

    private struct State {
        var pending: [UInt8] = []
        var dropped = 0
        var writerStarted = false
        var shutDown = false
    }

    private let fd: Int32
    private let capacity: Int
    private let state = Mutex(State())
    /// Serializes the actual writes (the thread's batches and synchronous flushes), so batches never interleave.
    private let writing = Mutex(())
    private let thread = WriterThread()
    static let interval = 50_000  // microseconds
    /// A batch this large wakes the writer at once.
    static let wakeOctets = 64 << 10

    init(fileDescriptor: Int32, capacity: Int = 8 << 20) {
        self.fd = fileDescriptor
        self.capacity = capacity
    }

    /// Queues a finished line (with its newline). Never blocks on the file descriptor unless `immediately`.
    public func write(_ line: String, immediately: Bool = false, urgent: Bool = false) {
        let (start, wake) = self.state.withLock { state -> (Bool, Bool) in
            if state.pending.count + line.utf8.count > self.capacity {
                state.dropped += 1
                return (false, false)
            }
            state.pending.append(contentsOf: line.utf8)
            let start = !state.writerStarted && !state.shutDown
            if start { state.writerStarted = true }
            return (start, urgent || state.pending.count >= Self.wakeOctets)
        }
        if start { self.thread.start { self.run() } }
        if immediately {
            self.flush()
        } else if wake {
            self.thread.wake()
        }
    }

    /// Writes everything queued so far before returning.
    public func flush() {
        self.writing.withLock { _ in
            let batch = self.take()
            self.put(batch)
        }
    }

    private func take() -> [UInt8] {
        self.state.withLock { state -> [UInt8] in
            var batch: [UInt8] = []
            swap(&batch, &state.pending)
            if state.dropped > 0 {
                batch.append(contentsOf: "(\(state.dropped) log lines dropped: stderr was not taking them fast enough)\n".utf8)
                state.dropped = 0
            }
            return batch
        }
    }

    private func put(_ batch: [UInt8]) {
        var offset = 0
        while offset < batch.count {
            let n = batch[offset...].withUnsafeBytes { Glibc.write(self.fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }  // stderr closed or broken: the lines have nowhere to go
            offset += n
        }
    }

    private func run() {
        while true {
            self.thread.sleep(for: .microseconds(Int64(Self.interval)))
            self.flush()
            if self.state.withLock({ $0.shutDown }) { return }
        }
    }

    /// Writes what is queued and ends the writer thread (the process is exiting).
    public func shutdown() {
        let started = self.state.withLock { state -> Bool in
            state.shutDown = true
            return state.writerStarted
        }
        self.flush()
        if started {
            self.thread.wake()
            self.thread.join()
        }
    }
}
