// ProxyContext: one proxied request: its §16.7 state machine (`ResponseContext`) and the branches as sent.

import NIOCore

/// One forwarded copy of the request (RFC 3261 §16.6): what was sent where. Its SIP state (provisional, final,
/// CANCEL) is in the context's `ResponseContext`.
struct ProxyBranch {
    let key: TransactionKey
    /// The request exactly as sent on this branch (carries the proxy's Via).
    let request: SIPRequest
    let destination: Peer
    /// Timer C (§16.6 step 11), INVITE only.
    var timerC: TimerID?
    /// 64*T1 after a CANCEL on this branch: no final response by then and the branch is given up (§9.1).
    var cancelGuard: TimerID?
    /// Sent over TCP only because of its size (§18.1.1): how to send it over UDP instead if TCP is refused.
    var udpFallback: Fallback?
    /// RFC 3263 §4.3: the next DNS target to try when this one fails (its target's `resolved` holds the rest).
    var nextTarget: Fallback?
    /// RFC 3263 §4.3: no response at all from this target by then, and the next one is tried (ProxyCore+DNS).
    var failoverTimer: TimerID?

    struct Fallback {
        /// The request before this branch's edits (Via, Record-Route, Request-URI).
        let request: SIPRequest
        let target: ProxyCore.ForwardTarget
        /// The UDP destination the request would have gone to.
        let destination: Peer
        /// Where the request came from (decides the Record-Route pair).
        let peer: Peer
    }
}

/// One proxied request: the §16.7 state machine and what the core needs to act on its decisions.
final class ProxyContext {
    let serverKey: TransactionKey
    /// The request as received (after Via stamping and Route processing): the base for locally made responses.
    let request: SIPRequest
    /// The SIP decisions: branches' states, best response, CANCEL, Timer C (RFC 3261 §16.7).
    var machine: ResponseContext
    /// The branches as sent, index for index with `machine.branches`.
    var branches: [ProxyBranch] = []
    /// The call-event log line for ringing was written.
    var ringingLogged = false
    /// Call forwarding and redirect recursion state (ProxyCore+Forwarding); nil for a plain call.
    var forwarding: ForwardingContext?
    /// The current forwarding group's no-answer timer (started and stopped by the machine).
    var noAnswerTimer: TimerID?

    /// §16.3 step 4 hash of the request as it arrived: every branch's Via carries it, and loop detection
    /// compares an arriving request's hash with it, so both must be taken over the same (unprocessed) fields.
    let loopHash: UInt64

    init(serverKey: TransactionKey, request: SIPRequest, loopHash: UInt64, followRedirects: Bool) {
        self.serverKey = serverKey
        self.request = request
        self.loopHash = loopHash
        let isInvite = request.method == .invite
        self.machine = ResponseContext(
            options: .init(isInvite: isInvite, isCall: isInvite && !request.isInDialog, followRedirects: followRedirects)
        )
    }

    var isInvite: Bool { self.machine.options.isInvite }

    /// An initial INVITE: a call attempt, logged as call events (re-INVITEs are not).
    var isCall: Bool { self.machine.options.isCall }

    /// `alice -> bob` for call-event log lines: display names when given, else user parts.
    var callLabel: String { "\(self.request.from.callParty) -> \(self.request.to.callParty)" }
}

extension NameAddress {
    /// A short name for logs: the display name, else the user part, else the host.
    var callParty: String {
        if let text = self.displayText, !text.isEmpty { return text }
        return self.uri.user ?? self.uri.host
    }
}
