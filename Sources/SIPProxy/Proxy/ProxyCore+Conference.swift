// Calls to a conference room (`--conference 800`): the proxy answers them itself, as the UAS of each leg
// (RFC 3261 §8.2, §12.1.1, §13.3, §15.1.2), and the ConferenceService seats the caller in the room.

import NIOCore

extension ProxyCore {
    /// Whether the request is for a room this proxy hosts (its Request-URI is ours and names a room), which the
    /// proxy answers instead of forwarding.
    func isForConference(_ request: SIPRequest) -> Bool {
        guard let conferences = self.shared.conferences, request.method != .register, self.isLocal(request.uri) else {
            return false
        }
        return conferences.isRoom(request.uri.user)
    }

    /// Answers a request to a room.
    func handleConference(_ request: SIPRequest, entry: ServerEntry, from peer: Peer) {
        guard let conferences = self.shared.conferences, let room = request.uri.user else { return }
        switch request.method {
        case .invite, .update:
            // An initial INVITE seats the caller; a re-INVITE or UPDATE with a new offer moves its media. An
            // in-dialog request for a leg the room does not know (after a restart) gets 481 (§12.2.2).
            if request.isInDialog, !conferences.isSeated(request.callID) {
                self.reply(entry, 481)
                return
            }
            switch conferences.join(room: room, callID: request.callID, user: request.from.uri.user ?? "?", offer: request.body) {
            case .success(let answer):
                self.answerConference(entry, request, answer: answer, from: peer)
            case .failure(let refusal):
                self.logger.info(
                    "conference \(room): \(request.from.callParty) refused, \(refusal.status)",
                    metadata: ["sip.call_id": "\(request.callID)"]
                )
                var extra: [(String, String)] = []
                if refusal == .unavailable { extra.append(("Retry-After", String(self.configuration.overload.retryAfter))) }
                if refusal == .notAcceptable { extra.append(("Warning", "304 SIPProxy \"PCMU or PCMA on plain RTP only\"")) }
                self.reply(entry, refusal.status, extra: extra)
            }
        case .bye:
            conferences.leave(callID: request.callID)
            self.reply(entry, 200)
        case .options, .info:
            self.reply(entry, 200, extra: [("Allow", Self.conferenceAllow)])
        case .cancel, .ack:
            break
        default:
            self.reply(entry, 405, extra: [("Allow", Self.conferenceAllow)])
        }
    }

    static let conferenceAllow = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO"

    /// The 2xx with the room's SDP, a Contact that reaches the room through this listener (the target of the
    /// leg's in-dialog requests, §12.1.1), and what the room allows.
    private func answerConference(_ entry: ServerEntry, _ request: SIPRequest, answer: [UInt8], from peer: Peer) {
        let host = self.advertisedHost(peer.local)
        let transport = peer.transport == .udp ? "" : ";transport=\(peer.transport.rawValue.lowercased())"
        let scheme = peer.transport == .tls ? "sips" : "sip"
        let room = request.uri.user ?? ""
        guard var response = SIPResponse.reply(
            to: request, status: 200, reason: self.phrases.generated(200, for: request), toTag: entry.localTag,
            extraHeaders: [
                ("Contact", "<\(scheme):\(room)@\(host):\(peer.local.port ?? 5060)\(transport)>"),
                ("Allow", Self.conferenceAllow),
                ("Content-Type", "application/sdp"),
            ]
        ) else { return }
        // Record-Route is copied into a 2xx (§12.1.1): the dialog's route set goes through the same proxies.
        for value in request.headers.lines("record-route") { response.headers.add("Record-Route", value) }
        response.body = answer
        self.transactions.respond(entry, response)
        if request.method == .invite, peer.transport == .udp {
            self.retransmitRoomAnswer(response, to: entry.destination, key: "\(request.callID) \(request.cseq.number)",
                                      interval: self.configuration.timers.t1, elapsed: .zero)
        }
    }

    /// §13.3.1.4: over UDP the UAS core resends its 2xx at T1, 2·T1, ... up to T2 apart until the ACK comes, for
    /// 64·T1 at most (the transaction itself ended with the 2xx).
    private func retransmitRoomAnswer(_ response: SIPResponse, to peer: Peer, key: String, interval: TimeAmount, elapsed: TimeAmount) {
        let timers = self.configuration.timers
        guard elapsed + interval <= timers.t1 * 64 else {
            self.roomAnswers[key] = nil
            return
        }
        self.roomAnswers[key] = self.timers.schedule(in: interval) { [weak self] in
            guard let self, self.roomAnswers[key] != nil else { return }
            _ = self.transactions.sendResponse(response, to: peer)
            self.retransmitRoomAnswer(response, to: peer, key: key, interval: min(interval * 2, timers.t2),
                                      elapsed: elapsed + interval)
        }
    }

    /// The ACK of a room's 2xx arrived: no more retransmissions.
    func roomAnswerAcknowledged(_ ack: SIPRequest) {
        if let timer = self.roomAnswers.removeValue(forKey: "\(ack.callID) \(ack.cseq.number)") { self.timers.cancel(timer) }
    }
}
