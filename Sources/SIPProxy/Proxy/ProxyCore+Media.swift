// The SIP core's side of the media relay (`--media relay|nat`): which calls are relayed, and every SDP body of
// a relayed call handed to the relay on its way through (offer and answer in INVITE, 18x/2xx, ACK, re-INVITE,
// UPDATE, PRACK). The relay ends a call's ports on BYE, on a failed or cancelled INVITE, and on media timeout.

import NIOCore

extension ProxyCore {
    /// A request about to be forwarded statefully: a new call may start relaying; its SDP goes to the relay.
    /// Returns false when the request was answered instead (503: the relay's ports are used up).
    func relayMedia(_ request: inout SIPRequest, entry: ServerEntry, targets: [ForwardTarget], from peer: Peer) -> Bool {
        guard let media = self.media else { return true }
        let callID = request.callID
        if request.method == .invite, !request.isInDialog, !media.has(callID) {
            guard self.shouldRelay(request, targets: targets, from: peer) else { return true }
            media.begin(callID: callID, callerTag: request.from.tag ?? "")
        }
        guard let side = media.side(callID: callID, requestFromTag: request.from.tag) else { return true }
        switch media.rewrite(request.body, callID: callID, from: side) {
        case .body(let body):
            request.body = body
        case .unchanged:
            break
        case .exhausted:
            // RFC 3261 §21.5.4: the proxy cannot take the call now; the phone may try again later.
            self.logger.notice(
                "media relay: no free port pair in \(self.configuration.media.ports), 503",
                metadata: ["sip.call_id": "\(callID)"]
            )
            if request.method == .invite, !request.isInDialog { media.end(callID, .failed) }
            self.reply(entry, 503, extra: [("Retry-After", String(self.configuration.overload.retryAfter))])
            return false
        }
        if request.method == .bye { media.end(callID, .hungUp) }
        return true
    }

    /// An ACK forwarded statelessly: a late offer's answer (RFC 3261 §13.2.1) goes to the relay.
    func relayMedia(ack: inout SIPRequest) {
        guard let media = self.media, !ack.body.isEmpty,
            let side = media.side(callID: ack.callID, requestFromTag: ack.from.tag),
            case .body(let body) = media.rewrite(ack.body, callID: ack.callID, from: side)
        else { return }
        ack.body = body
    }

    /// A response going upstream: its SDP (from the side that did not send the request) goes to the relay; a 2xx to
    /// the INVITE starts the media timeout.
    func relayMedia(response: inout SIPResponse) {
        guard let media = self.media,
            let requestSide = media.side(callID: response.callID, requestFromTag: response.from.tag)
        else { return }
        if case .body(let body) = media.rewrite(response.body, callID: response.callID, from: requestSide.other) {
            response.body = body
        }
        if response.isSuccess, response.cseq.method == .invite { media.answered(callID: response.callID) }
        // RFC 4028 §4: a 2xx to INVITE or UPDATE with Session-Expires sets (or refreshes) the session interval.
        if response.isSuccess, response.cseq.method == .invite || response.cseq.method == .update,
            let value = response.headers.values("session-expires").first,
            let seconds = Int(value.prefix { $0.isNumber })
        {
            media.refreshed(callID: response.callID, sessionExpires: seconds)
        }
    }

    /// The final response to a call's first INVITE went upstream: a failure (or the 487 of a CANCEL) ends its relay.
    func relayMediaFinal(_ response: SIPResponse, request: SIPRequest) {
        guard let media = self.media, request.method == .invite, !request.isInDialog, response.statusCode >= 300 else {
            return
        }
        media.end(response.callID, .failed)
    }

    /// The relay heard nothing for its timeout, or the session timer ran out: the journal closes the call
    /// (`media-timeout`, or `timed-out` for a session never refreshed), with what the relay counted.
    func mediaTimedOut(_ callID: String, _ why: MediaRelay.Ending) {
        // Called back by the shard's media relay, which shares the shard's loop.
        self.eventLoop.assertInEventLoop()
        guard let journal = self.journal else { return }
        if let rtp = self.media?.rtp(callID: callID) { self.tracker.attachRTP(callID: callID, rtp) }
        let outcome: CallOutcome = why == .sessionExpired ? .timedOut : .mediaTimeout
        let events = self.tracker.endByMediaTimeout(callID: callID, outcome: outcome, at: .now())
        if !events.isEmpty {
            self.metrics.count(events)
            journal.record(events)
        }
    }

    /// The config's per-user lists first (`media.always_relay`, `media.never_relay`); then `relay`: every call.
    /// `nat`: a call whose caller or callee looks NATed: the caller's SDP or Contact address is
    /// not the address its INVITE came from, or a callee's registered Contact is not the address it registered from
    /// (Kamailio's nat_uac_test 1 and 8, RFC 7362 §3).
    private func shouldRelay(_ request: SIPRequest, targets: [ForwardTarget], from peer: Peer) -> Bool {
        if let forced = self.configuration.media.override(caller: request.from.uri.user, callee: request.uri.user) {
            return forced
        }
        switch self.configuration.media.mode {
        case .direct: return false
        case .relay: return true
        case .nat:
            let source = peer.remote.ipText ?? ""
            if let contact = request.contacts.first, contact.uri.bareHost != source
            {
                return true
            }
            if let sdp = SDPDocument(request.body) {
                for index in sdp.media.indices {
                    if let (address, _) = sdp.destination(of: index), address != source, address != "0.0.0.0" { return true }
                }
            }
            return targets.contains { target in
                guard let binding = target.binding else { return false }
                return binding.contact.uri.bareHost != (binding.source.remote.ipText ?? "")
            }
        }
    }
}
