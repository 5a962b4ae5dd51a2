// TransactionTimersTests: RFC 3261 Table 4 (appendix A) values and the RFC 6026 additions.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("TransactionTimers")
struct TransactionTimersTests {
    @Test func defaults() {
        let t = TransactionTimers.default
        #expect(t == TransactionTimers())
        #expect(t.t1 == .milliseconds(500))
        #expect(t.t2 == .seconds(4))
        #expect(t.t4 == .seconds(5))
        #expect(t.timerC == .seconds(180))
        let sixtyFourT1 = [t.timerB, t.timerF, t.timerH, t.timerJ, t.timerL, t.timerM]
        #expect(sixtyFourT1 == Array(repeating: .seconds(32), count: 6))
    }

    @Test func reliableTransportsZeroTheLingerTimers() {
        let t = TransactionTimers.default
        #expect(t.timerD(reliable: false) == .seconds(32))
        #expect(t.timerI(reliable: false) == .seconds(5))
        #expect(t.timerJ(reliable: false) == .seconds(32))
        #expect(t.timerK(reliable: false) == .seconds(5))
        #expect([t.timerD(reliable: true), t.timerI(reliable: true), t.timerJ(reliable: true)] == [.zero, .zero, .zero])
        #expect(t.timerK(reliable: true) == .zero)
    }

    @Test func derivedValuesFollowT1AndT4() {
        let t = TransactionTimers(t1: .milliseconds(50), t2: .milliseconds(400), t4: .milliseconds(700))
        #expect(t.timerB == .milliseconds(3200))
        #expect(t.timerM == .milliseconds(3200))
        #expect(t.timerK == .milliseconds(700))
        #expect(t.timerI(reliable: false) == .milliseconds(700))
        // Timer D stays at 32 s: RFC 3261 §17.1.1.2 asks for at least 32 s regardless of T1.
        #expect(t.timerD == .seconds(32))
    }
}
