// TransactionTimer: the names of the RFC 3261 §17 timers (Table 4 in appendix A) and the RFC 6026 additions.

/// A transaction timer. The machines ask for them with `startTimer` / `cancelTimer` actions and learn that one
/// expired through a `timerFired` event; Timer C belongs to the proxy core (RFC 3261 §16.6 step 11), not here.
public enum TransactionTimer: Hashable, Sendable, CaseIterable {
    /// INVITE request retransmit interval, unreliable transports only (RFC 3261 §17.1.1.2).
    case a
    /// INVITE transaction timeout (RFC 3261 §17.1.1.2).
    case b
    /// Wait time for response retransmissions in the INVITE client "Completed" state (RFC 3261 §17.1.1.2).
    case d
    /// Non-INVITE request retransmit interval, unreliable transports only (RFC 3261 §17.1.2.2).
    case e
    /// Non-INVITE transaction timeout (RFC 3261 §17.1.2.2).
    case f
    /// INVITE response retransmit interval, unreliable transports only (RFC 3261 §17.2.1).
    case g
    /// Wait time for ACK receipt (RFC 3261 §17.2.1).
    case h
    /// Wait time for ACK retransmissions (RFC 3261 §17.2.1).
    case i
    /// Wait time for non-INVITE request retransmissions (RFC 3261 §17.2.2).
    case j
    /// Wait time for non-INVITE response retransmissions (RFC 3261 §17.1.2.2).
    case k
    /// Wait time for accepted INVITE request retransmissions (RFC 6026 §8.7).
    case l
    /// Wait time for retransmissions of 2xx responses (RFC 6026 §8.4).
    case m
}

/// The timers a machine has started and not yet seen fire or cancelled.
///
/// Lets each machine ignore stale `timerFired` events (a firing that raced with a cancel) and cancel whatever is
/// still running when it terminates, so the layer never has to guess.
struct RunningTimers: Sendable, Equatable {
    private var running: Set<TransactionTimer> = []

    func contains(_ timer: TransactionTimer) -> Bool { self.running.contains(timer) }

    /// Records that a timer was started (or restarted).
    mutating func started(_ timer: TransactionTimer) {
        self.running.insert(timer)
    }

    /// Consumes a firing: true when the timer was running (the event is current), false when it is stale.
    mutating func fired(_ timer: TransactionTimer) -> Bool {
        self.running.remove(timer) != nil
    }

    /// The timers among `timers` that are running, in the given order, now marked stopped.
    mutating func cancel(_ timers: [TransactionTimer]) -> [TransactionTimer] {
        timers.filter { self.running.remove($0) != nil }
    }

    /// Every running timer in declaration order, now marked stopped.
    mutating func cancelAll() -> [TransactionTimer] {
        self.cancel(TransactionTimer.allCases)
    }
}
