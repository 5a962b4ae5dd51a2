// InviteClientTransaction: the INVITE client transaction of RFC 3261 §17.1.1 with the "Accepted" state of
// RFC 6026 §8.4 (figure 5 as updated by RFC 6026 §7.2).

import NIOCore

/// The INVITE client transaction as a pure value: events in, actions out, no clock and no I/O.
///
/// The transaction layer feeds `handle(_:)` and performs the returned actions in order. `terminated` is always the
/// last action of a list; any timer still running is cancelled just before it.
public struct InviteClientTransaction: Sendable {
    public enum State: Sendable, Equatable {
        case calling
        case proceeding
        /// A 2xx was received; the machine only forwards 2xx retransmissions to the TU (RFC 6026 §8.4).
        case accepted
        case completed
        case terminated
    }

    public enum Event: Sendable {
        /// The TU handed the INVITE over: send it and start the timers (RFC 3261 §17.1.1.2).
        case start
        case response(SIPResponse)
        case timerFired(TransactionTimer)
        case transportError
    }

    public enum Action: Sendable, Equatable {
        /// (Re)transmit the stored request.
        case sendRequest
        /// ACK for a non-2xx final response, built by the machine (RFC 3261 §17.1.1.3).
        case sendACK(SIPRequest)
        /// Hand the response to the proxy core.
        case passToTU(SIPResponse)
        /// Timer B fired: the TU must act as if a 408 was received (RFC 3261 §16.7 step 2, §17.1.1.2).
        case timeout
        /// A transport error: the TU acts as if a 503 was received (RFC 3261 §16.7 step 2, §17.1.4).
        case transportFailure
        case startTimer(TransactionTimer, TimeAmount)
        case cancelTimer(TransactionTimer)
        case terminated
    }

    public private(set) var state: State
    public let request: SIPRequest
    public let reliable: Bool
    public let timers: TransactionTimers

    /// Whether `.start` was handled.
    private var started = false
    /// The current Timer A interval; it doubles on every firing without a cap (RFC 3261 §17.1.1.2).
    private var timerAInterval: TimeAmount
    /// The ACK sent for the non-2xx final response, retransmitted for every response retransmission.
    private var ack: SIPRequest?
    private var running = RunningTimers()

    public init(request: SIPRequest, reliable: Bool, timers: TransactionTimers) {
        self.state = .calling
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.timerAInterval = timers.t1
    }

    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .start:
            return self.handleStart()
        case .response(let response):
            return self.handleResponse(response)
        case .timerFired(let timer):
            return self.handleTimer(timer)
        case .transportError:
            return self.handleTransportError()
        }
    }

    // MARK: - Transitions

    private mutating func handleStart() -> [Action] {
        guard self.state == .calling, !self.started else { return [] }
        self.started = true
        // RFC 3261 §17.1.1.2: pass the INVITE to the transport; on an unreliable transport start Timer A with T1;
        // on any transport start Timer B with 64*T1.
        var actions: [Action] = [.sendRequest]
        if !self.reliable {
            actions.append(self.startTimer(.a, self.timerAInterval))
        }
        actions.append(self.startTimer(.b, self.timers.timerB))
        return actions
    }

    private mutating func handleResponse(_ response: SIPResponse) -> [Action] {
        switch response.statusCode {
        case 100..<200:
            return self.handleProvisional(response)
        case 200..<300:
            return self.handleSuccess(response)
        default:
            return self.handleFailure(response)
        }
    }

    private mutating func handleProvisional(_ response: SIPResponse) -> [Action] {
        switch self.state {
        case .calling:
            // RFC 3261 §17.1.1.2: a provisional response in "Calling" moves to "Proceeding"; retransmissions stop
            // and the response goes to the TU. Timer B keeps running but only matters in "Calling".
            self.state = .proceeding
            return self.cancel([.a]) + [.passToTU(response)]
        case .proceeding:
            // RFC 3261 §17.1.1.2: further provisional responses are passed to the TU.
            return [.passToTU(response)]
        case .accepted, .completed, .terminated:
            return []
        }
    }

    private mutating func handleSuccess(_ response: SIPResponse) -> [Action] {
        switch self.state {
        case .calling, .proceeding:
            // RFC 6026 §8.4 (replacing RFC 3261 §17.1.1.2): a 2xx moves to "Accepted", goes to the TU, and Timer M
            // is started so 2xx retransmissions from other forks still reach the TU.
            self.state = .accepted
            return self.cancel([.a, .b]) + [.passToTU(response), self.startTimer(.m, self.timers.timerM)]
        case .accepted:
            // RFC 6026 §8.4: any 2xx received in "Accepted" is passed to the TU.
            return [.passToTU(response)]
        case .completed, .terminated:
            return []
        }
    }

    private mutating func handleFailure(_ response: SIPResponse) -> [Action] {
        switch self.state {
        case .calling, .proceeding:
            // RFC 3261 §17.1.1.2: a 300-699 response moves to "Completed": the ACK is sent, the response goes to
            // the TU and Timer D starts (32 s unreliable, zero reliable: then "Terminated" at once).
            let ack = Self.makeACK(for: self.request, response: response)
            self.ack = ack
            var actions = self.cancel([.a, .b])
            if let ack {
                actions.append(.sendACK(ack))
            }
            actions.append(.passToTU(response))
            let timerD = self.timers.timerD(reliable: self.reliable)
            if timerD > .zero {
                self.state = .completed
                actions.append(self.startTimer(.d, timerD))
            } else {
                actions += self.terminate()
            }
            return actions
        case .completed:
            // RFC 3261 §17.1.1.2: retransmissions of the final response re-send the ACK and are not passed up.
            return self.ack.map { [.sendACK($0)] } ?? []
        case .accepted, .terminated:
            // RFC 6026 §8.4: only 2xx responses are of interest in "Accepted".
            return []
        }
    }

    private mutating func handleTimer(_ timer: TransactionTimer) -> [Action] {
        guard self.running.fired(timer) else { return [] }
        switch (timer, self.state) {
        case (.a, .calling):
            // RFC 3261 §17.1.1.2: Timer A fires: retransmit and reset it with twice the previous value.
            self.timerAInterval = self.timerAInterval * 2
            return [.sendRequest, self.startTimer(.a, self.timerAInterval)]
        case (.b, .calling):
            // RFC 3261 §17.1.1.2: Timer B in "Calling": inform the TU of the timeout, move to "Terminated".
            return [.timeout] + self.terminate()
        case (.d, .completed):
            // RFC 3261 §17.1.1.2: Timer D fires in "Completed": move to "Terminated".
            return self.terminate()
        case (.m, .accepted):
            // RFC 6026 §8.4: Timer M fires in "Accepted": move to "Terminated".
            return self.terminate()
        default:
            // Timers of other machines or states have no effect (e.g. Timer B in "Proceeding").
            return []
        }
    }

    private mutating func handleTransportError() -> [Action] {
        switch self.state {
        case .calling, .proceeding, .completed:
            // RFC 3261 §17.1.1.2 and §17.1.4: a transport failure informs the TU and moves to "Terminated".
            // (Figure 5 shows it for "Calling" and "Completed"; in "Proceeding" nothing is sent, but a failed
            // connection means no final response can arrive either, so the TU is told at once.)
            return [.transportFailure] + self.terminate()
        case .accepted, .terminated:
            // RFC 6026 §8.4: the transaction sends nothing in "Accepted"; the TU sends the ACK for 2xx.
            return []
        }
    }

    // MARK: - Helpers

    private mutating func startTimer(_ timer: TransactionTimer, _ duration: TimeAmount) -> Action {
        self.running.started(timer)
        return .startTimer(timer, duration)
    }

    private mutating func cancel(_ timers: [TransactionTimer]) -> [Action] {
        self.running.cancel(timers).map { .cancelTimer($0) }
    }

    private mutating func terminate() -> [Action] {
        self.state = .terminated
        return self.running.cancelAll().map { .cancelTimer($0) } + [.terminated]
    }

    /// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): Request-URI, Call-ID, From and the CSeq number
    /// of the request with method ACK, the To of the response (with its tag), a single Via equal to the top Via
    /// of the request, the request's Route headers, Max-Forwards 70 and no body. Nil only if the parts do not
    /// validate, which cannot happen for a request and response that did.
    static func makeACK(for request: SIPRequest, response: SIPResponse) -> SIPRequest? {
        guard let via = request.headers.values("via").first,
            let from = request.headers["from"],
            let to = response.headers["to"]
        else { return nil }
        var headers = SIPHeaders()
        headers.add("Via", via)
        for route in request.headers.lines("route") {
            headers.add("Route", route)
        }
        headers.add("Max-Forwards", "70")
        headers.add("From", from)
        headers.add("To", to)
        headers.add("Call-ID", request.callID)
        headers.add("CSeq", CSeq(request.cseq.number, .ack).description)
        headers.add("Content-Length", "0")
        return try? SIPRequest(method: .ack, uri: request.uri, headers: headers)
    }
}
