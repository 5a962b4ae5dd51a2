// ResponseContext: the timers whose expiry is a SIP decision (the forwarding rules' no-answer time, the §9.1 guard
// 64*T1 after a CANCEL, the RFC 3263 §4.3 failover time). The machine starts and stops them through actions and
// decides what their expiry does; exact action lists, as in ResponseContextTests.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("ResponseContext timers (§9.1, §16.7, RFC 3263 §4.3)")
struct ResponseContextTimerTests {
    static let invite = ResponseContextTests.invite
    static func response(_ status: Int, tag: String? = "t") -> SIPResponse { ResponseContextTests.response(status, tag: tag) }

    /// A call whose forwarding rule rings a first group of `branches` for `after`.
    static func forwardedCall(_ branches: Int = 1, after: TimeAmount = .seconds(10)) -> ResponseContext {
        var c = ResponseContext(options: Self.invite)
        #expect(c.handle(.forwardingEnabled) == [])
        #expect(c.handle(.groupStarted(count: branches, noAnswerAfter: after))
            == (0..<branches).map { .startTimerC($0) } + [.startNoAnswerTimer(after)])
        #expect(c.noAnswerTimerRunning)
        return c
    }

    // MARK: No-answer forwarding

    @Test("no answer in time: the machine asks for the no-answer target; its group cancels the ringing branch and starts its own timer")
    func noAnswerForwards() {
        var c = Self.forwardedCall()
        let ringing = Self.response(180)
        #expect(c.handle(.provisional(branch: 0, ringing)) == [.startTimerC(0), .forward(ringing)])
        #expect(c.handle(.noAnswerTimeout) == [.nextTarget(condition: .noAnswer, redirects: [])])
        #expect(!c.noAnswerTimerRunning)
        #expect(c.handle(.noAnswerTimeout) == [], "a stale expiry does nothing")
        #expect(c.handle(.groupStarted(count: 1, noAnswerAfter: .seconds(20))) == [
            .cancelBranch(0), .startCancelGuard(0), .startTimerC(1), .startNoAnswerTimer(.seconds(20)),
        ])
        #expect(c.handle(.final(branch: 0, Self.response(487))) == [.stopTimerC(0)], "the superseded group's 487")
        let ok = Self.response(200)
        #expect(c.handle(.final(branch: 1, ok)) == [.stopTimerC(1), .forward(ok), .stopNoAnswerTimer])
    }

    @Test("no answer and no further target: the group keeps ringing; its busy later is still forwarded on")
    func noAnswerWithoutTarget() {
        var c = Self.forwardedCall()
        _ = c.handle(.provisional(branch: 0, Self.response(180)))
        #expect(c.handle(.noAnswerTimeout) == [.nextTarget(condition: .noAnswer, redirects: [])])
        #expect(c.handle(.noFurtherTarget) == [], "nothing to answer yet: the phone still rings")
        #expect(c.branches[0].finalStatus == nil && !c.branches[0].cancelSent)
        let busy = Self.response(486)
        #expect(c.handle(.final(branch: 0, busy)) == [.stopTimerC(0), .nextTarget(condition: .busy, redirects: [])],
                "the timer already fired: nothing to stop")
        #expect(c.handle(.noFurtherTarget) == [.respond(busy)])
    }

    @Test("a group that ends, an answer or the caller's CANCEL leaves nothing for the no-answer timer to do")
    func noAnswerAfterTheGroupEnded() {
        var ended = Self.forwardedCall()
        #expect(ended.handle(.final(branch: 0, Self.response(486))) == [
            .stopTimerC(0), .stopNoAnswerTimer, .nextTarget(condition: .busy, redirects: []),
        ])
        #expect(ended.handle(.noAnswerTimeout) == [])
        #expect(ended.handle(.groupStarted(count: 1)) == [.startTimerC(1)], "a target without a no-answer rule: no timer")
        #expect(ended.handle(.noAnswerTimeout) == [])

        var answered = Self.forwardedCall()
        let ok = Self.response(200)
        #expect(answered.handle(.final(branch: 0, ok)) == [.stopTimerC(0), .forward(ok), .stopNoAnswerTimer])
        #expect(answered.handle(.noAnswerTimeout) == [])

        var cancelled = Self.forwardedCall()
        _ = cancelled.handle(.provisional(branch: 0, Self.response(180)))
        #expect(cancelled.handle(.cancel) == [.cancelBranch(0), .startCancelGuard(0)])
        #expect(cancelled.handle(.noAnswerTimeout) == [], "§16.10: the caller gave up; nothing is forwarded")
    }

    @Test("only calls get a no-answer timer (not a re-INVITE)")
    func noAnswerOnlyForCalls() {
        var c = ResponseContext(options: .init(isInvite: true, isCall: false, followRedirects: true))
        #expect(c.handle(.groupStarted(count: 1, noAnswerAfter: .seconds(10))) == [.startTimerC(0)])
        #expect(c.handle(.noAnswerTimeout) == [])
    }

    // MARK: 64*T1 after CANCEL (§9.1)

    @Test("the caller cancels, the phone never sends 487: the branch is given up and the caller gets 487")
    func cancelGuardAfterCallerCancel() {
        var c = ResponseContextTests.context(1)
        _ = c.handle(.provisional(branch: 0, Self.response(180)))
        #expect(c.handle(.cancel) == [.cancelBranch(0), .startCancelGuard(0)])
        #expect(c.handle(.cancelGuardExpired(branch: 0)) == [.abandonBranch(0), .stopTimerC(0), .respondLocally(487)])
        #expect(c.branches[0].finalStatus == 408)
        #expect(c.handle(.cancelGuardExpired(branch: 0)) == [], "a stale expiry does nothing")
    }

    @Test("Timer C cancels the branch, the phone never sends 487: 64*T1 later the caller gets 408 (§16.8, §9.1)")
    func cancelGuardAfterTimerC() {
        var c = ResponseContextTests.context(1)
        _ = c.handle(.provisional(branch: 0, Self.response(180)))
        #expect(c.handle(.timerC(branch: 0)) == [.cancelBranch(0), .startCancelGuard(0)])
        #expect(c.handle(.cancelGuardExpired(branch: 0)) == [.abandonBranch(0), .respondLocally(408)],
                "the given-up branch stands for a 408 without To tag: the proxy's own 408 goes up")
    }

    @Test("a branch given up among others: a phone's own 4xx beats its 408; with forwarding it means unavailable")
    func cancelGuardAmongBranches() {
        var c = ResponseContextTests.context(2)
        _ = c.handle(.provisional(branch: 0, Self.response(180)))
        _ = c.handle(.timerC(branch: 0))
        #expect(c.handle(.cancelGuardExpired(branch: 0)) == [.abandonBranch(0)], "branch 1 has not answered yet")
        let busy = Self.response(486)
        #expect(c.handle(.final(branch: 1, busy)) == [.stopTimerC(1), .respond(busy)])

        var forwarded = Self.forwardedCall()
        _ = forwarded.handle(.provisional(branch: 0, Self.response(180)))
        _ = forwarded.handle(.timerC(branch: 0))
        #expect(forwarded.handle(.cancelGuardExpired(branch: 0)) == [
            .abandonBranch(0), .stopNoAnswerTimer, .nextTarget(condition: .unavailable, redirects: []),
        ])
        #expect(forwarded.handle(.noFurtherTarget) == [.respondLocally(408)])
    }

    @Test("the 487 in time, or a branch never cancelled: the guard's expiry does nothing")
    func cancelGuardAnswered() {
        var c = ResponseContextTests.context(2)
        _ = c.handle(.provisional(branch: 0, Self.response(180)))
        _ = c.handle(.cancel)
        _ = c.handle(.final(branch: 0, Self.response(487)))
        #expect(c.handle(.cancelGuardExpired(branch: 0)) == [])
        #expect(c.handle(.cancelGuardExpired(branch: 1)) == [], "branch 1 never rang: no CANCEL was sent")
        #expect(c.handle(.cancelGuardExpired(branch: 7)) == [])
    }

    // MARK: DNS failover (RFC 3263 §4.3)

    @Test("failover time: a silent branch moves on; one that answered, is cancelled or is final stays")
    func failover() {
        var silent = ResponseContextTests.context(1)
        #expect(silent.handle(.failoverTimeout(branch: 0)) == [.failOver(0)])

        var trying = ResponseContextTests.context(1)
        _ = trying.handle(.provisional(branch: 0, Self.response(100, tag: nil)))
        #expect(trying.handle(.failoverTimeout(branch: 0)) == [], "any response shows the target is alive")

        var cancelled = ResponseContextTests.context(1)
        _ = cancelled.handle(.cancel)
        #expect(cancelled.handle(.failoverTimeout(branch: 0)) == [], "a CANCEL waits for the branch's provisional")

        var answered = ResponseContextTests.context(2)
        _ = answered.handle(.final(branch: 0, Self.response(200)))
        #expect(answered.handle(.failoverTimeout(branch: 0)) == [])
        #expect(answered.handle(.failoverTimeout(branch: 1)) == [], "the request is answered")
        #expect(answered.handle(.failoverTimeout(branch: 5)) == [])
    }
}
