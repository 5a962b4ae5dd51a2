// NonInviteClientTransactionTests: RFC 3261 §17.1.2.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("NonInviteClientTransaction")
struct NonInviteClientTransactionTests {
    typealias F = TransactionFixtures
    let timers = TransactionTimers.default

    func started(reliable: Bool = false) -> NonInviteClientTransaction {
        var nict = NonInviteClientTransaction(request: F.nonInvite(), reliable: reliable, timers: self.timers)
        _ = nict.handle(.start)
        return nict
    }

    @Test func startSendsAndStartsEAndF() {
        var nict = NonInviteClientTransaction(request: F.nonInvite(), reliable: false, timers: self.timers)
        #expect(nict.state == .trying)
        #expect(
            nict.handle(.start) == [.sendRequest, .startTimer(.e, .milliseconds(500)), .startTimer(.f, .seconds(32))])
        #expect(nict.handle(.start) == [])
    }

    @Test func reliableTransportStartsNoTimerE() {
        var nict = NonInviteClientTransaction(request: F.nonInvite(), reliable: true, timers: self.timers)
        #expect(nict.handle(.start) == [.sendRequest, .startTimer(.f, .seconds(32))])
    }

    @Test func timerEDoublesUpToT2ThenTimerF() {
        var nict = self.started()
        var intervals: [TimeAmount] = []
        for _ in 0..<6 {
            let actions = nict.handle(.timerFired(.e))
            guard case .startTimer(.e, let next) = actions.last else {
                Issue.record("no Timer E restart in \(actions)")
                return
            }
            #expect(actions == [.sendRequest, .startTimer(.e, next)])
            intervals.append(next)
        }
        #expect(intervals == [.seconds(1), .seconds(2), .seconds(4), .seconds(4), .seconds(4), .seconds(4)])
        #expect(nict.handle(.timerFired(.f)) == [.timeout, .cancelTimer(.e), .terminated])
        #expect(nict.state == .terminated)
        #expect(nict.handle(.timerFired(.e)) == [])
    }

    @Test func timerEInProceedingUsesT2() {
        var nict = self.started()
        let trying = F.response(100, "Trying", to: nict.request, toTag: nil)
        #expect(nict.handle(.response(trying)) == [.passToTU(trying)])
        #expect(nict.state == .proceeding)
        // RFC 3261 §17.1.2.2: in "Proceeding" Timer E is reset to T2 on every firing.
        #expect(nict.handle(.timerFired(.e)) == [.sendRequest, .startTimer(.e, .seconds(4))])
        #expect(nict.handle(.timerFired(.e)) == [.sendRequest, .startTimer(.e, .seconds(4))])
        let again = F.response(180, "Ringing", to: nict.request)
        #expect(nict.handle(.response(again)) == [.passToTU(again)])
        #expect(nict.handle(.timerFired(.f)) == [.timeout, .cancelTimer(.e), .terminated])
    }

    @Test func finalResponseCompletesThenTimerK() {
        var nict = self.started()
        let ok = F.response(200, "OK", to: nict.request)
        #expect(
            nict.handle(.response(ok)) == [
                .cancelTimer(.e), .cancelTimer(.f), .passToTU(ok), .startTimer(.k, .seconds(5)),
            ])
        #expect(nict.state == .completed)
        // Retransmissions are absorbed; stale E/F firings are ignored.
        #expect(nict.handle(.response(ok)) == [])
        #expect(nict.handle(.response(F.response(100, "Trying", to: nict.request))) == [])
        #expect(nict.handle(.timerFired(.e)) == [])
        #expect(nict.handle(.timerFired(.f)) == [])
        #expect(nict.handle(.transportError) == [])
        #expect(nict.handle(.timerFired(.k)) == [.terminated])
        #expect(nict.state == .terminated)
    }

    @Test func finalResponseInProceeding() {
        var nict = self.started()
        _ = nict.handle(.response(F.response(100, "Trying", to: nict.request, toTag: nil)))
        let notFound = F.response(404, "Not Found", to: nict.request)
        #expect(
            nict.handle(.response(notFound)) == [
                .cancelTimer(.e), .cancelTimer(.f), .passToTU(notFound), .startTimer(.k, .seconds(5)),
            ])
        #expect(nict.state == .completed)
    }

    @Test func finalResponseOnReliableTransportTerminatesAtOnce() {
        var nict = self.started(reliable: true)
        let ok = F.response(200, "OK", to: nict.request)
        #expect(nict.handle(.response(ok)) == [.cancelTimer(.f), .passToTU(ok), .terminated])
        #expect(nict.state == .terminated)
        #expect(nict.handle(.response(ok)) == [])
    }

    @Test func timerFOnReliableTransport() {
        var nict = self.started(reliable: true)
        #expect(nict.handle(.timerFired(.f)) == [.timeout, .terminated])
    }

    @Test func transportError() {
        var nict = self.started()
        #expect(nict.handle(.transportError) == [.transportFailure, .cancelTimer(.e), .cancelTimer(.f), .terminated])
        #expect(nict.state == .terminated)
        #expect(nict.handle(.transportError) == [])
    }

    @Test func foreignTimersAreIgnored() {
        var nict = self.started()
        for timer in [TransactionTimer.a, .b, .d, .g, .h, .i, .j, .k, .l, .m] {
            #expect(nict.handle(.timerFired(timer)) == [])
        }
        #expect(nict.state == .trying)
    }

    @Test func smallT2CapsFromTheFirstDoubling() {
        let timers = TransactionTimers(t1: .milliseconds(500), t2: .milliseconds(600))
        var nict = NonInviteClientTransaction(request: F.nonInvite(), reliable: false, timers: timers)
        _ = nict.handle(.start)
        #expect(nict.handle(.timerFired(.e)) == [.sendRequest, .startTimer(.e, .milliseconds(600))])
    }
}
