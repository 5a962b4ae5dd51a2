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
        // A leg still seated belongs to its room even when the Request-URI names a room that has just ended.
        return conferences.isRoom(request.uri.user) || (request.isInDialog && conferences.isSeated(request.callID))
    }

    /// Answers a request to a room.
    /// Option tags the room supports (RFC 3261 §19.2).
    static let roomExtensions: Set<String> = ["norefersub"]

    func handleConference(_ request: SIPRequest, entry: ServerEntry, from peer: Peer) {
        guard let conferences = self.shared.conferences, var room = request.uri.user else { return }
        // RFC 3261 §8.2.2.3: the room is the UAS; an extension a request requires that it does not know gets 420
        // (RFC 4488's norefersub it does know: a REFER with Refer-Sub: false gets no NOTIFYs).
        if request.method != .ack, request.method != .cancel {
            let unsupported = request.headers.values("require")
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                .filter { !$0.isEmpty && !Self.roomExtensions.contains($0) }
            if !unsupported.isEmpty {
                self.reply(entry, 420, extra: [("Unsupported", unsupported.joined(separator: ", "))])
                return
            }
        }
        // RFC 4579 §5.2: an INVITE to the factory opens a new room; the 2xx's Contact is that room's URI.
        let adHoc = request.method == .invite && !request.isInDialog && conferences.isFactory(room)
        if adHoc { room = conferences.openAdHocRoom() }
        defer { if adHoc { conferences.forgetIfEmpty(room) } }
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
                self.answerConference(entry, request, room: room, answer: answer, from: peer)
                if !request.isInDialog, request.method == .invite {
                    self.rememberRoomLeg(request, entry: entry, room: room, from: peer)
                }
            case .failure(let refusal):
                self.logger.info(
                    "conference \(room): \(request.from.callParty) refused, \(refusal.status)",
                    metadata: ["sip.call_id": "\(request.callID)"]
                )
                var extra: [(String, String)] = []
                if refusal == .unavailable { extra.append(("Retry-After", String(self.configuration.overload.retryAfter))) }
                if refusal == .notAcceptable { extra.append(("Warning", "304 SIPProxy \"PCMU, PCMA, G722 or opus on plain RTP only\"")) }
                self.reply(entry, refusal.status, extra: extra)
            }
        case .bye:
            conferences.leave(callID: request.callID)
            self.roomLegs[request.callID] = nil
            self.reply(entry, 200)
        case .refer:
            // RFC 4579 §5.5: a participant asks the focus to bring someone in (ProxyCore+RoomReferral).
            self.referToRoom(request, entry: entry, room: room, from: peer)
        case .notify:
            // Only a referral's party could send one, for a subscription the room never makes (RFC 6665 §4.1.3).
            self.reply(entry, 481)
        case .options, .info:
            self.reply(entry, 200, extra: [("Allow", Self.conferenceAllow)])
        case .cancel, .ack:
            break
        default:
            self.reply(entry, 405, extra: [("Allow", Self.conferenceAllow)])
        }
    }

    static let conferenceAllow = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, REFER"

    /// The dialog state of a room's leg, as the UAS that answered it (RFC 3261 §12.1.1): what a BYE from the room
    /// needs.
    struct RoomLeg {
        var remoteTarget: SIPURI
        /// The Record-Route values of the INVITE, in order: the route set as the UAS sees it.
        var routeSet: [String]
        /// From and To of the room's requests: the room's side (the INVITE's To with our tag) and the caller's.
        var local: String
        var remote: String
        /// Where the INVITE came from: the phone's flow, for a leg without proxies in its route set.
        var flow: Peer
        var room: String
        /// The CSeq number of the room's last request in this dialog (NOTIFY, BYE): each one goes up by one
        /// (§12.2.1.1). A leg the room answered starts anywhere (the phone's own numbers are unrelated); one it
        /// called starts after its INVITE's.
        var cseq = 0
    }

    /// Keeps the new leg's dialog and tells the service how to end it from the room's side; the journal gets the
    /// room's name.
    private func rememberRoomLeg(_ request: SIPRequest, entry: ServerEntry, room: String, from peer: Peer) {
        guard let contact = request.contacts.first?.uri, let toValue = request.headers["to"],
            let fromValue = request.headers["from"]
        else { return }
        let local = request.to.tag == nil ? "\(toValue);tag=\(entry.localTag)" : toValue
        self.roomLegs[request.callID] = RoomLeg(
            remoteTarget: contact, routeSet: request.headers.lines("record-route"), local: local, remote: fromValue,
            flow: peer, room: room
        )
        self.adoptRoomLeg(request.callID, room: room)
    }

    /// A leg's dialog is kept (`roomLegs`): the journal gets the room's name, and the service learns how to end
    /// the call from the room's side.
    func adoptRoomLeg(_ callID: String, room: String) {
        self.tracker.markConference(callID: callID, room: room)
        let core = NIOLoopBound(self, eventLoop: self.eventLoop)
        self.shared.conferences?.attach(callID: callID) { [eventLoop = self.eventLoop] reason in
            eventLoop.execute { core.value.hangUpRoomLeg(callID, reason: reason) }
        }
    }

    /// The room ends a leg: BYE to the phone (§15.1.1), inside the dialog the INVITE made. Its response is absorbed;
    /// the journal ends the call when the BYE goes out.
    func hangUpRoomLeg(_ callID: String, reason: String) {
        // Entered from a room's loop through `execute` on this one (NIOLoopBound above).
        self.eventLoop.assertInEventLoop()
        guard var leg = self.roomLegs.removeValue(forKey: callID) else { return }
        // RFC 3326: why the call ended, for the phone's display and the ladder.
        let text = reason.replacingOccurrences(of: "\"", with: "'")
        self.sendInRoomDialog(.bye, &leg, callID: callID, headers: [("Reason", "SIP;cause=200;text=\"\(text)\"")])
    }

    /// Sends a request of the room inside a leg's dialog (§12.2.1.1) with the dialog's next CSeq; its responses
    /// are absorbed.
    @discardableResult
    func sendInRoomDialog(
        _ method: SIPMethod, _ leg: inout RoomLeg, callID: String, headers extra: [(String, String)] = [], body: [UInt8] = []
    ) -> Bool {
        guard let (request, destination, branch) = self.roomDialogRequest(method, leg, cseq: leg.cseq + 1, callID: callID,
                                                                         headers: extra, body: body)
        else { return false }
        leg.cseq += 1
        self.transactions.startClient(key: TransactionKey.client(branch: branch, method: method), request: request,
                                      destination: destination, owner: .uac)
        return true
    }

    /// A request of the room inside a leg's dialog (§12.2.1.1): Request-URI and Route from the remote target and
    /// the route set, From and To the dialog's; with where it goes first and its branch.
    func roomDialogRequest(
        _ method: SIPMethod, _ leg: RoomLeg, cseq: Int, callID: String, headers extra: [(String, String)] = [], body: [UInt8] = []
    ) -> (SIPRequest, Peer, String)? {
        var headers = SIPHeaders()
        // §12.2.1.1: a route set whose first URI lacks `lr` is a strict router's: it becomes the Request-URI.
        var routes = leg.routeSet
        var uri = leg.remoteTarget
        if let first = routes.first.flatMap({ NameAddress.parseList([$0])?.first?.uri }), !first.parameters.contains("lr") {
            routes.removeFirst()
            routes.append("<\(leg.remoteTarget)>")
            uri = first
        }
        // The first hop: the top Route, else the phone's own flow (where its INVITE came from, which also reaches
        // a phone behind NAT whose Contact is private).
        var destination: Peer? = leg.flow
        if let route = routes.first {
            destination = NameAddress.parseList([route])?.first.flatMap { self.destination(for: $0.uri, from: leg.flow, now: self.now()) }
        }
        guard let destination else {
            self.logger.info("conference \(leg.room): cannot reach \(uri) for a \(method)", metadata: ["sip.call_id": "\(callID)"])
            return nil
        }
        let branch = self.nextBranch(loopHash: 0)
        headers.add("Via", self.via(destination, branch: branch).serialized)
        for route in routes { headers.add("Route", route) }
        headers.add("Max-Forwards", "70")
        headers.add("From", leg.local)
        headers.add("To", leg.remote)
        headers.add("Call-ID", callID)
        headers.add("CSeq", "\(cseq) \(method)")
        // RFC 6665 §8.2.1: a NOTIFY carries the notifier's Contact (the room's, which its dialog already targets).
        if method == .notify {
            headers.add("Contact", self.roomContact(leg.room, listener: destination.local, transport: destination.transport))
        }
        for (name, value) in extra { headers.add(name, value) }
        headers.add("Content-Length", String(body.count))
        do {
            return (try SIPRequest(method: method, uri: uri, headers: headers, body: body), destination, branch)
        } catch {
            self.logger.warning("conference \(leg.room): cannot build the \(method): \(error)", metadata: ["sip.call_id": "\(callID)"])
            return nil
        }
    }

    /// The room's Contact as reached through `listener` (RFC 4579 §5.2 / RFC 3840: `isfocus` says it is a focus).
    func roomContact(_ room: String, listener: SocketAddress, transport: TransportKind) -> String {
        let host = self.advertisedHost(listener)
        let parameter = transport == .udp ? "" : ";transport=\(transport.rawValue.lowercased())"
        let scheme = transport == .tls ? "sips" : "sip"
        return "<\(scheme):\(room)@\(host):\(listener.port ?? 5060)\(parameter)>;isfocus"
    }

    /// The 2xx with the room's SDP, a Contact that reaches the room through this listener (the target of the
    /// leg's in-dialog requests, §12.1.1), and what the room allows.
    private func answerConference(_ entry: ServerEntry, _ request: SIPRequest, room: String, answer: [UInt8], from peer: Peer) {
        guard var response = SIPResponse.reply(
            to: request, status: 200, reason: self.phrases.generated(200, for: request), toTag: entry.localTag,
            extraHeaders: [
                // RFC 4579 §5.2 / RFC 3840: a focus says so with `isfocus`, which tells a phone the call is a conference.
                ("Contact", self.roomContact(room, listener: peer.local, transport: peer.transport)),
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
            self.eventLoop.assertInEventLoop()
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
