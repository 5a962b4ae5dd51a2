// LoopLatencyProbe: how late one shard's event loop runs a task it was asked to run at a given time. A loop busy
// with messages (or blocked by mistake) runs its timers late; the lateness is the delay every message waiting in
// that loop suffers too.

import CoreMetrics
import NIOCore
import Synchronization

/// Schedules a task every `interval` on `eventLoop` and records, through swift-metrics, how long after its deadline
/// it ran.
///
/// `@unchecked Sendable`: `next` is only touched on `eventLoop`; `stopped` is atomic.
final class LoopLatencyProbe: @unchecked Sendable {
    let eventLoop: any EventLoop
    let interval: TimeAmount
    let timer: CoreMetrics.Timer
    private let stopped = Atomic<Bool>(false)
    private var next: Scheduled<Void>?

    init(eventLoop: any EventLoop, interval: TimeAmount, timer: CoreMetrics.Timer) {
        self.eventLoop = eventLoop
        self.interval = interval
        self.timer = timer
    }

    func start() {
        self.eventLoop.execute { self.schedule() }
    }

    func stop() {
        self.stopped.store(true, ordering: .relaxed)
        self.eventLoop.execute {
            self.next?.cancel()
            self.next = nil
        }
    }

    private func schedule() {
        guard !self.stopped.load(ordering: .relaxed) else { return }
        let deadline = NIODeadline.now() + self.interval
        self.next = self.eventLoop.scheduleTask(deadline: deadline) {
            let late = NIODeadline.now() - deadline
            self.timer.recordNanoseconds(max(0, late.nanoseconds))
            self.schedule()
        }
    }
}
