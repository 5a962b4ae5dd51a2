// ResponseContext: RFC 3261 §16.7 as a value. Events in, exact actions out; no transaction, no socket, no clock.

import Testing

@testable import SIPProxy

@Suite("ResponseContext (§16.7)")
struct ResponseContextTests {
    static let invite = ResponseContext.Options(isInvite: true, isCall: true, followRedirects: true)

    static func response(_ status: Int, tag: String? = "t") -> SIPResponse {
        TransactionFixtures.parseResponse([
            "SIP/2.0 \(status) Reason",
            "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds",
            "From: <sip:alice@atlanta.com>;tag=1928301774",
            "To: <sip:bob@biloxi.com>" + (tag.map { ";tag=\($0)" } ?? ""),
            "Call-ID: rc-test",
            "CSeq: 1 INVITE",
            "Content-Length: 0",
        ])
    }

    static func context(_ branches: Int, _ options: ResponseContext.Options = invite) -> ResponseContext {
        var context = ResponseContext(options: options)
        let actions = context.handle(.branchesAdded(count: branches))
        #expect(actions == (options.isInvite ? (0..<branches).map { .startTimerC($0) } : []),
                "§16.6 step 11: Timer C per INVITE branch")
        return context
    }

    @Test("provisional responses go up except 100 and restart Timer C")
    func provisional() {
        var c = Self.context(1)
        #expect(c.handle(.provisional(branch: 0, Self.response(100, tag: nil))) == [])
        let ringing = Self.response(180)
        #expect(c.handle(.provisional(branch: 0, ringing)) == [.startTimerC(0), .forward(ringing)])
    }

    @Test("486 and 200 on two branches: the 200 goes up at once, the 486 never")
    func busyThenAnswered() {
        var c = Self.context(2)
        #expect(c.handle(.final(branch: 0, Self.response(486))) == [.stopTimerC(0)])
        let ok = Self.response(200)
        #expect(c.handle(.final(branch: 1, ok)) == [.stopTimerC(1), .forward(ok)])
        #expect(c.finalForwarded && c.answered)
    }

    @Test("a 2xx cancels ringing branches now and silent ones once they ring (§9.1)")
    func answerCancelsOthers() {
        var c = Self.context(3)
        _ = c.handle(.provisional(branch: 1, Self.response(180)))
        let ok = Self.response(200)
        #expect(c.handle(.final(branch: 0, ok)) == [.stopTimerC(0), .forward(ok), .cancelBranch(1), .startCancelGuard(1)])
        #expect(c.branches[2].cancelPending)
        let late = Self.response(180)
        #expect(c.handle(.provisional(branch: 2, late)) == [.cancelBranch(2), .startCancelGuard(2), .startTimerC(2)],
                "the pending CANCEL goes out; the 180 is not forwarded after the final response")
        let second = Self.response(200, tag: "other")
        #expect(c.handle(.final(branch: 2, second)) == [.stopTimerC(2), .forward(second)], "every 2xx goes up (step 10)")
    }

    @Test("603 cancels the other branches and wins over their 487s")
    func declineWins() {
        var c = Self.context(3)
        _ = c.handle(.provisional(branch: 0, Self.response(180)))
        _ = c.handle(.provisional(branch: 1, Self.response(180)))
        let decline = Self.response(603)
        #expect(c.handle(.final(branch: 2, decline)) == [
            .stopTimerC(2), .cancelBranch(0), .startCancelGuard(0), .cancelBranch(1), .startCancelGuard(1),
        ])
        #expect(c.handle(.final(branch: 0, Self.response(487))) == [.stopTimerC(0)])
        #expect(c.handle(.final(branch: 1, Self.response(487))) == [.stopTimerC(1), .respond(decline)])
    }

    @Test("the lowest class wins; a phone's 4xx beats a synthesized 408; 503 becomes a local 500")
    func bestResponse() {
        var c = Self.context(3, .init(isInvite: true, isCall: false, followRedirects: true))
        _ = c.handle(.final(branch: 0, Self.response(408, tag: nil)))
        _ = c.handle(.final(branch: 1, Self.response(500)))
        let busy = Self.response(486)
        #expect(c.handle(.final(branch: 2, busy)).last == .respond(busy))

        var only503 = Self.context(1)
        #expect(only503.handle(.final(branch: 0, Self.response(503))).last == .respondLocally(500))
        var timeout = Self.context(1)
        #expect(timeout.handle(.final(branch: 0, Self.response(408, tag: nil))).last == .respondLocally(408))
    }

    @Test("CANCEL: ringing branches get CANCEL; the caller gets 487 even when the branch only times out")
    func callerCancels() {
        var c = Self.context(2)
        _ = c.handle(.provisional(branch: 0, Self.response(180)))
        #expect(c.handle(.cancel) == [.cancelBranch(0), .startCancelGuard(0)], "§9.1: 64*T1 for its final response")
        #expect(c.branches[1].cancelPending)
        #expect(c.handle(.cancel) == [], "a second CANCEL changes nothing")
        _ = c.handle(.final(branch: 0, Self.response(487)))
        #expect(c.handle(.final(branch: 1, Self.response(408, tag: nil))).last == .respond(Self.response(487)))

        var silent = Self.context(1)
        _ = silent.handle(.cancel)
        #expect(silent.handle(.final(branch: 0, Self.response(408, tag: nil))).last == .respondLocally(487))

        var none = ResponseContext(options: Self.invite)
        #expect(none.handle(.cancel) == [.respondLocally(487)], "no branch yet: 487 at once")
    }

    @Test("Timer C cancels a ringing branch; one that never rang is left to Timer B")
    func timerC() {
        var c = Self.context(2)
        _ = c.handle(.provisional(branch: 0, Self.response(180)))
        #expect(c.handle(.timerC(branch: 0)) == [.cancelBranch(0), .startCancelGuard(0)])
        #expect(c.handle(.timerC(branch: 1)) == [])
        #expect(c.handle(.timerC(branch: 0)) == [], "a stale expiry does nothing")
    }

    @Test("a 302 is held and offered for recursion; with no target it goes up")
    func redirect() {
        var c = Self.context(1)
        let moved = Self.response(302)
        #expect(c.handle(.final(branch: 0, moved)) == [
            .stopTimerC(0), .nextTarget(condition: nil, redirects: [moved]),
        ])
        #expect(c.handle(.noFurtherTarget) == [.respond(moved)])
    }

    @Test("recursion: the new group supersedes the 302; its answer goes up")
    func recursion() {
        var c = Self.context(1)
        _ = c.handle(.final(branch: 0, Self.response(302)))
        #expect(c.handle(.groupStarted(count: 1)) == [.startTimerC(1)])
        #expect(c.groupStart == 1)
        let busy = Self.response(486)
        #expect(c.handle(.final(branch: 1, busy)) == [
            .stopTimerC(1), .nextTarget(condition: .busy, redirects: []),
        ])
        #expect(c.handle(.noFurtherTarget) == [.respond(busy)], "the superseded 302 is no candidate")
    }

    @Test("no-answer forwarding: the new group cancels the ringing one, whose 487 is then ignored")
    func noAnswer() {
        var c = Self.context(1)
        _ = c.handle(.forwardingEnabled)
        _ = c.handle(.provisional(branch: 0, Self.response(180)))
        #expect(c.handle(.groupStarted(count: 1)) == [.cancelBranch(0), .startCancelGuard(0), .startTimerC(1)])
        #expect(c.handle(.final(branch: 0, Self.response(487))) == [.stopTimerC(0)])
        let ok = Self.response(200)
        #expect(c.handle(.final(branch: 1, ok)) == [.stopTimerC(1), .forward(ok)], "no no-answer timer runs")
    }

    @Test("busy forwarding: a group's 486 asks for the next target; the started group's answer goes up")
    func busyForwarding() {
        var c = Self.context(1)
        _ = c.handle(.forwardingEnabled)
        #expect(c.handle(.final(branch: 0, Self.response(486))) == [
            .stopTimerC(0), .nextTarget(condition: .busy, redirects: []),
        ])
        _ = c.handle(.groupStarted(count: 2))
        _ = c.handle(.final(branch: 1, Self.response(500)))
        let busy = Self.response(486)
        #expect(c.handle(.final(branch: 2, busy)).last == .nextTarget(condition: .busy, redirects: []),
                "486 means busy even beside a 500")
        #expect(c.handle(.noFurtherTarget) == [.respond(busy)], "the last group's lowest class: 486 over 500")
    }

    @Test("a replaced branch (§18.1.1 retry) does not count; its retry does")
    func replacedBranch() {
        var c = Self.context(1, .init(isInvite: false, isCall: false, followRedirects: false))
        #expect(c.mayRetry(0))
        #expect(c.handle(.branchReplaced(branch: 0)) == [])
        #expect(!c.mayRetry(0))
        _ = c.handle(.branchesAdded(count: 1))
        let ok = Self.response(200)
        #expect(c.handle(.final(branch: 1, ok)) == [.forward(ok)])
        #expect(c.finals.isEmpty, "the replaced branch left no 503 behind")
    }
}
