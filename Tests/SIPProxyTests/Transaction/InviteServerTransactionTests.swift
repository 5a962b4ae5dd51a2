// InviteServerTransactionTests: RFC 3261 §17.2.1 with the RFC 6026 §7.1 "Accepted" state.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("InviteServerTransaction")
struct InviteServerTransactionTests {
    typealias F = TransactionFixtures
    let timers = TransactionTimers.default

    func make(reliable: Bool = false) -> InviteServerTransaction {
        InviteServerTransaction(
            request: F.invite(topVia: F.phoneVia), reliable: reliable, timers: self.timers)
    }

    @Test func startsInProceedingWithoutResponse() {
        var ist = self.make()
        #expect(ist.state == .proceeding)
        #expect(ist.lastResponse == nil)
        // A retransmission before the TU answered gets nothing.
        #expect(ist.handle(.retransmission) == [])
        #expect(ist.state == .proceeding)
    }

    @Test func provisionalResponsesAreSentAndRetransmittedOnInviteRetransmission() {
        var ist = self.make()
        let trying = F.response(100, "Trying", to: ist.request, toTag: nil)
        #expect(ist.handle(.sendResponse(trying)) == [.send(trying)])
        #expect(ist.handle(.retransmission) == [.send(trying)])
        let ringing = F.response(180, "Ringing", to: ist.request)
        #expect(ist.handle(.sendResponse(ringing)) == [.send(ringing)])
        #expect(ist.state == .proceeding)
        #expect(ist.lastResponse == ringing)
        // RFC 3261 §17.2.1: the retransmitted INVITE gets the most recent provisional response.
        #expect(ist.handle(.retransmission) == [.send(ringing)])
    }

    @Test func failureRetransmitsWithTimerGThenACKConfirms() {
        var ist = self.make()
        _ = ist.handle(.sendResponse(F.response(100, "Trying", to: ist.request, toTag: nil)))
        let busy = F.response(486, "Busy Here", to: ist.request)
        #expect(
            ist.handle(.sendResponse(busy)) == [
                .send(busy), .startTimer(.g, .milliseconds(500)), .startTimer(.h, .seconds(32)),
            ])
        #expect(ist.state == .completed)
        #expect(ist.lastResponse == busy)
        // RFC 3261 §17.2.1: Timer G doubles up to T2.
        var intervals: [TimeAmount] = []
        for _ in 0..<5 {
            let actions = ist.handle(.timerFired(.g))
            guard case .startTimer(.g, let next) = actions.last else {
                Issue.record("no Timer G restart in \(actions)")
                return
            }
            #expect(actions == [.send(busy), .startTimer(.g, next)])
            intervals.append(next)
        }
        #expect(intervals == [.seconds(1), .seconds(2), .seconds(4), .seconds(4), .seconds(4)])
        // A retransmitted INVITE gets the final response again; further TU responses are dropped.
        #expect(ist.handle(.retransmission) == [.send(busy)])
        #expect(ist.handle(.sendResponse(F.response(200, "OK", to: ist.request))) == [])
        #expect(ist.handle(.sendResponse(F.response(180, "Ringing", to: ist.request))) == [])

        let ack = F.ack(for: ist.request)
        #expect(ist.handle(.ack(ack)) == [.cancelTimer(.g), .cancelTimer(.h), .startTimer(.i, .seconds(5))])
        #expect(ist.state == .confirmed)
        // RFC 3261 §17.2.1: ACK and INVITE retransmissions are absorbed in "Confirmed".
        #expect(ist.handle(.ack(ack)) == [])
        #expect(ist.handle(.retransmission) == [])
        #expect(ist.handle(.timerFired(.g)) == [])
        #expect(ist.handle(.timerFired(.h)) == [])
        #expect(ist.handle(.transportError) == [])
        #expect(ist.handle(.timerFired(.i)) == [.terminated])
        #expect(ist.state == .terminated)
    }

    @Test func timerHTimesOutWithoutACK() {
        var ist = self.make()
        let error = F.response(500, "Server Internal Error", to: ist.request)
        _ = ist.handle(.sendResponse(error))
        _ = ist.handle(.timerFired(.g))
        #expect(ist.handle(.timerFired(.h)) == [.timeout, .cancelTimer(.g), .terminated])
        #expect(ist.state == .terminated)
        #expect(ist.handle(.ack(F.ack(for: ist.request))) == [])
        #expect(ist.handle(.retransmission) == [])
    }

    @Test func reliableTransportStartsNoTimerGAndACKTerminates() {
        var ist = self.make(reliable: true)
        let busy = F.response(486, "Busy Here", to: ist.request)
        #expect(ist.handle(.sendResponse(busy)) == [.send(busy), .startTimer(.h, .seconds(32))])
        #expect(ist.handle(.ack(F.ack(for: ist.request))) == [.cancelTimer(.h), .terminated])
        #expect(ist.state == .terminated)
    }

    @Test func reliableTimerH() {
        var ist = self.make(reliable: true)
        _ = ist.handle(.sendResponse(F.response(486, "Busy Here", to: ist.request)))
        #expect(ist.handle(.timerFired(.h)) == [.timeout, .terminated])
    }

    @Test func successMovesToAcceptedWithTimerL() {
        var ist = self.make()
        _ = ist.handle(.sendResponse(F.response(180, "Ringing", to: ist.request)))
        let ok = F.response(200, "OK", to: ist.request)
        #expect(ist.handle(.sendResponse(ok)) == [.send(ok), .startTimer(.l, .seconds(32))])
        #expect(ist.state == .accepted)
        #expect(ist.lastResponse == ok)
        // RFC 6026 §7.1: 2xx retransmissions from the TU are sent; INVITE retransmissions are absorbed.
        #expect(ist.handle(.sendResponse(ok)) == [.send(ok)])
        #expect(ist.handle(.retransmission) == [])
        #expect(ist.handle(.sendResponse(F.response(486, "Busy Here", to: ist.request))) == [])
        #expect(ist.handle(.sendResponse(F.response(180, "Ringing", to: ist.request))) == [])
        // RFC 6026 §7.1: the ACK for the 2xx goes to the TU, every copy of it.
        let ack = F.ack(for: ist.request)
        #expect(ist.handle(.ack(ack)) == [.passACKToTU(ack)])
        #expect(ist.handle(.ack(ack)) == [.passACKToTU(ack)])
        #expect(ist.state == .accepted)
        // A transport error is reported but the state is kept.
        #expect(ist.handle(.transportError) == [.transportFailure])
        #expect(ist.state == .accepted)
        #expect(ist.handle(.timerFired(.h)) == [])
        #expect(ist.handle(.timerFired(.l)) == [.terminated])
        #expect(ist.state == .terminated)
        #expect(ist.handle(.sendResponse(ok)) == [])
        #expect(ist.handle(.ack(ack)) == [])
    }

    @Test func ackInProceedingIsIgnored() {
        var ist = self.make()
        #expect(ist.handle(.ack(F.ack(for: ist.request))) == [])
        #expect(ist.state == .proceeding)
    }

    @Test func transportErrorTerminates() {
        var proceeding = self.make()
        #expect(proceeding.handle(.transportError) == [.transportFailure, .terminated])
        #expect(proceeding.state == .terminated)

        var completed = self.make()
        _ = completed.handle(.sendResponse(F.response(603, "Decline", to: completed.request)))
        #expect(
            completed.handle(.transportError) == [.transportFailure, .cancelTimer(.g), .cancelTimer(.h), .terminated])
        #expect(completed.state == .terminated)
    }

    @Test func foreignTimersAreIgnored() {
        var ist = self.make()
        for timer in TransactionTimer.allCases {
            #expect(ist.handle(.timerFired(timer)) == [])
        }
        #expect(ist.state == .proceeding)
    }
}
