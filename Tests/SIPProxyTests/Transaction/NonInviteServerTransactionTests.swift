// NonInviteServerTransactionTests: RFC 3261 §17.2.2.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("NonInviteServerTransaction")
struct NonInviteServerTransactionTests {
    typealias F = TransactionFixtures
    let timers = TransactionTimers.default

    func make(reliable: Bool = false) -> NonInviteServerTransaction {
        NonInviteServerTransaction(request: F.nonInvite(method: "BYE"), reliable: reliable, timers: self.timers)
    }

    @Test func retransmissionInTryingIsDiscarded() {
        var nist = self.make()
        #expect(nist.state == .trying)
        #expect(nist.handle(.retransmission) == [])
        #expect(nist.lastResponse == nil)
    }

    @Test func provisionalMovesToProceedingAndIsRetransmitted() {
        var nist = self.make()
        let trying = F.response(100, "Trying", to: nist.request, toTag: nil)
        #expect(nist.handle(.sendResponse(trying)) == [.send(trying)])
        #expect(nist.state == .proceeding)
        #expect(nist.handle(.retransmission) == [.send(trying)])
        let progress = F.response(183, "Progress", to: nist.request)
        #expect(nist.handle(.sendResponse(progress)) == [.send(progress)])
        #expect(nist.handle(.retransmission) == [.send(progress)])
    }

    @Test func finalResponseCompletesWithTimerJ() {
        var nist = self.make()
        _ = nist.handle(.sendResponse(F.response(100, "Trying", to: nist.request, toTag: nil)))
        let ok = F.response(200, "OK", to: nist.request)
        #expect(nist.handle(.sendResponse(ok)) == [.send(ok), .startTimer(.j, .seconds(32))])
        #expect(nist.state == .completed)
        #expect(nist.lastResponse == ok)
        // RFC 3261 §17.2.2: retransmissions get the final response; other TU responses are discarded.
        #expect(nist.handle(.retransmission) == [.send(ok)])
        #expect(nist.handle(.sendResponse(F.response(500, "Server Internal Error", to: nist.request))) == [])
        #expect(nist.lastResponse == ok)
        #expect(nist.handle(.timerFired(.j)) == [.terminated])
        #expect(nist.state == .terminated)
        #expect(nist.handle(.retransmission) == [])
        #expect(nist.handle(.timerFired(.j)) == [])
    }

    @Test func finalResponseFromTrying() {
        var nist = self.make()
        let notFound = F.response(404, "Not Found", to: nist.request)
        #expect(nist.handle(.sendResponse(notFound)) == [.send(notFound), .startTimer(.j, .seconds(32))])
        #expect(nist.state == .completed)
    }

    @Test func reliableTransportTerminatesAtOnce() {
        var nist = self.make(reliable: true)
        let ok = F.response(200, "OK", to: nist.request)
        #expect(nist.handle(.sendResponse(ok)) == [.send(ok), .terminated])
        #expect(nist.state == .terminated)
        #expect(nist.handle(.retransmission) == [])
    }

    @Test func transportErrorTerminates() {
        var nist = self.make()
        _ = nist.handle(.sendResponse(F.response(200, "OK", to: nist.request)))
        #expect(nist.handle(.transportError) == [.transportFailure, .cancelTimer(.j), .terminated])
        #expect(nist.state == .terminated)
        #expect(nist.handle(.transportError) == [])
    }

    @Test func foreignTimersAreIgnored() {
        var nist = self.make()
        _ = nist.handle(.sendResponse(F.response(200, "OK", to: nist.request)))
        for timer in TransactionTimer.allCases where timer != .j {
            #expect(nist.handle(.timerFired(timer)) == [])
        }
        #expect(nist.state == .completed)
    }
}
