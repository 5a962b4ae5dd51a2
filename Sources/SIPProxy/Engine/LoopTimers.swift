// LoopTimers: the timers of one event loop (a shard), kept in a `TimerWheel` and driven by a single scheduled
// NIO task, so starting or cancelling a timer costs a dictionary insert or removal, not a heap operation, a lock
// and a promise.
//
//     schedule(in: 500 ms) --> wheel slot            one NIO task: wake at the next due tick,
//     cancel(id)           --> wheel.live.remove     advance the wheel, run what fired, sleep again
//
// The clock is injected: the proxy uses `NIODeadline.now()`, tests a `ManualClock` they move by hand and then call
// `fireDue()`, so timer-driven behaviour (Timer B, C, H, no-answer forwarding) is tested without sleeping.

import NIOCore

/// A clock the tests move by hand.
public final class ManualClock: @unchecked Sendable {
    // `@unchecked Sendable`: read and moved only on the test's event loop (or the test itself, between steps).
    public private(set) var now: NIODeadline

    public init(_ start: NIODeadline = .uptimeNanoseconds(1_000_000_000)) {
        self.now = start
    }

    public func advance(by amount: TimeAmount) {
        self.now = self.now + amount
    }
}

/// Timers of one event loop.
///
/// `@unchecked Sendable`: all state is confined to `eventLoop` (checked with `assertInEventLoop`); the scheduled
/// tick runs there too.
final class LoopTimers: @unchecked Sendable {
    /// How a timer's deadline is rounded: timers fire on the first tick at or after their deadline, so never early
    /// and at most one tick late. 10 ms is far below T1 (500 ms) and every other SIP timer.
    static let defaultResolution = TimeAmount.milliseconds(10)

    let eventLoop: EventLoop
    let clock: @Sendable () -> NIODeadline
    let resolution: TimeAmount
    /// Whether a NIO task drives the wheel; false in tests, which call `fireDue()` after moving their clock.
    let drivesItself: Bool
    private var wheel: TimerWheel<() -> Void>
    private let origin: NIODeadline
    private var wakeUp: Scheduled<Void>?
    private var wakeUpTick: Int64?
    /// Timers fired since start, for `sipctl status`.
    private(set) var firedCount: UInt64 = 0

    init(
        eventLoop: EventLoop,
        clock: @escaping @Sendable () -> NIODeadline = { .now() },
        resolution: TimeAmount = LoopTimers.defaultResolution,
        drivesItself: Bool = true
    ) {
        self.eventLoop = eventLoop
        self.clock = clock
        self.resolution = resolution
        self.drivesItself = drivesItself
        self.origin = clock()
        self.wheel = TimerWheel(slotCount: 512)
    }

    /// Pending timers.
    var count: Int { self.wheel.count }

    /// Runs `body` on the event loop after `delay` (rounded up to the resolution).
    @discardableResult
    func schedule(in delay: TimeAmount, _ body: @escaping () -> Void) -> TimerID {
        self.eventLoop.assertInEventLoop()
        let due = self.tick(at: self.clock() + delay, roundingUp: true)
        let id = self.wheel.schedule(body, atTick: due)
        self.wake(at: due)
        return id
    }

    /// Cancels a timer; harmless when it already fired.
    func cancel(_ id: TimerID?) {
        guard let id else { return }
        self.eventLoop.assertInEventLoop()
        self.wheel.cancel(id)
        // The wake-up task stays: when it finds nothing due it just sleeps again (cheaper than rescheduling).
    }

    func isPending(_ id: TimerID) -> Bool { self.wheel.isPending(id) }

    /// Runs every timer due by the clock's current time, in deadline order, including timers that those timers
    /// start and that are already due.
    func fireDue() {
        self.eventLoop.assertInEventLoop()
        let now = self.tick(at: self.clock(), roundingUp: false)
        while true {
            let due = self.wheel.advance(to: now)
            if due.isEmpty { break }
            self.firedCount &+= UInt64(due.count)
            for body in due { body() }
        }
        self.armWakeUp()
    }

    /// Cancels the wake-up task (shutdown). Pending timers stay in the wheel and never fire.
    func stop() {
        self.wakeUp?.cancel()
        self.wakeUp = nil
        self.wakeUpTick = nil
    }

    // MARK: Ticks

    private func tick(at deadline: NIODeadline, roundingUp: Bool) -> Int64 {
        let elapsed = (deadline - self.origin).nanoseconds
        let step = self.resolution.nanoseconds
        if elapsed <= 0 { return 0 }
        return roundingUp ? (elapsed + step - 1) / step : elapsed / step
    }

    private func deadline(ofTick tick: Int64) -> NIODeadline {
        self.origin + .nanoseconds(tick * self.resolution.nanoseconds)
    }

    /// Makes sure the loop wakes up by tick `due`.
    private func wake(at due: Int64) {
        guard self.drivesItself else { return }
        if let current = self.wakeUpTick, current <= due { return }
        self.wakeUp?.cancel()
        self.wakeUpTick = due
        self.wakeUp = self.eventLoop.scheduleTask(deadline: self.deadline(ofTick: due)) { [weak self] in
            guard let self else { return }
            self.wakeUp = nil
            self.wakeUpTick = nil
            self.fireDue()
        }
    }

    /// After firing: sleep until the next pending timer.
    private func armWakeUp() {
        guard self.drivesItself, let next = self.wheel.nextWakeTick() else { return }
        self.wake(at: next)
    }
}
