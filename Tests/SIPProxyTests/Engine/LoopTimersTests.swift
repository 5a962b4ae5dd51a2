// LoopTimers: wheel timers on an event loop with an injected clock; the tests move the clock and never sleep.

import NIOCore
import NIOEmbedded
import Testing

@testable import SIPProxy

@Suite("LoopTimers")
struct LoopTimersTests {
    @Test("timers fire when the clock reaches them, not before, rounded up to the resolution")
    func firesOnTime() {
        let loop = EmbeddedEventLoop()
        let clock = ManualClock()
        let timers = LoopTimers(eventLoop: loop, clock: { clock.now }, drivesItself: false)
        var fired: [String] = []
        timers.schedule(in: .milliseconds(500)) { fired.append("A") }
        timers.schedule(in: .milliseconds(15)) { fired.append("fast") }
        clock.advance(by: .milliseconds(10))
        timers.fireDue()
        #expect(fired.isEmpty, "15 ms rounds up to 20 ms")
        clock.advance(by: .milliseconds(10))
        timers.fireDue()
        #expect(fired == ["fast"])
        clock.advance(by: .milliseconds(479))
        timers.fireDue()
        #expect(fired == ["fast"])
        clock.advance(by: .milliseconds(1))
        timers.fireDue()
        #expect(fired == ["fast", "A"])
    }

    @Test("a timer started by a firing timer and already due fires in the same pass; cancel stops a timer")
    func chainedAndCancelled() {
        let loop = EmbeddedEventLoop()
        let clock = ManualClock()
        let timers = LoopTimers(eventLoop: loop, clock: { clock.now }, drivesItself: false)
        var fired: [String] = []
        let doomed = timers.schedule(in: .seconds(1)) { fired.append("cancelled") }
        timers.schedule(in: .milliseconds(100)) {
            fired.append("first")
            timers.schedule(in: .zero) { fired.append("second") }
        }
        timers.cancel(doomed)
        clock.advance(by: .seconds(5))
        timers.fireDue()
        #expect(fired == ["first", "second"])
        #expect(timers.count == 0)
    }

    @Test("driving itself, one NIO task wakes the loop for the next timer")
    func drivesItself() throws {
        let loop = EmbeddedEventLoop()
        let start = NIODeadline.now()
        // The embedded loop's clock starts at uptime 0 and moves with advanceTime; the wheel reads the same time.
        let clock = ManualClock(.uptimeNanoseconds(0))
        let timers = LoopTimers(eventLoop: loop, clock: { clock.now })
        _ = start
        var fired = 0
        timers.schedule(in: .milliseconds(300)) { fired += 1 }
        timers.schedule(in: .seconds(30)) { fired += 10 }
        clock.advance(by: .milliseconds(300))
        loop.advanceTime(by: .milliseconds(300))
        #expect(fired == 1)
        clock.advance(by: .seconds(30))
        loop.advanceTime(by: .seconds(30))
        #expect(fired == 11)
        #expect(timers.count == 0)
        try loop.syncShutdownGracefully()
    }
}
