// OverloadControl: when the proxy cannot keep up, it refuses a share of the *new* work at once with
// `503 Service Unavailable` and `Retry-After` (RFC 3261 §21.5.4) instead of letting every request wait.
//
// Why early refusal (RFC 6357 §3): a SIP server that answers late makes its clients retransmit (T1 = 500 ms), each
// retransmission is more work, the queue grows and soon nothing completes (goodput collapse). Refusing new calls
// keeps the queue short, so the calls already admitted (their ACK, BYE, CANCEL and responses, never shed) and
// the new calls that are admitted finish in time.
//
// The signal is the time a message waits before the proxy reads it, estimated once per sample interval:
//
//     queued datagrams  = octets in the socket's receive queue (SO_MEMINFO) / kernel octets per datagram
//     service time      = the loop thread's CPU time in the interval / messages it read
//     queue delay       = max(queued datagrams x service time,   (how long until the last one is read)
//                             the loop's lateness)               (how long the first one has waited at least)
//
// Both need datagrams waiting: a loop that is merely late (a busy host, a stall) with an empty queue has nobody
// to refuse. TCP is left out: the kernel slows TCP senders down by itself, so there overload shows as latency.
//
// A pure value: samples in, a shed share out; the shard that owns it feeds it from a timer and asks it per new
// request, so the controller is tested with made-up samples and no load.

import NIOCore

/// When to shed and what to tell the refused client.
public struct OverloadPolicy: Sendable, Equatable {
    /// The queueing delay the proxy keeps new requests under; nil turns shedding off.
    public var queueDelay: TimeAmount?
    /// Seconds in `Retry-After` of the 503 (§20.33): how long a well-behaved client waits before trying again.
    public var retryAfter: Int

    public init(queueDelay: TimeAmount? = .milliseconds(200), retryAfter: Int = 5) {
        self.queueDelay = queueDelay
        self.retryAfter = retryAfter
    }

    public var isEnabled: Bool { self.queueDelay != nil }

    /// How often the shard samples its queue and loop: often enough to react within a retransmission interval.
    static let sampleInterval = TimeAmount.milliseconds(50)
}

/// What a shard measured over one sample interval.
struct OverloadSample: Equatable {
    /// Octets the kernel holds in the shard's UDP receive queues (skb true sizes, not payload octets).
    var queuedOctets: Int
    /// Datagrams (and stream messages) read from the shard's sockets in the interval, and their payload octets.
    var messagesRead: Int
    var octetsRead: Int
    /// The length of the interval, and the CPU time the loop's thread used in it.
    var interval: TimeAmount
    var busy: TimeAmount
    /// How late the sampling timer ran: the loop's own backlog (handed-over messages, TCP, timers).
    var loopLag: TimeAmount
}

/// The controller of one shard.
struct OverloadControl {
    let policy: OverloadPolicy
    /// Share of new requests refused, in thousandths. Raised fast while the delay is over the target, lowered
    /// more slowly once it is under half of it (4 % per sample: 1.2 s from the maximum to none), and held in
    /// between, so the share settles instead of flapping.
    private(set) var shedPermille = 0
    /// The last estimates, for `sipctl status`.
    private(set) var queueDelay = TimeAmount.zero
    private(set) var loopLag = TimeAmount.zero
    /// Requests refused so far.
    var shedCount: UInt64 = 0
    /// CPU per message, smoothed over samples (a quarter of each new one): one interval with other work (a sweep
    /// of the location store, a hand-over burst) must not make every queued datagram look that expensive.
    private(set) var serviceTime: TimeAmount?

    /// Never refuse everything: a few new calls still go through and show when the overload is over.
    static let maximumPermille = 950
    /// Payload-independent kernel cost of one queued datagram (an sk_buff); with the payload rounded up to a
    /// power of two this matches Linux's `truesize` of small UDP datagrams (1,280 octets up to ~640 payload octets).
    static let kernelOverhead = 384

    init(policy: OverloadPolicy) {
        self.policy = policy
    }

    /// Folds in one interval's measurements and adjusts the shed share.
    mutating func update(_ sample: OverloadSample) {
        guard let target = self.policy.queueDelay, target > .zero else {
            self.shedPermille = 0
            return
        }
        if sample.messagesRead > 0 {
            let current = max(1_000, sample.busy.nanoseconds / Int64(sample.messagesRead))
            let smoothed = self.serviceTime.map { ($0.nanoseconds * 3 + current) / 4 } ?? current
            self.serviceTime = .nanoseconds(smoothed)
        }
        self.queueDelay = Self.estimateDelay(sample, serviceTime: self.serviceTime)
        self.loopLag = sample.loopLag
        let pressure = Double(self.queueDelay.nanoseconds) / Double(target.nanoseconds)
        if pressure > 1 {
            // The further over, the faster: a queue twice the target adds 10 % per sample (50 ms).
            let step = min(200, max(20, Int((pressure - 1) * 100)))
            self.shedPermille = min(Self.maximumPermille, self.shedPermille + step)
        } else if pressure < 0.5 {
            self.shedPermille = max(0, self.shedPermille - 40)
        }
    }

    /// Whether a new request is admitted. `hash` is taken from the request's branch, so the retransmissions of
    /// one request get the same answer while the share holds (a refused INVITE is not admitted 500 ms later, after
    /// its 503 may already have reached the caller).
    func admits(hash: UInt64, sharedPermille: Int? = nil) -> Bool {
        let permille = sharedPermille ?? self.shedPermille
        guard permille > 0 else { return true }
        return Int(hash % 1000) >= permille
    }

    /// The queueing delay implied by the receive queue, the time the loop spends per message and its lateness.
    static func estimateDelay(_ sample: OverloadSample, serviceTime: TimeAmount? = nil) -> TimeAmount {
        guard sample.queuedOctets > 0 else { return .zero }
        let averagePayload = sample.messagesRead > 0 ? sample.octetsRead / sample.messagesRead : 600
        let perDatagram = Self.trueSize(payload: averagePayload)
        let queued = max(1, sample.queuedOctets / perDatagram)
        guard sample.messagesRead > 0 else {
            // Nothing was read while datagrams waited: the loop was stuck for the whole interval at least.
            return sample.interval + sample.loopLag
        }
        let perMessage = serviceTime?.nanoseconds ?? max(1_000, sample.busy.nanoseconds / Int64(sample.messagesRead))
        return max(.nanoseconds(perMessage * Int64(queued)), sample.loopLag)
    }

    /// Octets the kernel charges a socket for a datagram of `payload` octets (its skb `truesize`), estimated.
    static func trueSize(payload: Int) -> Int {
        var size = 512
        while size < payload + Self.kernelOverhead { size <<= 1 }
        return size + 256
    }
}
