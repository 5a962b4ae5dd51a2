// InviteClientTransactionTests: RFC 3261 §17.1.1 with the RFC 6026 §8.4 "Accepted" state.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("InviteClientTransaction")
struct InviteClientTransactionTests {
    typealias F = TransactionFixtures
    let timers = TransactionTimers.default

    func started(reliable: Bool = false) -> InviteClientTransaction {
        var ict = InviteClientTransaction(request: F.invite(), reliable: reliable, timers: self.timers)
        _ = ict.handle(.start)
        return ict
    }

    @Test func startOnUnreliableTransportSendsAndStartsAAndB() {
        var ict = InviteClientTransaction(request: F.invite(), reliable: false, timers: self.timers)
        #expect(ict.state == .calling)
        #expect(
            ict.handle(.start) == [
                .sendRequest, .startTimer(.a, .milliseconds(500)), .startTimer(.b, .seconds(32)),
            ])
        #expect(ict.state == .calling)
        // A second start is ignored.
        #expect(ict.handle(.start) == [])
    }

    @Test func reliableTransportStartsNoTimerA() {
        var ict = InviteClientTransaction(request: F.invite(), reliable: true, timers: self.timers)
        #expect(ict.handle(.start) == [.sendRequest, .startTimer(.b, .seconds(32))])
    }

    @Test func timerADoublesWithoutCapUntilTimerB() {
        var ict = self.started()
        var schedule: [TimeAmount] = [.milliseconds(500)]
        var elapsed = TimeAmount.milliseconds(500)
        // Fire A until the next firing would come at or after B (32 s).
        while true {
            let actions = ict.handle(.timerFired(.a))
            guard case .startTimer(.a, let next) = actions.last else {
                Issue.record("no Timer A restart in \(actions)")
                return
            }
            #expect(actions == [.sendRequest, .startTimer(.a, next)])
            if elapsed + next >= .seconds(32) { break }
            schedule.append(next)
            elapsed = elapsed + next
        }
        #expect(
            schedule == [
                .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16),
            ])
        // Timer A is not capped at T2 for INVITE: the pending one is 32 s.
        #expect(ict.handle(.timerFired(.b)) == [.timeout, .cancelTimer(.a), .terminated])
        #expect(ict.state == .terminated)
        #expect(ict.handle(.timerFired(.a)) == [])
    }

    @Test func timerBOnReliableTransport() {
        var ict = self.started(reliable: true)
        #expect(ict.handle(.timerFired(.b)) == [.timeout, .terminated])
        #expect(ict.state == .terminated)
    }

    @Test func provisionalMovesToProceedingAndStopsRetransmissions() {
        var ict = self.started()
        let ringing = F.response(180, "Ringing", to: ict.request)
        #expect(ict.handle(.response(ringing)) == [.cancelTimer(.a), .passToTU(ringing)])
        #expect(ict.state == .proceeding)
        // Timer A was cancelled: a late firing is stale.
        #expect(ict.handle(.timerFired(.a)) == [])
        let progress = F.response(183, "Session Progress", to: ict.request)
        #expect(ict.handle(.response(progress)) == [.passToTU(progress)])
        // Timer B only matters in "Calling" (RFC 3261 §17.1.1.2); Timer C in the proxy core covers this state.
        #expect(ict.handle(.timerFired(.b)) == [])
        #expect(ict.state == .proceeding)
    }

    @Test func successMovesToAcceptedThenTimerMTerminates() {
        var ict = self.started()
        let ok = F.response(200, "OK", to: ict.request)
        #expect(
            ict.handle(.response(ok)) == [
                .cancelTimer(.a), .cancelTimer(.b), .passToTU(ok), .startTimer(.m, .seconds(32)),
            ])
        #expect(ict.state == .accepted)
        // RFC 6026 §8.4: further 2xx (retransmissions or other forks) go to the TU.
        let otherFork = F.response(200, "OK", to: ict.request, toTag: "fork2")
        #expect(ict.handle(.response(otherFork)) == [.passToTU(otherFork)])
        #expect(ict.handle(.response(ok)) == [.passToTU(ok)])
        // Provisional and failure responses are ignored in "Accepted".
        #expect(ict.handle(.response(F.response(180, "Ringing", to: ict.request))) == [])
        #expect(ict.handle(.response(F.response(486, "Busy Here", to: ict.request))) == [])
        #expect(ict.handle(.transportError) == [])
        #expect(ict.handle(.timerFired(.b)) == [])
        #expect(ict.handle(.timerFired(.m)) == [.terminated])
        #expect(ict.state == .terminated)
        #expect(ict.handle(.response(ok)) == [])
    }

    @Test func successInProceeding() {
        var ict = self.started()
        _ = ict.handle(.response(F.response(180, "Ringing", to: ict.request)))
        let ok = F.response(200, "OK", to: ict.request)
        #expect(ict.handle(.response(ok)) == [.cancelTimer(.b), .passToTU(ok), .startTimer(.m, .seconds(32))])
        #expect(ict.state == .accepted)
    }

    @Test func failureSendsACKAndStartsTimerD() throws {
        var ict = self.started()
        _ = ict.handle(.response(F.response(180, "Ringing", to: ict.request)))
        let terminated = F.response(487, "Request Terminated", to: ict.request)
        let actions = ict.handle(.response(terminated))
        #expect(ict.state == .completed)
        #expect(actions.count == 4)
        guard actions.count == 4, case .sendACK(let ack) = actions[1] else {
            Issue.record("no ACK in \(actions)")
            return
        }
        #expect(
            actions == [
                .cancelTimer(.b), .sendACK(ack), .passToTU(terminated), .startTimer(.d, .seconds(32)),
            ])
        try self.checkACK(ack, request: ict.request, response: terminated)

        // RFC 3261 §17.1.1.2: a retransmitted final response re-sends the ACK and is not passed up.
        #expect(ict.handle(.response(terminated)) == [.sendACK(ack)])
        #expect(ict.handle(.response(F.response(200, "OK", to: ict.request))) == [])
        #expect(ict.handle(.response(F.response(180, "Ringing", to: ict.request))) == [])
        #expect(ict.handle(.timerFired(.d)) == [.terminated])
        #expect(ict.state == .terminated)
        #expect(ict.handle(.response(terminated)) == [])
    }

    /// Every header of the ACK for a non-2xx final response (RFC 3261 §17.1.1.3).
    func checkACK(_ ack: SIPRequest, request: SIPRequest, response: SIPResponse) throws {
        #expect(ack.method == .ack)
        #expect(ack.uri == request.uri)
        #expect(ack.uri.serialized == "sip:bob@192.0.2.4:5062;transport=udp")
        #expect(ack.callID == "a84b4c76e66710@pc33.atlanta.com")
        #expect(ack.cseq == CSeq(314159, .ack))
        #expect(ack.headers["from"] == "\"Alice\" <sip:alice@atlanta.com>;tag=1928301774")
        #expect(ack.from == request.from)
        #expect(ack.headers["to"] == "Bob <sip:bob@biloxi.com>;tag=a6c85cf")
        #expect(ack.to == response.to)
        #expect(ack.to.tag == "a6c85cf")
        #expect(ack.headers.values("via") == ["SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKproxy1"])
        #expect(ack.headers.lines("route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"])
        #expect(ack.maxForwards == 70)
        #expect(ack.headers["content-length"] == "0")
        #expect(ack.body.isEmpty)
        #expect(!ack.headers.contains("contact"))
        #expect(!ack.headers.contains("content-type"))
        #expect(
            ack.headers.fields.map(\.name) == [
                "Via", "Route", "Route", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Content-Length",
            ])
        // It survives the wire.
        let reparsed = try SIPParser().parse(SIPMessage.request(ack).bytes)
        #expect(reparsed == .request(ack))
    }

    @Test func failureInCallingCancelsBothTimers() {
        var ict = self.started()
        let busy = F.response(486, "Busy Here", to: ict.request)
        let actions = ict.handle(.response(busy))
        guard actions.count == 5, case .sendACK(let ack) = actions[2] else {
            Issue.record("unexpected \(actions)")
            return
        }
        #expect(
            actions == [
                .cancelTimer(.a), .cancelTimer(.b), .sendACK(ack), .passToTU(busy), .startTimer(.d, .seconds(32)),
            ])
        #expect(ict.state == .completed)
        // Timer A/B firings that raced with the cancel are stale.
        #expect(ict.handle(.timerFired(.a)) == [])
        #expect(ict.handle(.timerFired(.b)) == [])
    }

    @Test func failureOnReliableTransportTerminatesAtOnce() {
        var ict = self.started(reliable: true)
        let notFound = F.response(404, "Not Found", to: ict.request)
        let actions = ict.handle(.response(notFound))
        guard actions.count == 4, case .sendACK(let ack) = actions[1] else {
            Issue.record("unexpected \(actions)")
            return
        }
        #expect(actions == [.cancelTimer(.b), .sendACK(ack), .passToTU(notFound), .terminated])
        #expect(ict.state == .terminated)
        #expect(ict.handle(.response(notFound)) == [])
    }

    @Test func transportErrorInformsTU() {
        var calling = self.started()
        #expect(calling.handle(.transportError) == [.transportFailure, .cancelTimer(.a), .cancelTimer(.b), .terminated])
        #expect(calling.state == .terminated)
        #expect(calling.handle(.transportError) == [])

        var completed = self.started(reliable: false)
        _ = completed.handle(.response(F.response(503, "Service Unavailable", to: completed.request)))
        #expect(completed.handle(.transportError) == [.transportFailure, .cancelTimer(.d), .terminated])
    }

    @Test func staleAndForeignTimersAreIgnored() {
        var ict = self.started()
        for timer in [TransactionTimer.d, .e, .f, .g, .h, .i, .j, .k, .l, .m] {
            #expect(ict.handle(.timerFired(timer)) == [])
        }
        #expect(ict.state == .calling)
    }

    @Test func ackBuilderKeepsSingleViaWhenRequestHasCommaListVia() {
        let request = F.invite(
            topVia: "SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKcombo, SIP/2.0/UDP other.example.com")
        let response = F.response(480, "Temporarily Unavailable", to: request)
        let ack = InviteClientTransaction.makeACK(for: request, response: response)
        #expect(ack?.headers.lines("via") == ["SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKcombo"])
    }

    @Test func customTimers() {
        let fast = TransactionTimers(t1: .milliseconds(100), t2: .seconds(1), t4: .seconds(2))
        var ict = InviteClientTransaction(request: F.invite(), reliable: false, timers: fast)
        #expect(
            ict.handle(.start) == [
                .sendRequest, .startTimer(.a, .milliseconds(100)), .startTimer(.b, .milliseconds(6400)),
            ])
        let ok = F.response(200, "OK", to: ict.request)
        #expect(
            ict.handle(.response(ok)) == [
                .cancelTimer(.a), .cancelTimer(.b), .passToTU(ok), .startTimer(.m, .milliseconds(6400)),
            ])
    }
}
