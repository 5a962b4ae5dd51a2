// TransactionTimers: the RFC 3261 §17 timer values (Table 4 in appendix A) and the RFC 6026 additions.

import NIOCore

/// The base timer values of the transaction layer and the durations derived from them.
///
/// Every value is configuration: the state machines read the clock through nobody but the transaction layer,
/// which turns `startTimer` actions into scheduled tasks.
public struct TransactionTimers: Sendable, Equatable {
    /// RTT estimate (RFC 3261 §17.1.1.1), 500 ms by default.
    public var t1: TimeAmount
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (RFC 3261 §17.1.2.2), 4 s.
    public var t2: TimeAmount
    /// Maximum duration a message remains in the network (RFC 3261 §17.1.2.2), 5 s.
    public var t4: TimeAmount
    /// Proxy INVITE transaction timer; RFC 3261 §16.6 step 11 requires more than 3 minutes, 180 s by default.
    public var timerC: TimeAmount

    public init(
        t1: TimeAmount = .milliseconds(500),
        t2: TimeAmount = .seconds(4),
        t4: TimeAmount = .seconds(5),
        timerC: TimeAmount = .seconds(180)
    ) {
        self.t1 = t1
        self.t2 = t2
        self.t4 = t4
        self.timerC = timerC
    }

    /// The RFC 3261 defaults.
    public static let `default` = TransactionTimers()

    /// 64*T1: the transaction timeout of every machine (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
    public var sixtyFourT1: TimeAmount { self.t1 * 64 }

    /// INVITE transaction timeout, 64*T1 (RFC 3261 §17.1.1.2).
    public var timerB: TimeAmount { self.sixtyFourT1 }
    /// Non-INVITE transaction timeout, 64*T1 (RFC 3261 §17.1.2.2).
    public var timerF: TimeAmount { self.sixtyFourT1 }
    /// Wait time for ACK receipt, 64*T1 (RFC 3261 §17.2.1).
    public var timerH: TimeAmount { self.sixtyFourT1 }
    /// Wait time for non-INVITE request retransmissions, 64*T1 on unreliable transports (RFC 3261 §17.2.2).
    public var timerJ: TimeAmount { self.sixtyFourT1 }
    /// Wait time for accepted INVITE request retransmissions, 64*T1 (RFC 6026 §8.7).
    public var timerL: TimeAmount { self.sixtyFourT1 }
    /// Wait time for retransmissions of 2xx responses, 64*T1 (RFC 6026 §8.4).
    public var timerM: TimeAmount { self.sixtyFourT1 }
    /// Wait time for response retransmissions, at least 32 s on unreliable transports (RFC 3261 §17.1.1.2).
    public var timerD: TimeAmount { .seconds(32) }
    /// Wait time for ACK retransmissions, T4 on unreliable transports (RFC 3261 §17.2.1).
    public var timerI: TimeAmount { self.t4 }
    /// Wait time for response retransmissions, T4 on unreliable transports (RFC 3261 §17.1.2.2).
    public var timerK: TimeAmount { self.t4 }

    /// Timer D: 32 s unreliable, zero reliable (RFC 3261 §17.1.1.2).
    public func timerD(reliable: Bool) -> TimeAmount { reliable ? .zero : self.timerD }
    /// Timer I: T4 unreliable, zero reliable (RFC 3261 §17.2.1).
    public func timerI(reliable: Bool) -> TimeAmount { reliable ? .zero : self.timerI }
    /// Timer J: 64*T1 unreliable, zero reliable (RFC 3261 §17.2.2).
    public func timerJ(reliable: Bool) -> TimeAmount { reliable ? .zero : self.timerJ }
    /// Timer K: T4 unreliable, zero reliable (RFC 3261 §17.1.2.2).
    public func timerK(reliable: Bool) -> TimeAmount { reliable ? .zero : self.timerK }
}
