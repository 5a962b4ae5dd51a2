// NonInviteClientTransaction: the non-INVITE client transaction of RFC 3261 §17.1.2 (figure 6).

import NIOCore

/// The non-INVITE client transaction as a pure value: events in, actions out, no clock and no I/O.
///
/// The transaction layer feeds `handle(_:)` and performs the returned actions in order. `terminated` is always the
/// last action of a list; any timer still running is cancelled just before it.
public struct NonInviteClientTransaction: Sendable {
    public enum State: Sendable, Equatable {
        case trying
        case proceeding
        case completed
        case terminated
    }

    public enum Event: Sendable {
        /// The TU handed the request over: send it and start the timers (RFC 3261 §17.1.2.2).
        case start
        case response(SIPResponse)
        case timerFired(TransactionTimer)
        case transportError
    }

    public enum Action: Sendable, Equatable {
        /// (Re)transmit the stored request.
        case sendRequest
        /// Hand the response to the proxy core.
        case passToTU(SIPResponse)
        /// Timer F fired: the TU must act as if a 408 was received (RFC 3261 §16.7 step 2, §17.1.2.2).
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
    /// The current Timer E interval: doubles up to T2 in "Trying", T2 in "Proceeding" (RFC 3261 §17.1.2.2).
    private var timerEInterval: TimeAmount
    private var running = RunningTimers()

    public init(request: SIPRequest, reliable: Bool, timers: TransactionTimers) {
        self.state = .trying
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.timerEInterval = timers.t1
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
        guard self.state == .trying, !self.started else { return [] }
        self.started = true
        // RFC 3261 §17.1.2.2: pass the request to the transport, start Timer F with 64*T1 and, on an unreliable
        // transport, Timer E with T1.
        var actions: [Action] = [.sendRequest]
        if !self.reliable {
            actions.append(self.startTimer(.e, self.timerEInterval))
        }
        actions.append(self.startTimer(.f, self.timers.timerF))
        return actions
    }

    private mutating func handleResponse(_ response: SIPResponse) -> [Action] {
        switch self.state {
        case .trying, .proceeding:
            if response.isProvisional {
                // RFC 3261 §17.1.2.2: a provisional response moves to (or stays in) "Proceeding" and goes to the
                // TU; Timer E keeps running.
                self.state = .proceeding
                return [.passToTU(response)]
            }
            // RFC 3261 §17.1.2.2: a final response moves to "Completed" and goes to the TU; Timer K starts (T4
            // unreliable, zero reliable: then "Terminated" at once).
            var actions = self.cancel([.e, .f]) + [.passToTU(response)]
            let timerK = self.timers.timerK(reliable: self.reliable)
            if timerK > .zero {
                self.state = .completed
                actions.append(self.startTimer(.k, timerK))
            } else {
                actions += self.terminate()
            }
            return actions
        case .completed, .terminated:
            // RFC 3261 §17.1.2.2: "Completed" buffers response retransmissions; nothing reaches the TU.
            return []
        }
    }

    private mutating func handleTimer(_ timer: TransactionTimer) -> [Action] {
        guard self.running.fired(timer) else { return [] }
        switch (timer, self.state) {
        case (.e, .trying):
            // RFC 3261 §17.1.2.2: Timer E in "Trying": retransmit, reset to MIN(2*previous, T2).
            self.timerEInterval = min(self.timerEInterval * 2, self.timers.t2)
            return [.sendRequest, self.startTimer(.e, self.timerEInterval)]
        case (.e, .proceeding):
            // RFC 3261 §17.1.2.2: Timer E in "Proceeding": retransmit, reset to T2.
            self.timerEInterval = self.timers.t2
            return [.sendRequest, self.startTimer(.e, self.timerEInterval)]
        case (.f, .trying), (.f, .proceeding):
            // RFC 3261 §17.1.2.2: Timer F in "Trying" or "Proceeding": inform the TU of the timeout, terminate.
            return [.timeout] + self.terminate()
        case (.k, .completed):
            // RFC 3261 §17.1.2.2: Timer K fires in "Completed": move to "Terminated".
            return self.terminate()
        default:
            return []
        }
    }

    private mutating func handleTransportError() -> [Action] {
        switch self.state {
        case .trying, .proceeding:
            // RFC 3261 §17.1.2.2 and §17.1.4: a transport failure informs the TU and moves to "Terminated".
            return [.transportFailure] + self.terminate()
        case .completed, .terminated:
            // Nothing is sent in "Completed"; the TU already has the final response.
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
