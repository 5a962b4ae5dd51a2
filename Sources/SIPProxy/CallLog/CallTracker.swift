// CallTracker: follows calls through the messages the proxy receives and sends, and reports what changed.
//
// A pure value: no I/O and no clock, every observation carries its time. The proxy shows it every SIP message
// twice, once as received and once as sent, so each rule below is idempotent (a second sight changes nothing):
//
//     caller --INVITE--> [received] proxy [sent] --INVITE--> callee (one per branch when forking)
//     caller <--18x/2xx/final-- [sent] proxy [received] <--18x/2xx/final-- callee
//
// Calls are keyed by Call-ID + the caller's From tag (RFC 3261 §12.1: the caller's half of the dialog ID), never by
// addresses, so two calls between the same users are two records, and the early dialogs of a forked INVITE (one
// To tag per branch, §13.2.2.4) are one record. In-dialog requests from the callee carry the caller's tag in To,
// so they are found by (Call-ID, To tag).
//
// Where a final response came from: the outcome is taken from the final response the proxy SENT to the caller
// (after §16.7 picked the best branch); it counts as made by the proxy when no branch response with that code was
// RECEIVED for the call. This is robust against phones whose tags start with the proxy's `sp` prefix and against
// codes the proxy substitutes (§16.7 step 6). If the proxy only reports one direction, sent responses are still
// classified, received-only responses never end a call (a fork may still answer).

import Foundation

/// One message as the proxy saw it.
public struct CallObservation: Sendable {
    /// Whether the proxy received the message or sent it.
    public enum Direction: String, Sendable, Hashable {
        case received
        case sent
    }

    public var message: SIPMessage
    public var direction: Direction
    public var peer: Peer
    public var time: WallClock
}

/// What changed in a call, with the record as of that moment.
public enum CallEvent: Sendable, Equatable {
    case started(CallRecord)
    case ringing(CallRecord)
    case answered(CallRecord)
    /// A re-INVITE changed the media (RFC 3261 §14), e.g. video added or removed.
    case mediaChanged(CallRecord)
    case ended(CallRecord)

    public var record: CallRecord {
        switch self {
        case .started(let r), .ringing(let r), .answered(let r), .mediaChanged(let r), .ended(let r): return r
        }
    }

    /// `started`, `ringing`, `answered`, `mediaChanged`, `ended`.
    public var name: String {
        switch self {
        case .started: return "started"
        case .ringing: return "ringing"
        case .answered: return "answered"
        case .mediaChanged: return "mediaChanged"
        case .ended: return "ended"
        }
    }
}

/// Follows every call through the proxy.
public struct CallTracker: Sendable {
    /// Limits and presentation.
    public struct Configuration: Sendable {
        /// An answered call with no message for this long is closed as `timed-out` (a lost BYE). Default 4 h.
        public var sessionLimit: Double = 4 * 3600
        /// An unanswered call with no message for this long is closed (`timed-out`, or `failed` after a 401/407
        /// that was never retried). Default 3 min (Timer C is 3 min, RFC 3261 §16.6 step 11).
        public var unansweredLimit: Double = 180
        /// At most this many calls in progress; beyond it the oldest unanswered attempt is closed first.
        public var maxCalls: Int = 10_000
        /// A new INVITE to a REFER target within this many seconds is linked to the referring call.
        public var transferWindow: Double = 30
        /// How long an ended call's key is remembered, so retransmissions do not start it again (64·T1 = 32 s,
        /// RFC 3261 §17.1.1.2, with margin).
        public var tombstoneSeconds: Double = 64
        /// The zone of the records' ISO 8601 strings.
        public var timeZone: TimeZone = .current

        public init() {}
    }

    struct Key: Hashable, Sendable {
        var callID: String
        var fromTag: String
    }

    /// What the tracker holds about a call in progress.
    struct Session: Sendable {
        var record: CallRecord
        var facts = CallFacts()
        /// CSeq number of the current initial INVITE (raised by a retry after 401/407).
        var inviteCSeq: UInt32
        /// To tag of the answering branch (RFC 3261 §12.1.2).
        var calleeTag: String?
        /// Final codes received from branches for the current INVITE.
        var receivedFinals: Set<Int> = []
        var lastActivity: WallClock
        /// The SDP offer of a pending re-INVITE: (CSeq, sender's tag, streams).
        var pendingOffer: (cseq: UInt32, tag: String, media: [CallMedia]?)?
    }

    public var configuration: Configuration
    private(set) var sessions: [Key: Session] = [:]
    /// Ended calls: key → (end time, last INVITE CSeq).
    private(set) var tombstones: [Key: (at: WallClock, cseq: UInt32)] = [:]
    /// REFERs waiting for the transferee's call; shared by the shards' trackers (a copy of a tracker shares it too).
    let transfers: TransferLedger

    public init(configuration: Configuration = Configuration()) {
        self.init(configuration: configuration, transfers: TransferLedger())
    }

    init(configuration: Configuration = Configuration(), transfers: TransferLedger) {
        self.configuration = configuration
        self.transfers = transfers
    }

    /// Number of calls in progress.
    public var count: Int { self.sessions.count }

    /// The calls in progress, oldest first (for `calls.live`).
    public var inProgress: [CallRecord] {
        self.sessions.values.map(\.record).sorted { ($0.inviteAt, $0.key) < ($1.inviteAt, $1.key) }
    }

    // MARK: Observing

    /// Feeds one message the proxy received or sent; returns what changed (usually nothing).
    public mutating func observe(
        _ message: SIPMessage,
        direction: CallObservation.Direction,
        peer: Peer,
        at time: WallClock
    ) -> [CallEvent] {
        var events: [CallEvent] = []
        switch message {
        case .request(let request):
            self.observeRequest(request, direction: direction, peer: peer, at: time, events: &events)
        case .response(let response):
            self.observeResponse(response, direction: direction, peer: peer, at: time, events: &events)
        }
        return events
    }

    /// The session of a message from either side: (Call-ID, From tag) for the caller's messages and for
    /// responses to them, (Call-ID, To tag) for the callee's requests and the responses to those.
    private func find(
        _ callID: String, _ from: NameAddress, _ to: NameAddress
    ) -> (Key, Dictionary<Key, Session>.Index, fromCaller: Bool)? {
        let byFrom = Key(callID: callID, fromTag: from.tag ?? "")
        if let index = self.sessions.index(forKey: byFrom) { return (byFrom, index, true) }
        if let toTag = to.tag {
            let byTo = Key(callID: callID, fromTag: toTag)
            if let index = self.sessions.index(forKey: byTo) { return (byTo, index, false) }
        }
        return nil
    }

    private mutating func observeRequest(
        _ request: SIPRequest,
        direction: CallObservation.Direction,
        peer: Peer,
        at time: WallClock,
        events: inout [CallEvent]
    ) {
        if request.method == .invite && !request.isInDialog {
            self.observeInitialInvite(request, direction: direction, peer: peer, at: time, events: &events)
            return
        }
        guard let (key, index, fromCaller) = self.find(request.callID, request.from, request.to) else { return }
        self.sessions.values[index].lastActivity = time
        switch request.method {
        case .cancel:
            // §9.1: CANCEL has the INVITE's Call-ID, From and To (no To tag); it only matters before an answer.
            // Only the caller's own CANCEL counts, not those the proxy sends (Timer C, forwarding on no answer).
            if fromCaller && direction == .received { self.sessions.values[index].facts.cancelRequested = true }
        case .bye:
            // §15.1.1: either side may end the dialog; the sender hung up.
            guard self.sessions.values[index].facts.answered else { return }
            self.sessions.values[index].facts.byeSeen = true
            self.sessions.values[index].record.hungUpBy = fromCaller ? .caller : .callee
            self.end(key, at: time, events: &events)
        case .invite:
            // A re-INVITE (§14.1): remember its offer; the media change is taken when it is answered with a 2xx.
            guard self.sessions.values[index].facts.answered else { return }
            self.sessions.values[index].pendingOffer = (
                request.cseq.number, request.from.tag ?? "", SessionDescription.media(of: request.body)
            )
        case .refer:
            self.observeRefer(request, key: key, at: time)
        default:
            break
        }
    }

    private mutating func observeInitialInvite(
        _ request: SIPRequest,
        direction: CallObservation.Direction,
        peer: Peer,
        at time: WallClock,
        events: inout [CallEvent]
    ) {
        let key = Key(callID: request.callID, fromTag: request.from.tag ?? "")
        if let index = self.sessions.index(forKey: key) {
            Self.again(request, direction: direction, peer: peer, at: time, to: &self.sessions.values[index])
            return
        }
        if let tomb = self.tombstones[key], request.cseq.number <= tomb.cseq { return }  // a retransmission
        if self.sessions.count >= self.configuration.maxCalls {
            self.evictOne(at: time, events: &events)
        }
        var record = CallRecord(
            callID: request.callID,
            fromTag: key.fromTag,
            caller: request.from.uri.aorKey,
            callerName: request.from.displayText,
            callee: request.to.uri.aorKey,
            calleeName: request.to.displayText,
            inviteAt: time,
            timeZone: self.configuration.timeZone
        )
        if direction == .received { record.source = peer.remote.hostPort }
        record.media = SessionDescription.media(of: request.body) ?? []
        record.transferredFrom = self.matchTransfer(request, at: time)
        if direction == .sent { Self.noteForwarding(request, in: &record) }
        self.sessions[key] = Session(record: record, inviteCSeq: request.cseq.number, lastActivity: time)
        events.append(.started(record))
    }

    /// An INVITE of a call already followed: the proxy's forwarded copy, a retransmission, or a retry with
    /// credentials.
    private static func again(
        _ request: SIPRequest,
        direction: CallObservation.Direction,
        peer: Peer,
        at time: WallClock,
        to session: inout Session
    ) {
        session.lastActivity = time
        if direction == .received && session.record.source == nil { session.record.source = peer.remote.hostPort }
        // A forwarded INVITE the proxy sent (Diversion / History-Info): the journal's forwardedTo/-Reason.
        if direction == .sent { Self.noteForwarding(request, in: &session.record) }
        if request.cseq.number > session.inviteCSeq {
            // The same call retried with credentials after 401/407 (RFC 3261 §22.2): a new INVITE transaction.
            session.inviteCSeq = request.cseq.number
            session.facts.finalCode = nil
            session.facts.finalFromProxy = false
            session.receivedFinals = []
            session.record.finalCode = nil
            session.record.finalReason = nil
        }
    }

    /// RFC 3515: a REFER asks its recipient (the transferee) to call the Refer-To URI. The call records the
    /// target; the transferee's next INVITE to it within `transferWindow` is linked back.
    private mutating func observeRefer(_ request: SIPRequest, key: Key, at time: WallClock) {
        guard let text = request.headers["refer-to"], let referTo = NameAddress.parse(text) else { return }
        var target = referTo.uri
        target.headers = nil  // `?Replaces=...` of an attended transfer (RFC 3891) is not part of the address
        self.sessions[key]?.record.transferredTo = target.serialized
        self.transfers.add(
            TransferLedger.Pending(
                target: referTo.uri.aorKey,
                transferee: request.to.uri.aorKey,
                callID: request.callID,
                at: time
            )
        )
    }

    /// The Call-ID of the transfer this INVITE carries out: to the REFER target (To or Request-URI), from the
    /// transferee or with a Referred-By / Replaces header (RFC 3892, RFC 3891), within the window.
    private mutating func matchTransfer(_ request: SIPRequest, at time: WallClock) -> String? {
        guard !self.transfers.isEmpty else { return nil }
        let targets = [request.to.uri.aorKey, request.uri.aorKey]
        let caller = request.from.uri.aorKey
        let marked = request.headers.contains("referred-by") || request.headers.contains("replaces")
        return self.transfers.claim(
            targets: targets, caller: caller, marked: marked, callID: request.callID, at: time,
            window: self.configuration.transferWindow
        )
    }

    private mutating func observeResponse(
        _ response: SIPResponse,
        direction: CallObservation.Direction,
        peer: Peer,
        at time: WallClock,
        events: inout [CallEvent]
    ) {
        guard let (key, index, _) = self.find(response.callID, response.from, response.to) else { return }
        // The session is changed where it lies in the dictionary: copying it out and back (a record of a dozen
        // strings, and the key hashed again) for each of a call's responses cost more than the change itself.
        switch Self.apply(response, direction: direction, peer: peer, at: time, to: &self.sessions.values[index]) {
        case .none:
            break
        case .event(let event):
            events.append(event)
        case .reinvite:
            self.observeReinviteResponse(response, key: key, events: &events)
        case .end:
            self.end(key, at: time, events: &events)
        }
    }

    /// What a response to an INVITE did to a call, besides the changes made to its session.
    private enum ResponseOutcome {
        case none
        case event(CallEvent)
        /// A response to a re-INVITE (`observeReinviteResponse`).
        case reinvite
        /// A final non-2xx the proxy sent to the caller: the call ends.
        case end
    }

    private static func apply(
        _ response: SIPResponse,
        direction: CallObservation.Direction,
        peer: Peer,
        at time: WallClock,
        to session: inout Session
    ) -> ResponseOutcome {
        session.lastActivity = time
        guard response.cseq.method == .invite else { return .none }
        let initial = response.from.tag == session.record.fromTag && response.cseq.number == session.inviteCSeq
        guard initial else { return .reinvite }
        if response.statusCode == 100 { return .none }
        if response.isProvisional {
            let before = CallState.derive(session.facts)
            session.facts.rang = true
            if session.record.ringingAt == nil { session.record.ringingAt = time }
            let after = CallState.derive(session.facts)
            session.record.state = after.name
            return before != after && after == .ringing ? .event(.ringing(session.record)) : .none
        }
        if response.isSuccess {
            let first = !session.facts.answered
            if first {
                session.facts.answered = true
                session.calleeTag = response.to.tag
                session.record.answeredAt = time
                session.record.answeringContact = response.contacts.first?.uri.serialized
                if let media = SessionDescription.media(of: response.body) { session.record.media = media }
                session.record.finalCode = response.statusCode
                session.record.finalReason = response.reason
                session.record.calleeName = response.to.displayText ?? session.record.calleeName
            }
            if response.to.tag == session.calleeTag {
                // The branch that answered: its address (received) and the phrase the caller got (sent).
                if direction == .received && session.record.answeredFrom == nil {
                    session.record.answeredFrom = peer.remote.hostPort
                }
                if direction == .sent {
                    session.record.finalCode = response.statusCode
                    session.record.finalReason = response.reason
                }
            }
            session.record.state = CallState.derive(session.facts).name
            return first ? .event(.answered(session.record)) : .none
        }
        // A non-2xx final response.
        guard !session.facts.answered else { return .none }
        if direction == .received {
            session.receivedFinals.insert(response.statusCode)
            return .none
        }
        session.facts.finalCode = response.statusCode
        session.facts.finalFromProxy = !session.receivedFinals.contains(response.statusCode)
        session.record.finalCode = response.statusCode
        session.record.finalReason = response.reason
        session.record.state = CallState.derive(session.facts).name
        return .end
    }

    /// A response to a re-INVITE: a 2xx makes the negotiated media current (RFC 3264 §8: the answer, or the
    /// offer when the answer has no body); adding an active video stream sets `videoAdded`.
    private mutating func observeReinviteResponse(_ response: SIPResponse, key: Key, events: inout [CallEvent]) {
        guard var session = self.sessions[key], session.facts.answered, response.isFinal else { return }
        let offer = session.pendingOffer
        if let offer, offer.cseq == response.cseq.number, offer.tag == response.from.tag ?? "" {
            session.pendingOffer = nil
        }
        guard response.isSuccess,
            let media = SessionDescription.media(of: response.body)
                ?? (offer?.cseq == response.cseq.number ? offer?.media : nil)
        else {
            self.sessions[key] = session
            return
        }
        if media != session.record.media {
            let hadVideo = session.record.media.contains { $0.type == "video" && $0.isActive }
            let hasVideo = media.contains { $0.type == "video" && $0.isActive }
            session.record.media = media
            if hasVideo && !hadVideo { session.record.videoAdded = true }
            self.sessions[key] = session
            events.append(.mediaChanged(session.record))
            return
        }
        self.sessions[key] = session
    }

    // MARK: Media relay

    /// The media relay's counts for a call, kept in its record (set before the BYE that ends it is observed).
    /// The call is a leg of a conference room the proxy hosts.
    public mutating func markConference(callID: String, room: String) {
        for key in self.sessions.keys where key.callID == callID { self.sessions[key]?.record.conference = room }
    }

    public mutating func attachRTP(callID: String, _ rtp: [CallRTP]) {
        for key in self.sessions.keys where key.callID == callID { self.sessions[key]?.record.rtp = rtp }
    }

    /// The relay ended the call: no media for its timeout (`media-timeout`), or a session timer that ran out
    /// (`timed-out`).
    public mutating func endByMediaTimeout(callID: String, outcome: CallOutcome = .mediaTimeout, at time: WallClock) -> [CallEvent] {
        var events: [CallEvent] = []
        for key in self.sessions.keys where key.callID == callID {
            guard var session = self.sessions.removeValue(forKey: key) else { continue }
            session.record.close(outcome, at: time)
            self.tombstones[key] = (time, session.inviteCSeq)
            events.append(.ended(session.record))
        }
        return events
    }

    // MARK: Ending

    /// Closes a call whose facts say it ended, emits `.ended`, and remembers its key for a while.
    private mutating func end(_ key: Key, at time: WallClock, events: inout [CallEvent]) {
        guard let index = self.sessions.index(forKey: key),
            case .ended(let outcome) = CallState.derive(self.sessions.values[index].facts)
        else { return }
        var session = self.sessions.remove(at: index).value
        session.record.close(outcome, at: time)
        self.tombstones[key] = (time, session.inviteCSeq)
        events.append(.ended(session.record))
    }

    /// Closes calls idle beyond their limit (`timed-out`; `failed` after an unanswered 401/407), and forgets old
    /// tombstones and transfers. Call every few seconds. The end time is the last message seen.
    public mutating func expire(now: WallClock) -> [CallEvent] {
        var events: [CallEvent] = []
        let idle = self.sessions.filter { _, session in
            let limit =
                session.facts.answered ? self.configuration.sessionLimit : self.configuration.unansweredLimit
            return now.seconds(since: session.lastActivity) > limit
        }
        let ordered = idle.sorted {
            ($0.value.record.inviteAt, $0.key.callID) < ($1.value.record.inviteAt, $1.key.callID)
        }
        for (key, session) in ordered {
            self.sessions[key]?.facts.idleExpired = true
            self.end(key, at: session.lastActivity, events: &events)
        }
        let keep = self.configuration.tombstoneSeconds
        self.tombstones = self.tombstones.filter { now.seconds(since: $0.value.at) <= keep }
        self.transfers.expire(now: now, window: self.configuration.transferWindow)
        return events
    }

    /// Makes room for one more call: closes the oldest unanswered attempt, or failing that the call idle longest.
    private mutating func evictOne(at time: WallClock, events: inout [CallEvent]) {
        let unanswered = self.sessions.filter { !$0.value.facts.answered }
        let victim =
            unanswered.min { ($0.value.record.inviteAt, $0.key.callID) < ($1.value.record.inviteAt, $1.key.callID) }
            ?? self.sessions.min { $0.value.lastActivity < $1.value.lastActivity }
        guard let (key, session) = victim else { return }
        self.sessions[key]?.facts.idleExpired = true
        self.end(key, at: session.lastActivity, events: &events)
        if self.tombstones.count > self.configuration.maxCalls {
            self.tombstones = self.tombstones.filter {
                time.seconds(since: $0.value.at) <= self.configuration.tombstoneSeconds
            }
        }
    }
}
