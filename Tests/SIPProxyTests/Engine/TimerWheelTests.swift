// TimerWheel: a hashed timing wheel must fire every live timer exactly once, never early, in deadline order, and
// cancelled ones never, including timers many revolutions away and wheels holding 100,000 timers.

import Testing

@testable import SIPProxy

@Suite("TimerWheel")
struct TimerWheelTests {
    @Test("timers fire in due order, ties in scheduling order, none before its tick")
    func ordering() {
        var wheel = TimerWheel<String>(slotCount: 8)
        _ = wheel.schedule("c", atTick: 5)
        _ = wheel.schedule("a", atTick: 2)
        _ = wheel.schedule("b1", atTick: 3)
        _ = wheel.schedule("b2", atTick: 3)
        #expect(wheel.advance(to: 1).isEmpty)
        #expect(wheel.advance(to: 2) == ["a"])
        #expect(wheel.advance(to: 4) == ["b1", "b2"])
        #expect(wheel.advance(to: 5) == ["c"])
        #expect(wheel.isEmpty)
        #expect(wheel.advance(to: 100).isEmpty)
    }

    @Test("a jump over many ticks fires everything due, in order")
    func jump() {
        var wheel = TimerWheel<Int>(slotCount: 4)
        for due in [9, 1, 30, 4, 17] { _ = wheel.schedule(Int(due), atTick: Int64(due)) }
        #expect(wheel.advance(to: 20) == [1, 4, 9, 17])
        #expect(wheel.advance(to: 29).isEmpty)
        #expect(wheel.advance(to: 30) == [30])
    }

    @Test("a tick already passed fires on the next advance")
    func pastTick() {
        var wheel = TimerWheel<String>(slotCount: 8)
        _ = wheel.advance(to: 10)
        _ = wheel.schedule("late", atTick: 3)
        #expect(wheel.advance(to: 11) == ["late"])
    }

    @Test("cancelled timers never fire; cancelling twice or after firing says false")
    func cancellation() {
        var wheel = TimerWheel<String>(slotCount: 8)
        let a = wheel.schedule("a", atTick: 2)
        let b = wheel.schedule("b", atTick: 2)
        let far = wheel.schedule("far", atTick: 50)
        let first = wheel.cancel(a)
        let second = wheel.cancel(a)
        #expect(first && !second)
        #expect(wheel.count == 2)
        #expect(wheel.advance(to: 2) == ["b"])
        let afterFiring = wheel.cancel(b)
        let pending = wheel.cancel(far)
        #expect(!afterFiring, "already fired")
        #expect(pending)
        #expect(wheel.advance(to: 100).isEmpty)
        #expect(wheel.isEmpty)
    }

    @Test("timers many revolutions away wait for their round")
    func beyondOneRevolution() {
        var wheel = TimerWheel<Int64>(slotCount: 16)
        let dues: [Int64] = [16, 17, 32, 33, 1000, 16 * 64 + 3]
        for due in dues { _ = wheel.schedule(due, atTick: due) }
        var fired: [Int64] = []
        for tick in Int64(1)...1100 {
            let now = wheel.advance(to: tick)
            for due in now { #expect(due == tick, "timer for \(due) fired at \(tick)") }
            fired += now
        }
        #expect(fired == dues.sorted())
    }

    @Test("100,000 timers, half cancelled: each live one fires once at its tick")
    func manyTimers() {
        var wheel = TimerWheel<Int>(slotCount: 512)
        var generator = SplitMix64(seed: 42)
        var ids: [TimerID] = []
        var dues: [Int64] = []
        for n in 0..<100_000 {
            let due = Int64(generator.next() % 20_000) + 1
            ids.append(wheel.schedule(n, atTick: due))
            dues.append(due)
        }
        for n in stride(from: 0, to: 100_000, by: 2) { wheel.cancel(ids[n]) }
        #expect(wheel.count == 50_000)
        var seen = Set<Int>()
        var tick: Int64 = 0
        while tick < 20_000 {
            tick += Int64(generator.next() % 300) + 1  // uneven steps, some longer than a revolution
            for n in wheel.advance(to: tick) {
                #expect(n % 2 == 1, "a cancelled timer fired")
                #expect(dues[n] <= tick, "fired early")
                #expect(seen.insert(n).inserted, "fired twice")
            }
        }
        #expect(seen.count == 50_000)
        #expect(wheel.isEmpty)
    }

    @Test("the next wake-up is the first occupied slot, at most one revolution ahead, nil when empty")
    func nextWake() {
        var wheel = TimerWheel<String>(slotCount: 8)
        #expect(wheel.nextWakeTick() == nil)
        _ = wheel.schedule("x", atTick: 5)
        #expect(wheel.nextWakeTick() == 5)
        _ = wheel.advance(to: 5)
        let far = wheel.schedule("far", atTick: 100)
        // Tick 100 lives in slot 4; the first tick after 5 that maps to slot 4 is 12 (a wake-up for a later round).
        #expect(wheel.nextWakeTick() == 12)
        wheel.cancel(far)
        #expect(wheel.nextWakeTick() == nil)
    }
}
