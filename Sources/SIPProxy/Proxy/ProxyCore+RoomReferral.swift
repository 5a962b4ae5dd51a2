// A REFER to a conference room (RFC 4579 §5.5): a participant's phone asks the focus to bring someone in (its
// "merge"/"add to conference" button). The room accepts (202, RFC 3515 §2.4.2), then as a UAC calls the party:
// an INVITE with the room's own SDP offer, to the party's registered Contact (the location service, as for any
// call to a user of this proxy), ACKs the 2xx and seats it; the referrer follows it in NOTIFYs (RFC 3515 §2.4.4).
// What happens when is the pure `RoomReferral` machine's to decide; this file sends and receives.

import NIOCore

/// One referral's INVITE, on the shard that sent it (its Call-ID is one the shard owns).
final class ReferralLeg {
    /// Where the NOTIFYs go (RFC 3515 §2.4.4): the dialog of the referrer's room leg, or the dialog an
    /// out-of-dialog REFER made with the room (its 202 had our tag).
    enum Subscription {
        case leg(callID: String)
        case own(ProxyCore.RoomLeg, callID: String)
    }

    var machine = RoomReferral()
    let room: String
    /// The referred party's user, for the room's list.
    let user: String
    var subscription: Subscription
    /// The REFER's CSeq number: the `id` of the NOTIFYs' Event (RFC 3515 §2.4.6).
    let referCSeq: UInt32
    /// False when the REFER said `Refer-Sub: false` (RFC 4488 §4): no implicit subscription, no NOTIFYs.
    let notifies: Bool
    /// The INVITE as sent, its first hop and branch: a CANCEL copies them (RFC 3261 §9.1).
    var invite: SIPRequest?
    var destination: Peer?
    var branch = ""
    /// The 2xx and its ACK, sent again for each 2xx retransmission (§13.2.2.4).
    var answer: SIPResponse?
    var ack: (request: SIPRequest, destination: Peer)?
    var noAnswerTimer: TimerID?
    /// The §9.1 guard after the CANCEL.
    var cancelGuard: TimerID?
    /// To tags of other forks' 2xx, each acknowledged and ended with a BYE once (§13.2.2.4).
    var extraDialogs: Set<String> = []

    init(room: String, user: String, subscription: Subscription, referCSeq: UInt32, notifies: Bool = true) {
        self.room = room
        self.user = user
        self.subscription = subscription
        self.referCSeq = referCSeq
        self.notifies = notifies
    }
}

extension ProxyCore {
    /// A REFER to `room` (ProxyCore+Conference sends it here): refused with a status, or accepted with 202 and
    /// carried out.
    func referToRoom(_ request: SIPRequest, entry: ServerEntry, room requested: String, from peer: Peer) {
        guard let conferences = self.shared.conferences else { return }
        let room: String
        let subscription: ReferralLeg.Subscription
        if request.isInDialog {
            // §12.2.2: a request in a dialog the room does not know (one answered before a restart) gets 481.
            guard let leg = self.roomLegs[request.callID] else {
                self.reply(entry, 481)
                return
            }
            room = leg.room
            subscription = .leg(callID: request.callID)
        } else {
            // RFC 4579 §5.5 allows a REFER outside a dialog, to the conference URI: it makes a dialog of its own,
            // the REFER's Contact its remote target (§12.1.1). The factory is not a room anyone can be brought into.
            guard !conferences.isFactory(requested) else {
                self.reply(entry, 403, reason: "REFER to a room, not to the conference factory")
                return
            }
            guard let contact = request.contacts.first?.uri, let to = request.headers["to"], let from = request.headers["from"] else {
                self.reply(entry, 400, reason: "a REFER outside a dialog needs a Contact")
                return
            }
            room = requested
            subscription = .own(RoomLeg(remoteTarget: contact, routeSet: request.headers.lines("record-route"),
                                        local: "\(to);tag=\(entry.localTag)", remote: from, flow: peer, room: room),
                                callID: request.callID)
        }
        let target: RoomReferral.Target
        switch RoomReferral.target(referTo: request.headers.values("refer-to")) {
        case .success(let value): target = value
        case .failure(let refusal):
            self.reply(entry, refusal.status, reason: refusal.reason)
            return
        }
        // RFC 4488 §4: `Refer-Sub: false` asks for no subscription; the 202 says it is granted.
        let notifies = request.headers["refer-sub"]?.trimmingCharacters(in: .whitespaces).lowercased() != "false"
        var extra = [("Contact", self.roomContact(room, listener: peer.local, transport: peer.transport)),
                     ("Allow", Self.conferenceAllow)]
        if !notifies { extra.append(("Refer-Sub", "false")) }
        // RFC 3515 §2.4.2: 202 Accepted. Answered on its transaction (not statelessly), so a retransmitted REFER
        // gets this 202 again instead of sending a second INVITE.
        guard let accepted = SIPResponse.reply(
            to: request, status: 202, reason: self.phrases.generated(202, for: request), toTag: entry.localTag,
            extraHeaders: extra
        ) else { return }
        self.transactions.respond(entry, accepted)

        let callID = self.referralCallID()
        let user = target.uri.user ?? "?"
        let leg = ReferralLeg(room: room, user: user, subscription: subscription, referCSeq: request.cseq.number,
                              notifies: notifies)
        self.referrals[callID] = leg
        self.logger.info("conference \(room): \(request.from.callParty) refers \(target.uri) into the room",
                         metadata: ["sip.call_id": "\(request.callID)", "referral": "\(callID)"])
        self.perform(leg.machine.start(), leg, callID: callID)
        self.inviteReferred(target, leg: leg, callID: callID, refer: request, from: peer)
    }

    /// The room's INVITE to the referred party, or the failure that stops it before it is sent.
    private func inviteReferred(_ target: RoomReferral.Target, leg: ReferralLeg, callID: String, refer: SIPRequest, from peer: Peer) {
        guard let conferences = self.shared.conferences else { return }
        let requestURI: SIPURI
        let destination: Peer
        switch self.referralRoute(target.uri, refer: refer, from: peer) {
        case .success(let route): (requestURI, destination) = route
        case .failure(let refusal):
            self.logger.info("conference \(leg.room): cannot bring in \(target.uri): \(refusal.status) \(refusal.reason)",
                             metadata: ["sip.call_id": "\(callID)"])
            self.run(leg, .failed(status: refusal.status, reason: refusal.reason), callID: callID)
            return
        }
        let offer: [UInt8]
        switch conferences.offer(room: leg.room, callID: callID) {
        case .success(let sdp): offer = sdp
        case .failure(let refusal):
            self.run(leg, .failed(status: refusal.status, reason: SIPStatus.defaultReason(refusal.status)), callID: callID)
            return
        }
        let branch = self.nextBranch(loopHash: 0)
        let host = self.advertisedHost(destination.local)
        var headers = SIPHeaders()
        headers.add("Via", self.via(destination, branch: branch).serialized)
        headers.add("Max-Forwards", "70")
        // The room calls as itself (§8.1.1.3: a fresh From tag); To is the referred URI without its headers.
        headers.add("From", "<sip:\(leg.room)@\(host)>;tag=\(String(UInt64.random(in: 1...UInt64.max), radix: 36))")
        headers.add("To", "<\(target.uri)>")
        headers.add("Call-ID", callID)
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", self.roomContact(leg.room, listener: destination.local, transport: destination.transport))
        headers.add("Allow", Self.conferenceAllow)
        // RFC 3891 §3: Replaces from the Refer-To makes the party's phone swap that call for this one; RFC 3892 §3:
        // Referred-By tells it who asked.
        if let replaces = target.replaces { headers.add("Replaces", replaces) }
        if let referredBy = refer.headers["referred-by"] { headers.add("Referred-By", referredBy) }
        headers.add("Content-Type", "application/sdp")
        headers.add("Content-Length", String(offer.count))
        let invite: SIPRequest
        do {
            invite = try SIPRequest(method: .invite, uri: requestURI, headers: headers, body: offer)
        } catch {
            self.logger.warning("conference \(leg.room): cannot build the INVITE to \(target.uri): \(error)")
            self.run(leg, .failed(status: 500, reason: "Server Internal Error"), callID: callID)
            return
        }
        leg.invite = invite
        leg.destination = destination
        leg.branch = branch
        self.transactions.startClient(key: TransactionKey.client(branch: branch, method: .invite), request: invite,
                                      destination: destination, owner: .referral(callID: callID))
        leg.noAnswerTimer = self.timers.schedule(in: RoomReferral.noAnswerLimit) { [weak self] in
            guard let self, let leg = self.referrals[callID] else { return }
            leg.noAnswerTimer = nil
            self.run(leg, .noAnswer, callID: callID)
        }
    }

    /// The Request-URI and first hop of the room's INVITE (§16.5, §16.6 as for a forwarded call): a user of this
    /// proxy at its registered Contact (the first binding: the room calls one phone and does not fork), any other
    /// SIP URI at its address when the relay policy lets the referrer reach it.
    private func referralRoute(_ uri: SIPURI, refer: SIPRequest, from peer: Peer) -> Result<(SIPURI, Peer), RoomReferral.ReferRefusal> {
        let now = self.now()
        if self.isLocal(uri) {
            if self.shared.conferences?.isRoom(uri.user) == true {
                return .failure(.init(status: 403, reason: "Forbidden"))
            }
            let user = LocationStore.userKey(uri)
            guard let binding = self.registrar.lookup(user, now: now).first else {
                // 404 for a user the proxy has never seen; 480 for one that registered before (§21.4.18).
                return .failure(self.registrar.isKnown(user) ? .init(status: 480, reason: "Temporarily Unavailable")
                                : .init(status: 404, reason: "Not Found"))
            }
            guard let destination = self.destination(for: binding, from: peer, now: now) else {
                return .failure(.init(status: 480, reason: "Temporarily Unavailable"))
            }
            return .success((binding.contact.uri, destination))
        }
        // The room would call an outside address on the referrer's word: the same rule as relaying its requests.
        guard self.mayRelay(refer, from: peer, followsOwnRoute: false, target: uri) else {
            return .failure(.init(status: 403, reason: "Forbidden"))
        }
        guard let destination = self.destination(for: uri, from: peer, now: now) else {
            return .failure(.init(status: 480, reason: "Temporarily Unavailable"))
        }
        return .success((uri, destination))
    }

    /// A Call-ID this shard owns (ShardRouter hashes Call-IDs): the INVITE's responses and the party's later
    /// requests then come to the shard whose transaction and room leg wait for them.
    private func referralCallID() -> String {
        let count = max(1, self.configuration.workers)
        while true {
            let callID = "room-\(String(UInt64.random(in: 1...UInt64.max), radix: 36))@\(self.instanceTag)"
            if ShardRouter.shard(callID: callID, count: count) == self.shardIndex { return callID }
        }
    }

    // MARK: Responses to the room's INVITE

    func referralResponse(_ response: SIPResponse, callID: String) {
        guard let leg = self.referrals[callID] else { return }
        if response.isProvisional {
            self.run(leg, .provisional, callID: callID)
        } else if response.isSuccess {
            if let first = leg.answer, first.to.tag != response.to.tag {
                self.endExtraDialog(response, leg, callID: callID)
                return
            }
            if leg.answer == nil { leg.answer = response }
            self.run(leg, .answered, callID: callID)
        } else {
            self.logger.info("conference \(leg.room): \(leg.user) did not come in: \(response.statusCode) \(response.reason)",
                             metadata: ["sip.call_id": "\(callID)"])
            self.run(leg, .failed(status: response.statusCode, reason: response.reason), callID: callID)
        }
    }

    /// Timer B (408) or a transport error (503) of the INVITE's client transaction (§17.1.1.2, §17.1.4).
    func referralFailed(status: Int, callID: String) {
        guard let leg = self.referrals[callID] else { return }
        self.logger.info("conference \(leg.room): \(leg.user) did not come in: \(status)", metadata: ["sip.call_id": "\(callID)"])
        self.run(leg, .failed(status: status, reason: SIPStatus.defaultReason(status)), callID: callID)
    }

    private func run(_ leg: ReferralLeg, _ event: RoomReferral.Event, callID: String) {
        self.perform(leg.machine.handle(event), leg, callID: callID)
    }

    private func perform(_ actions: [RoomReferral.Action], _ leg: ReferralLeg, callID: String) {
        for action in actions {
            switch action {
            case .notify(let status, let reason, let final):
                self.notifyReferrer(leg, status: status, reason: reason, final: final)
            case .acknowledge:
                self.acknowledge(leg, callID: callID)
            case .seat:
                self.seatReferred(leg, callID: callID)
            case .hangUp:
                if var dialog = self.dialog(of: leg, callID: callID) {
                    self.sendInRoomDialog(.bye, &dialog, callID: callID)
                }
            case .cancel:
                self.cancelReferral(leg)
                self.timers.cancel(leg.cancelGuard)
                leg.cancelGuard = self.timers.schedule(in: self.configuration.timers.timerB) { [weak self] in
                    guard let self, let leg = self.referrals[callID] else { return }
                    leg.cancelGuard = nil
                    self.run(leg, .cancelGuardExpired, callID: callID)
                }
            case .abandon:
                self.transactions.abandonClient(TransactionKey.client(branch: leg.branch, method: .invite))
            case .withdraw:
                self.shared.conferences?.withdraw(callID: callID)
            }
        }
        guard leg.machine.isOver else { return }
        self.timers.cancel(leg.noAnswerTimer)
        self.timers.cancel(leg.cancelGuard)
        leg.noAnswerTimer = nil
        leg.cancelGuard = nil
        // Kept for 64·T1 after the end, so a retransmitted 2xx is still ACKed (§13.2.2.4); then forgotten.
        _ = self.timers.schedule(in: self.configuration.timers.t1 * 64) { [weak self, weak leg] in
            guard let self, let leg, self.referrals[callID] === leg else { return }
            self.referrals[callID] = nil
        }
    }

    /// A 2xx from another fork downstream (a different To tag): the room keeps the first party only, so this
    /// dialog is acknowledged (§13.2.2.4: every 2xx is) and ended at once with a BYE; its retransmissions get the
    /// ACK again.
    private func endExtraDialog(_ response: SIPResponse, _ leg: ReferralLeg, callID: String) {
        guard var dialog = self.dialog(of: leg, answer: response, callID: callID),
            let (ack, destination, _) = self.roomDialogRequest(.ack, dialog, cseq: 1, callID: callID)
        else { return }
        let message = SIPMessage.request(ack)
        self.logSent(message, to: destination)
        self.transport.send(message.serialize(), to: destination)
        guard leg.extraDialogs.insert(response.to.tag ?? "").inserted else { return }
        self.logger.info("conference \(leg.room): a second fork answered the room's INVITE; ending that dialog",
                         metadata: ["sip.call_id": "\(callID)"])
        self.sendInRoomDialog(.bye, &dialog, callID: callID)
    }

    /// The dialog the 2xx made, as the UAC sees it (§12.1.2): the route set is the 2xx's Record-Route reversed,
    /// the remote target its Contact; our INVITE used CSeq 1.
    private func dialog(of leg: ReferralLeg, callID: String) -> RoomLeg? {
        guard let answer = leg.answer else { return nil }
        return self.dialog(of: leg, answer: answer, callID: callID)
    }

    private func dialog(of leg: ReferralLeg, answer: SIPResponse, callID: String) -> RoomLeg? {
        guard let invite = leg.invite, let destination = leg.destination,
            let target = answer.contacts.first?.uri, let from = invite.headers["from"], let to = answer.headers["to"]
        else { return nil }
        return RoomLeg(remoteTarget: target, routeSet: answer.headers.values("record-route").reversed(), local: from, remote: to,
                       flow: destination, room: leg.room, cseq: 1)
    }

    /// ACK of the 2xx (§13.2.2.4): a request of its own, in the dialog, with the INVITE's CSeq number; made once
    /// and sent again for every retransmission of the 2xx.
    private func acknowledge(_ leg: ReferralLeg, callID: String) {
        if leg.ack == nil, let dialog = self.dialog(of: leg, callID: callID),
            let (ack, destination, _) = self.roomDialogRequest(.ack, dialog, cseq: 1, callID: callID)
        {
            leg.ack = (ack, destination)
        }
        guard let (ack, destination) = leg.ack else {
            self.logger.warning("conference \(leg.room): cannot acknowledge \(leg.user)'s 2xx (no Contact?)",
                                metadata: ["sip.call_id": "\(callID)"])
            return
        }
        let message = SIPMessage.request(ack)
        self.logSent(message, to: destination)
        self.transport.send(message.serialize(), to: destination)
    }

    /// The 2xx's answer goes to the room; a seated party's leg is kept like a caller's (kick, BYE, journal).
    private func seatReferred(_ leg: ReferralLeg, callID: String) {
        guard let conferences = self.shared.conferences, let answer = leg.answer, let dialog = self.dialog(of: leg, callID: callID) else {
            self.shared.conferences?.withdraw(callID: callID)
            self.run(leg, .seatRefused(status: 488, reason: "Not Acceptable Here"), callID: callID)
            return
        }
        switch conferences.accept(callID: callID, user: leg.user, answer: answer.body) {
        case .success:
            self.roomLegs[callID] = dialog
            self.adoptRoomLeg(callID, room: leg.room)
            self.logger.info("conference \(leg.room): \(leg.user) brought in by a REFER", metadata: ["sip.call_id": "\(callID)"])
            self.run(leg, .seated, callID: callID)
        case .failure(let refusal):
            self.run(leg, .seatRefused(status: refusal.status, reason: SIPStatus.defaultReason(refusal.status)), callID: callID)
        }
    }

    /// §9.1: CANCEL with the INVITE's Request-URI, Call-ID, From, To, CSeq number and top Via, to the same hop.
    private func cancelReferral(_ leg: ReferralLeg) {
        guard let invite = leg.invite, let destination = leg.destination else { return }
        var headers = SIPHeaders()
        for name in ["Via", "From", "To", "Call-ID"] {
            if let value = invite.headers.firstValue(name) { headers.add(name, value) }
        }
        headers.add("Max-Forwards", "70")
        headers.add("CSeq", "\(invite.cseq.number) CANCEL")
        headers.add("Content-Length", "0")
        guard let cancel = try? SIPRequest(method: .cancel, uri: invite.uri, headers: headers) else { return }
        self.transactions.startClient(key: TransactionKey.client(branch: leg.branch, method: .cancel), request: cancel,
                                      destination: destination, owner: .uac)
    }

    /// NOTIFY (RFC 3515 §2.4.4) in the REFER's dialog: Event refer with the REFER's CSeq as id, the sipfrag of
    /// the INVITE's status. Skipped when the referrer's leg has ended meanwhile (its dialog is gone).
    private func notifyReferrer(_ leg: ReferralLeg, status: Int, reason: String, final: Bool) {
        guard leg.notifies else { return }
        let headers = [
            ("Event", "refer;id=\(leg.referCSeq)"),
            ("Subscription-State", RoomReferral.subscriptionState(final: final)),
            ("Content-Type", "message/sipfrag;version=2.0"),
        ]
        let body = RoomReferral.sipfrag(status: status, reason: reason)
        switch leg.subscription {
        case .leg(let callID):
            guard var dialog = self.roomLegs[callID] else { return }
            self.sendInRoomDialog(.notify, &dialog, callID: callID, headers: headers, body: body)
            self.roomLegs[callID] = dialog
        case .own(var dialog, let callID):
            self.sendInRoomDialog(.notify, &dialog, callID: callID, headers: headers, body: body)
            leg.subscription = .own(dialog, callID: callID)
        }
    }
}
