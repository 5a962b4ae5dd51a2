// WriterThread: the one way SIPProxy runs blocking file work off the event loops. The trace recorder (pcap files
// through libpcap) and the call journal (JSON Lines with fsync) each own one: a dedicated thread (a one-thread
// NIOThreadPool running a single long-lived loop) that sleeps until it is woken or a deadline passes. The loops
// only queue work under a mutex and wake the thread; they never wait for the disk.
//
//     event loop ── queue.append (mutex) ── wake() ──►  writer thread: take the queue, write, sleep(for:)

import Dispatch
import NIOCore
import NIOPosix

final class WriterThread: Sendable {
    private let pool = NIOThreadPool(numberOfThreads: 1)
    /// Counts wake-ups, so one given before the thread sleeps is not lost.
    private let wakeup = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)

    /// Runs `body` on the thread; call once. `body` returns when its owner is shutting down.
    func start(_ body: @escaping @Sendable () -> Void) {
        self.pool.start()
        self.pool.submit { _ in
            body()
            self.exited.signal()
        }
    }

    /// Wakes the thread if it sleeps (or makes its next sleep return at once).
    func wake() {
        self.wakeup.signal()
    }

    /// On the thread: sleeps until woken or `timeout` passes (nil: until woken). True when woken.
    @discardableResult
    func sleep(for timeout: TimeAmount?) -> Bool {
        guard let timeout else {
            self.wakeup.wait()
            return true
        }
        return self.wakeup.wait(timeout: .now() + .nanoseconds(Int(max(0, timeout.nanoseconds)))) == .success
    }

    /// Waits until `body` has returned (waking the thread every 100 ms in case it checked its queue just before
    /// the owner asked it to stop), then releases the thread.
    func join() {
        while self.exited.wait(timeout: .now() + .milliseconds(100)) == .timedOut {
            self.wakeup.signal()
        }
        self.pool.shutdownGracefully { _ in }
    }
}
