// NonInviteServerTransaction: the non-INVITE server transaction of RFC 3261 §17.2.2 (figure 8).

import NIOCore

/// The non-INVITE server transaction as a pure value: events in, actions out, no clock and no I/O.
///
/// It is created when the request arrives, in "Trying" (RFC 3261 §17.2.2). `terminated` is always the last action
/// of a list; any timer still running is cancelled just before it.
public struct NonInviteServerTransaction: Sendable {
    public enum State: Sendable, Equatable {
        case trying
        case proceeding
        case completed
        case terminated
    }

    public enum Event: Sendable {
        /// The same request arrived again.
        case retransmission
        /// The TU sends a response.
        case sendResponse(SIPResponse)
        case timerFired(TransactionTimer)
        case transportError
    }

    public enum Action: Sendable, Equatable {
        /// Put this response on the wire (for retransmissions: the last one).
        case send(SIPResponse)
        case startTimer(TransactionTimer, TimeAmount)
        case cancelTimer(TransactionTimer)
        case terminated
        /// A transport error (RFC 3261 §17.2.4).
        case transportFailure
    }

    public private(set) var state: State
    public let request: SIPRequest
    public let reliable: Bool
    public let timers: TransactionTimers
    /// The most recent response the TU sent, retransmitted for request retransmissions.
    public private(set) var lastResponse: SIPResponse?

    private var running = RunningTimers()

    public init(request: SIPRequest, reliable: Bool, timers: TransactionTimers) {
        self.state = .trying
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.lastResponse = nil
    }

    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .retransmission:
            return self.handleRetransmission()
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
        case .trying, .terminated:
            // RFC 3261 §17.2.2: retransmissions in "Trying" are discarded.
            return []
        case .proceeding, .completed:
            // RFC 3261 §17.2.2: a retransmission in "Proceeding" or "Completed" re-sends the last response.
            return self.lastResponse.map { [.send($0)] } ?? []
        }
    }

    private mutating func handleSendResponse(_ response: SIPResponse) -> [Action] {
        switch self.state {
        case .trying, .proceeding:
            self.lastResponse = response
            if response.isProvisional {
                // RFC 3261 §17.2.2: a provisional response from the TU moves to (or stays in) "Proceeding".
                self.state = .proceeding
                return [.send(response)]
            }
            // RFC 3261 §17.2.2: a final response moves to "Completed" and starts Timer J (64*T1 unreliable, zero
            // reliable: then "Terminated" at once).
            var actions: [Action] = [.send(response)]
            let timerJ = self.timers.timerJ(reliable: self.reliable)
            if timerJ > .zero {
                self.state = .completed
                actions.append(self.startTimer(.j, timerJ))
            } else {
                actions += self.terminate()
            }
            return actions
        case .completed, .terminated:
            // RFC 3261 §17.2.2: other final responses from the TU are discarded in "Completed".
            return []
        }
    }

    private mutating func handleTimer(_ timer: TransactionTimer) -> [Action] {
        guard self.running.fired(timer) else { return [] }
        switch (timer, self.state) {
        case (.j, .completed):
            // RFC 3261 §17.2.2: Timer J fires in "Completed": move to "Terminated".
            return self.terminate()
        default:
            return []
        }
    }

    private mutating func handleTransportError() -> [Action] {
        switch self.state {
        case .trying, .proceeding, .completed:
            // RFC 3261 §17.2.2 (figure 8) and §17.2.4: a failure to send a response informs the TU and
            // terminates the transaction.
            return [.transportFailure] + self.terminate()
        case .terminated:
            return []
        }
    }

    // MARK: - Helpers

    private mutating func startTimer(_ timer: TransactionTimer, _ duration: TimeAmount) -> Action {
        self.running.started(timer)
        return .startTimer(timer, duration)
    }

    private mutating func terminate() -> [Action] {
        self.state = .terminated
        return self.running.cancelAll().map { .cancelTimer($0) } + [.terminated]
    }
}
