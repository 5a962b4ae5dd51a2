// InviteServerTransaction: the INVITE server transaction of RFC 3261 §17.2.1 with the "Accepted" state and
// Timer L of RFC 6026 §7.1 (figure 7 as updated by RFC 6026 §7.1).

import NIOCore

/// The INVITE server transaction as a pure value: events in, actions out, no clock and no I/O.
///
/// It is created when the INVITE arrives, in "Proceeding"; the proxy core sends its own 100 Trying through
/// `sendResponse` (RFC 3261 §16.2, §17.2.1). `terminated` is always the last action of a list; any timer still
/// running is cancelled just before it.
public struct InviteServerTransaction: Sendable {
    public enum State: Sendable, Equatable {
        case proceeding
        case completed
        case confirmed
        /// A 2xx was sent; the TU retransmits it and receives the ACK (RFC 6026 §7.1).
        case accepted
        case terminated
    }

    public enum Event: Sendable {
        /// The same INVITE arrived again.
        case retransmission
        /// An ACK matching this transaction.
        case ack(SIPRequest)
        /// The TU sends a response.
        case sendResponse(SIPResponse)
        case timerFired(TransactionTimer)
        case transportError
    }

    public enum Action: Sendable, Equatable {
        /// Put this response on the wire (for retransmissions: the last one).
        case send(SIPResponse)
        /// An ACK in "Accepted" (an ACK for a 2xx, RFC 6026 §7.1): the TU forwards it.
        case passACKToTU(SIPRequest)
        /// Timer H fired without an ACK (RFC 3261 §17.2.1).
        case timeout
        /// A transport error (RFC 3261 §17.2.4).
        case transportFailure
        case startTimer(TransactionTimer, TimeAmount)
        case cancelTimer(TransactionTimer)
        case terminated
    }

    public private(set) var state: State
    public let request: SIPRequest
    public let reliable: Bool
    public let timers: TransactionTimers
    /// The most recent response the TU sent, retransmitted for INVITE retransmissions and Timer G.
    public private(set) var lastResponse: SIPResponse?

    /// The current Timer G interval: doubles up to T2 (RFC 3261 §17.2.1).
    private var timerGInterval: TimeAmount
    private var running = RunningTimers()

    public init(request: SIPRequest, reliable: Bool, timers: TransactionTimers) {
        self.state = .proceeding
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.lastResponse = nil
        self.timerGInterval = timers.t1
    }

    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .retransmission:
            return self.handleRetransmission()
        case .ack(let ack):
            return self.handleACK(ack)
        case .sendResponse(let response):
            return self.handleSendResponse(response)
        case .timerFired(let timer):
            return self.handleTimer(timer)
        case .transportError:
            return self.handleTransportError()
        }
    }

    // MARK: - Transitions

    private mutating func handleRetransmission() -> [Action] {
        switch self.state {
        case .proceeding, .completed:
            // RFC 3261 §17.2.1: a retransmitted INVITE in "Proceeding" or "Completed" re-sends the most recent
            // response (nothing when the TU has not answered yet).
            return self.lastResponse.map { [.send($0)] } ?? []
        case .accepted, .confirmed, .terminated:
            // RFC 6026 §7.1: INVITE retransmissions are absorbed in "Accepted"; RFC 3261 §17.2.1: and in
            // "Confirmed".
            return []
        }
    }

    private mutating func handleACK(_ ack: SIPRequest) -> [Action] {
        switch self.state {
        case .completed:
            // RFC 3261 §17.2.1: an ACK in "Completed" moves to "Confirmed": Timer G stops (and H, which only
            // guards "Completed"), Timer I starts (T4 unreliable, zero reliable: then "Terminated" at once).
            var actions = self.cancel([.g, .h])
            let timerI = self.timers.timerI(reliable: self.reliable)
            if timerI > .zero {
                self.state = .confirmed
                actions.append(self.startTimer(.i, timerI))
            } else {
                actions += self.terminate()
            }
            return actions
        case .accepted:
            // RFC 6026 §7.1: an ACK in "Accepted" (the ACK for a 2xx) is passed to the TU.
            return [.passACKToTU(ack)]
        case .proceeding, .confirmed, .terminated:
            // RFC 3261 §17.2.1: ACK retransmissions are absorbed in "Confirmed"; elsewhere an ACK is stray.
            return []
        }
    }

    private mutating func handleSendResponse(_ response: SIPResponse) -> [Action] {
        switch self.state {
        case .proceeding:
            self.lastResponse = response
            switch response.statusCode {
            case 100..<200:
                // RFC 3261 §17.2.1: a provisional response from the TU is sent and the state is unchanged.
                return [.send(response)]
            case 200..<300:
                // RFC 6026 §7.1: a 2xx from the TU is sent, the transaction moves to "Accepted" and Timer L
                // starts.
                self.state = .accepted
                return [.send(response), self.startTimer(.l, self.timers.timerL)]
            default:
                // RFC 3261 §17.2.1: a 300-699 response moves to "Completed"; Timer G (T1, unreliable only) and
                // Timer H (64*T1) start.
                self.state = .completed
                var actions: [Action] = [.send(response)]
                if !self.reliable {
                    self.timerGInterval = self.timers.t1
                    actions.append(self.startTimer(.g, self.timerGInterval))
                }
                actions.append(self.startTimer(.h, self.timers.timerH))
                return actions
            }
        case .accepted:
            // RFC 6026 §7.1: 2xx retransmissions from the TU are passed to the transport in "Accepted".
            guard response.isSuccess else { return [] }
            self.lastResponse = response
            return [.send(response)]
        case .completed, .confirmed, .terminated:
            // RFC 3261 §17.2.1: the final response has been sent; further responses from the TU are dropped.
            return []
        }
    }

    private mutating func handleTimer(_ timer: TransactionTimer) -> [Action] {
        guard self.running.fired(timer) else { return [] }
        switch (timer, self.state) {
        case (.g, .completed):
            // RFC 3261 §17.2.1: Timer G fires: re-send the response, reset to MIN(2*previous, T2).
            self.timerGInterval = min(self.timerGInterval * 2, self.timers.t2)
            let resend: [Action] = self.lastResponse.map { [.send($0)] } ?? []
            return resend + [self.startTimer(.g, self.timerGInterval)]
        case (.h, .completed):
            // RFC 3261 §17.2.1: Timer H fires in "Completed": no ACK arrived; inform the TU, terminate.
            return [.timeout] + self.terminate()
        case (.i, .confirmed):
            // RFC 3261 §17.2.1: Timer I fires in "Confirmed": move to "Terminated".
            return self.terminate()
        case (.l, .accepted):
            // RFC 6026 §7.1: Timer L fires in "Accepted": move to "Terminated".
            return self.terminate()
        default:
            return []
        }
    }

    private mutating func handleTransportError() -> [Action] {
        switch self.state {
        case .proceeding, .completed:
            // RFC 3261 §17.2.1 (figure 7) and §17.2.4: a failure to send a response informs the TU and
            // terminates the transaction.
            return [.transportFailure] + self.terminate()
        case .accepted:
            // RFC 6026 §7.1 (figure 7 update): a transport error in "Accepted" informs the TU; the state is kept,
            // since the TU may still retransmit the 2xx and must still receive the ACK.
            return [.transportFailure]
        case .confirmed, .terminated:
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
}
