// ProxyContext: the response context of one proxied request (RFC 3261 §16.7), with one branch per target.

import NIOCore

/// One forwarded copy of the request (RFC 3261 §16.6).
struct ProxyBranch {
    let key: TransactionKey
    /// The request exactly as sent on this branch (carries the proxy's Via).
    let request: SIPRequest
    let destination: Peer
    /// A provisional response arrived: a CANCEL may now be sent (§9.1).
    var provisional = false
    /// The final status, once one arrived or was synthesized (408/503).
    var finalStatus: Int?
    /// Upstream cancelled while no provisional had arrived yet: send CANCEL as soon as one does (§9.1).
    var cancelPending = false
    var cancelSent = false
    /// Timer C (§16.6 step 11), INVITE only.
    var timerC: TimerID?
    /// Sent over TCP only because of its size (§18.1.1): how to send it over UDP instead if TCP is refused.
    var udpFallback: Fallback?

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

/// State shared by the branches of one server transaction.
final class ProxyContext {
    let serverKey: TransactionKey
    /// The request as received (after Via stamping and Route processing): the base for locally made responses.
    let request: SIPRequest
    var branches: [ProxyBranch] = []
    /// Final responses collected from branches, already stripped of the proxy's Via (§16.7 step 3).
    var finals: [SIPResponse] = []
    /// A final response has been sent upstream (after which only 2xx are still forwarded, §16.7 step 10).
    var finalForwarded = false
    /// Upstream sent CANCEL (§16.10).
    var cancelled = false
    /// A branch answered 2xx.
    var answered = false
    /// The call-event log line for ringing was written.
    var ringingLogged = false
    /// Call forwarding and redirect recursion state (ProxyCore+Forwarding); nil for a plain call.
    var forwarding: ForwardingContext?

    /// §16.3 step 4 hash of the request as it arrived: every branch's Via carries it, and loop detection
    /// compares an arriving request's hash with it, so both must be taken over the same (unprocessed) fields.
    let loopHash: UInt64

    init(serverKey: TransactionKey, request: SIPRequest, loopHash: UInt64) {
        self.serverKey = serverKey
        self.request = request
        self.loopHash = loopHash
    }

    var isInvite: Bool { self.request.method == .invite }

    /// An initial INVITE: a call attempt, logged as call events (re-INVITEs are not).
    var isCall: Bool { self.isInvite && !self.request.isInDialog }

    /// `alice -> bob` for call-event log lines: display names when given, else user parts.
    var callLabel: String { "\(self.request.from.callParty) -> \(self.request.to.callParty)" }

    var allBranchesFinal: Bool { self.branches.allSatisfy { $0.finalStatus != nil } }

    /// RFC 3261 §16.7 step 6: choose the best final response among the branches. A 6xx wins; otherwise the
    /// lowest class; a 503 becomes 500 (the caller makes that one locally); no response at all means 408.
    func bestFinal() -> SIPResponse? {
        if let global = self.finals.first(where: { $0.statusCode >= 600 }) { return global }
        return self.finals.min { a, b in
            let ca = a.statusCode / 100
            let cb = b.statusCode / 100
            if ca != cb { return ca < cb }
            // Within a class, prefer a phone's own answer (e.g. 486) to a synthesized timeout.
            return a.statusCode != 408 && b.statusCode == 408
        }
    }
}

extension NameAddress {
    /// A short name for logs: the display name, else the user part, else the host.
    var callParty: String {
        if let text = self.displayText, !text.isEmpty { return text }
        return self.uri.user ?? self.uri.host
    }
}
