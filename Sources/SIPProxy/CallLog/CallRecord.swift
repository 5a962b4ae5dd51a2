// CallRecord: one call as the journal stores it (one JSON object per line, JSON Lines).
//
//     {"callID":"a84b4c76e66710","caller":"sip:alice@example.com","callee":"sip:bob@example.com",
//      "invite":"2026-12-01T10:33:18.412+01:00","inviteUs":1796117598412000, ..., "outcome":"completed",
//      "finalCode":200,"finalReason":"OK","hungUpBy":"caller","ringSeconds":5.8,"talkSeconds":9.02, ...}
//
// Times are written twice: ISO 8601 with milliseconds and the zone offset (for people and other tools) and raw
// microseconds since the epoch (`…Us`, authoritative when read back). Absent values are left out.

import Foundation

/// The side of a call.
public enum CallParty: String, Sendable, Codable, Hashable {
    case caller
    case callee
}

/// One media stream of the session description (an SDP `m=` line, RFC 4566 §5.14).
public struct CallMedia: Sendable, Codable, Hashable {
    /// `audio`, `video`, `application`, ...
    public var type: String
    /// The transport port; 0 means the stream is rejected or removed (RFC 3264 §6, §8.2).
    public var port: Int
    /// Codec names in preference order, from `a=rtpmap` or the RFC 3551 static payload types.
    public var codecs: [String]

    public init(type: String, port: Int, codecs: [String]) {
        self.type = type
        self.port = port
        self.codecs = codecs
    }

    /// Whether the stream is in use (port not zero).
    public var isActive: Bool { self.port != 0 }

    /// As `JSONEncoder` writes it with sorted keys (the journal line, `CallRecord.jsonLine`).
    var json: String {
        var o = JSONObjectBuilder(capacity: 64)
        o.add("codecs", json: JSONObjectBuilder.array(strings: self.codecs))
        o.add("port", self.port)
        o.add("type", self.type)
        return o.build()
    }
}

/// One relayed media stream of a call (`--media relay`): what went through the relay in each direction.
public struct CallRTP: Sendable, Codable, Equatable {
    public var media: String
    public var codec: String?
    /// Packets from the caller (to the callee) and from the callee.
    public var fromCaller: RTPStreamSummary
    public var fromCallee: RTPStreamSummary

    public init(media: String, codec: String?, fromCaller: RTPStreamSummary, fromCallee: RTPStreamSummary) {
        self.media = media
        self.codec = codec
        self.fromCaller = fromCaller
        self.fromCallee = fromCallee
    }

    /// As `JSONEncoder` writes it with sorted keys (the journal line, `CallRecord.jsonLine`).
    var json: String {
        var o = JSONObjectBuilder(capacity: 160)
        o.add("codec", self.codec)
        o.add("fromCallee", json: self.fromCallee.json)
        o.add("fromCaller", json: self.fromCaller.json)
        o.add("media", self.media)
        return o.build()
    }
}

extension RTPStreamSummary {
    var json: String {
        var o = JSONObjectBuilder(capacity: 64)
        o.add("jitterMs", self.jitterMs)
        o.add("lost", self.lost)
        o.add("octets", self.octets)
        o.add("packets", self.packets)
        return o.build()
    }
}

/// A call as the proxy saw it.
public struct CallRecord: Sendable, Equatable, Codable {
    public var callID: String
    /// The caller's From tag: with `callID` it identifies the call (RFC 3261 §12: a dialog is Call-ID + tags; the
    /// record spans every early dialog of a forked INVITE, so only the caller's tag is part of the key).
    public var fromTag: String
    /// Caller AOR (`sip:alice@example.com`) and display name.
    public var caller: String
    public var callerName: String?
    /// The original To of the INVITE.
    public var callee: String
    public var calleeName: String?
    /// `ip:port` the INVITE came from.
    public var source: String?
    /// `ip:port` of the branch whose 2xx the proxy received.
    public var answeredFrom: String?
    /// The Contact URI of that 2xx.
    public var answeringContact: String?

    public var inviteAt: WallClock
    public var ringingAt: WallClock?
    public var answeredAt: WallClock?
    public var endedAt: WallClock?

    /// `calling`, `ringing`, `answered` while in progress, `ended` afterwards.
    public var state: String
    public var outcome: CallOutcome?
    /// The final response the proxy sent to the caller, and its reason phrase as sent on the wire.
    public var finalCode: Int?
    public var finalReason: String?
    public var hungUpBy: CallParty?
    /// From INVITE to answer (or to the end when unanswered): how long the caller waited. Milliseconds precision.
    public var ringSeconds: Double?
    /// From answer to end; nil when unanswered.
    public var talkSeconds: Double?
    public var media: [CallMedia]
    /// A re-INVITE turned video on during the call.
    public var videoAdded: Bool
    /// The Refer-To URI of a REFER in this call (RFC 3515).
    public var transferredTo: String?
    /// The Call-ID of the call whose REFER led to this one.
    public var transferredFrom: String?
    /// Call forwarding by the proxy: the last target the call was forwarded to (`sip:carol@host`), the reason
    /// of that forward (RFC 5806 diversion-reason: `unconditional`, `user-busy`, `no-answer`, `unavailable`,
    /// `deflection` for a followed 3xx), and every target in order for a chain. `callee` stays the original.
    public var forwardedTo: String?
    public var forwardReason: String?
    public var forwardChain: [String]?
    /// The media relay's counts per stream (packets, loss, jitter each way); nil when the media went direct.
    public var rtp: [CallRTP]?
    /// The room, when the call is a leg of a conference the proxy hosts (`800`).
    public var conference: String?
    /// The proxy that journaled the call, when read from a journal several proxies share (`--journal-db`); nil in
    /// a proxy's own `calls.jsonl`.
    public var instance: String?

    /// The zone the ISO 8601 strings are written in (not a field: read back from the strings' offset).
    public var timeZone: TimeZone

    public init(
        callID: String, fromTag: String, caller: String, callerName: String? = nil, callee: String,
        calleeName: String? = nil, inviteAt: WallClock, timeZone: TimeZone = .current
    ) {
        self.callID = callID
        self.fromTag = fromTag
        self.caller = caller
        self.callerName = callerName
        self.callee = callee
        self.calleeName = calleeName
        self.inviteAt = inviteAt
        self.state = "calling"
        self.media = []
        self.videoAdded = false
        self.timeZone = timeZone
    }

    /// Call-ID and caller tag: the record's identity.
    public var key: String { "\(self.callID);\(self.fromTag)" }

    /// The user part of the caller's AOR (`alice`), for the text log and tables.
    public var callerUser: String { Self.user(of: self.caller) }
    public var calleeUser: String { Self.user(of: self.callee) }

    static func user(of aor: String) -> String {
        // By bytes: ":" and "@" are ASCII, so the indices found are valid String indices (no grapheme breaking).
        let bytes = aor.utf8
        var start = bytes.startIndex
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) { start = bytes.index(after: colon) }
        let end = bytes[start...].firstIndex(of: UInt8(ascii: "@")) ?? bytes.endIndex
        return String(aor[start..<end])
    }

    /// Sets the end, the durations and the final state.
    mutating func close(_ outcome: CallOutcome, at time: WallClock) {
        self.outcome = outcome
        self.state = "ended"
        self.endedAt = time
        self.ringSeconds = max(0, (self.answeredAt ?? time).seconds(since: self.inviteAt))
        if let answered = self.answeredAt { self.talkSeconds = max(0, time.seconds(since: answered)) }
    }

    // MARK: Codable

    enum CodingKeys: String, CodingKey {
        case callID, fromTag, caller, callerName, callee, calleeName, source, answeredFrom, answeringContact
        case invite, inviteUs, ringing, ringingUs, answer, answerUs, end, endUs
        case state, outcome, finalCode, finalReason, hungUpBy, ringSeconds, talkSeconds, media, videoAdded
        case transferredTo, transferredFrom
        case forwardedTo, forwardReason, forwardChain
        case rtp, conference, instance
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.callID = try c.decode(String.self, forKey: .callID)
        self.fromTag = try c.decodeIfPresent(String.self, forKey: .fromTag) ?? ""
        self.caller = try c.decode(String.self, forKey: .caller)
        self.callerName = try c.decodeIfPresent(String.self, forKey: .callerName)
        self.callee = try c.decode(String.self, forKey: .callee)
        self.calleeName = try c.decodeIfPresent(String.self, forKey: .calleeName)
        self.source = try c.decodeIfPresent(String.self, forKey: .source)
        self.answeredFrom = try c.decodeIfPresent(String.self, forKey: .answeredFrom)
        self.answeringContact = try c.decodeIfPresent(String.self, forKey: .answeringContact)
        let inviteText = try c.decodeIfPresent(String.self, forKey: .invite)
        let zone = inviteText.flatMap(WallClock.offset(ofISO8601:)).flatMap { TimeZone(secondsFromGMT: $0) }
        self.timeZone = zone ?? .current
        func time(_ us: CodingKeys, _ iso: CodingKeys) throws -> WallClock? {
            if let micros = try c.decodeIfPresent(Int64.self, forKey: us) { return WallClock(microseconds: micros) }
            guard let text = try c.decodeIfPresent(String.self, forKey: iso) else { return nil }
            guard let value = WallClock.parseISO8601(text, timeZone: .current) else {
                throw DecodingError.dataCorruptedError(forKey: iso, in: c, debugDescription: "bad time '\(text)'")
            }
            return value
        }
        guard let invite = try time(.inviteUs, .invite) else {
            throw DecodingError.keyNotFound(CodingKeys.inviteUs, .init(codingPath: [], debugDescription: "no time"))
        }
        self.inviteAt = invite
        self.ringingAt = try time(.ringingUs, .ringing)
        self.answeredAt = try time(.answerUs, .answer)
        self.endedAt = try time(.endUs, .end)
        self.state = try c.decodeIfPresent(String.self, forKey: .state) ?? "ended"
        self.outcome = try c.decodeIfPresent(CallOutcome.self, forKey: .outcome)
        self.finalCode = try c.decodeIfPresent(Int.self, forKey: .finalCode)
        self.finalReason = try c.decodeIfPresent(String.self, forKey: .finalReason)
        self.hungUpBy = try c.decodeIfPresent(CallParty.self, forKey: .hungUpBy)
        self.ringSeconds = try c.decodeIfPresent(Double.self, forKey: .ringSeconds)
        self.talkSeconds = try c.decodeIfPresent(Double.self, forKey: .talkSeconds)
        self.media = try c.decodeIfPresent([CallMedia].self, forKey: .media) ?? []
        self.videoAdded = try c.decodeIfPresent(Bool.self, forKey: .videoAdded) ?? false
        self.transferredTo = try c.decodeIfPresent(String.self, forKey: .transferredTo)
        self.transferredFrom = try c.decodeIfPresent(String.self, forKey: .transferredFrom)
        self.forwardedTo = try c.decodeIfPresent(String.self, forKey: .forwardedTo)
        self.forwardReason = try c.decodeIfPresent(String.self, forKey: .forwardReason)
        self.forwardChain = try c.decodeIfPresent([String].self, forKey: .forwardChain)
        self.rtp = try c.decodeIfPresent([CallRTP].self, forKey: .rtp)
        self.conference = try c.decodeIfPresent(String.self, forKey: .conference)
        self.instance = try c.decodeIfPresent(String.self, forKey: .instance)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.callID, forKey: .callID)
        try c.encode(self.fromTag, forKey: .fromTag)
        try c.encode(self.caller, forKey: .caller)
        try c.encodeIfPresent(self.callerName, forKey: .callerName)
        try c.encode(self.callee, forKey: .callee)
        try c.encodeIfPresent(self.calleeName, forKey: .calleeName)
        try c.encodeIfPresent(self.source, forKey: .source)
        try c.encodeIfPresent(self.answeredFrom, forKey: .answeredFrom)
        try c.encodeIfPresent(self.answeringContact, forKey: .answeringContact)
        func time(_ value: WallClock?, _ us: CodingKeys, _ iso: CodingKeys) throws {
            guard let value else { return }
            try c.encode(value.iso8601(in: self.timeZone), forKey: iso)
            try c.encode(value.microseconds, forKey: us)
        }
        try time(self.inviteAt, .inviteUs, .invite)
        try time(self.ringingAt, .ringingUs, .ringing)
        try time(self.answeredAt, .answerUs, .answer)
        try time(self.endedAt, .endUs, .end)
        try c.encode(self.state, forKey: .state)
        try c.encodeIfPresent(self.outcome, forKey: .outcome)
        try c.encodeIfPresent(self.finalCode, forKey: .finalCode)
        try c.encodeIfPresent(self.finalReason, forKey: .finalReason)
        try c.encodeIfPresent(self.hungUpBy, forKey: .hungUpBy)
        try c.encodeIfPresent(self.ringSeconds, forKey: .ringSeconds)
        try c.encodeIfPresent(self.talkSeconds, forKey: .talkSeconds)
        try c.encode(self.media, forKey: .media)
        try c.encode(self.videoAdded, forKey: .videoAdded)
        try c.encodeIfPresent(self.transferredTo, forKey: .transferredTo)
        try c.encodeIfPresent(self.transferredFrom, forKey: .transferredFrom)
        try c.encodeIfPresent(self.forwardedTo, forKey: .forwardedTo)
        try c.encodeIfPresent(self.forwardReason, forKey: .forwardReason)
        try c.encodeIfPresent(self.forwardChain, forKey: .forwardChain)
        try c.encodeIfPresent(self.rtp, forKey: .rtp)
        try c.encodeIfPresent(self.conference, forKey: .conference)
        try c.encodeIfPresent(self.instance, forKey: .instance)
    }

    /// The record as one JSON line (no newline): sorted keys, so lines are stable and diffable.
    /// Written directly (`JSONObjectBuilder`), the same text as `JSONEncoder` with `[.sortedKeys,
    /// .withoutEscapingSlashes]` makes of `encode(to:)`, at a fraction of its cost: the journal writes one per call.
    public func jsonLine() -> String {
        var o = JSONObjectBuilder()
        // Keys in the order of their bytes (`.sortedKeys`): each time is written as ISO 8601 and as microseconds.
        func time(_ value: WallClock?, _ iso: String, _ us: String) {
            guard let value else { return }
            o.add(iso, value.iso8601(in: self.timeZone))
            o.add(us, value.microseconds)
        }
        time(self.answeredAt, "answer", "answerUs")
        o.add("answeredFrom", self.answeredFrom)
        o.add("answeringContact", self.answeringContact)
        o.add("callID", self.callID)
        o.add("callee", self.callee)
        o.add("calleeName", self.calleeName)
        o.add("caller", self.caller)
        o.add("callerName", self.callerName)
        o.add("conference", self.conference)
        time(self.endedAt, "end", "endUs")
        o.add("finalCode", self.finalCode)
        o.add("finalReason", self.finalReason)
        o.add("forwardChain", json: self.forwardChain.map { JSONObjectBuilder.array(strings: $0) })
        o.add("forwardReason", self.forwardReason)
        o.add("forwardedTo", self.forwardedTo)
        o.add("fromTag", self.fromTag)
        o.add("hungUpBy", self.hungUpBy?.rawValue)
        o.add("instance", self.instance)
        time(self.inviteAt, "invite", "inviteUs")
        o.add("media", json: JSONObjectBuilder.array(self.media.map(\.json)))
        o.add("outcome", self.outcome?.rawValue)
        o.add("ringSeconds", self.ringSeconds)
        time(self.ringingAt, "ringing", "ringingUs")
        o.add("rtp", json: self.rtp.map { JSONObjectBuilder.array($0.map(\.json)) })
        o.add("source", self.source)
        o.add("state", self.state)
        o.add("talkSeconds", self.talkSeconds)
        o.add("transferredFrom", self.transferredFrom)
        o.add("transferredTo", self.transferredTo)
        o.add("videoAdded", self.videoAdded)
        return o.build()
    }

    public static func decode(jsonLine line: String) throws -> CallRecord {
        try JSONDecoder().decode(CallRecord.self, from: Data(line.utf8))
    }
}
