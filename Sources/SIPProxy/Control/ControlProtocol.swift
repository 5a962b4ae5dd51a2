// ControlProtocol: the JSON protocol spoken on the proxy's Unix-domain control socket, shared by `sipctl` and
// the proxy.
//
// One JSON object per line in each direction (newline-delimited JSON, UTF-8). The client writes a request,
// the proxy answers with exactly one response line; a connection may carry several requests in turn.
//
//     -> {"command":"registrations"}
//     <- {"ok":true,"registrations":[{"aor":"sip:bob@192.0.2.5","user":"bob","contact":"<sip:bob@192.0.2.12:5060>",
//          "transport":"UDP","source":"192.0.2.12:5060","expiresIn":3597}]}
//     -> {"command":"nonsense"}
//     <- {"ok":false,"error":"unknown command 'nonsense'"}
//
// Commands: `registrations`; `status`; `phrases.show` (with optional `language`); `phrases.reload`;
// `trace.start` (with optional `trace` overrides), `trace.stop`, `trace.status`, `trace.list`, `trace.follow` (with `after`, the last sequence number seen); `calls.live`; `forward.set`, `forward.show`, `forward.clear` (with `user`, `rule`). Unknown fields are ignored so older clients keep working.

import Foundation

/// A request line.
public struct ControlRequest: Codable, Sendable, Equatable {
    public var command: String
    /// `phrases.show`: the language whose table to return (default: the proxy's default language).
    public var language: String?
    /// `trace.start`: what to change from the start-up trace settings.
    public var trace: TraceStartOptions?
    /// `forward.set` / `forward.show` / `forward.clear`: the user, and for `forward.set` the fields to change
    /// (see ControlProtocol+Forwarding.swift).
    public var user: String?
    public var rule: ForwardingRule?
    /// `trace.follow`: the last message sequence number the follower has (absent: a new follower, start from now).
    public var after: UInt64?
    /// `conference.*`: the room, the participant (Call-ID or user), and for `mute`/`lock` the new state (absent:
    /// toggle for `mute`).
    public var room: String?
    public var participant: String?
    public var on: Bool?

    public init(
        command: String,
        language: String? = nil,
        trace: TraceStartOptions? = nil,
        user: String? = nil,
        rule: ForwardingRule? = nil,
        after: UInt64? = nil,
        room: String? = nil,
        participant: String? = nil,
        on: Bool? = nil
    ) {
        self.room = room
        self.participant = participant
        self.on = on
        self.command = command
        self.language = language
        self.trace = trace
        self.user = user
        self.rule = rule
        self.after = after
    }
}

/// `sipctl trace start` options; each nil field keeps the proxy's start-up setting.
public struct TraceStartOptions: Codable, Sendable, Equatable {
    public var directory: String?
    public var maxFileSize: Int?
    public var maxFiles: Int?
    /// Seconds before a file is rotated.
    public var maxDuration: Int?
    /// Milliseconds within which a record reaches the disk (0: every record).
    public var flushInterval: Int?
    /// A filter expression (`method=INVITE,BYE user=alice callid=... peer=127.0.0.11`); "" records everything.
    public var filter: String?

    public init(
        directory: String? = nil,
        maxFileSize: Int? = nil,
        maxFiles: Int? = nil,
        maxDuration: Int? = nil,
        flushInterval: Int? = nil,
        filter: String? = nil
    ) {
        self.directory = directory
        self.maxFileSize = maxFileSize
        self.maxFiles = maxFiles
        self.maxDuration = maxDuration
        self.flushInterval = flushInterval
        self.filter = filter
    }

    /// The settings to start with: `base` with these overrides, validated (the group, a start-up choice, is kept).
    public func apply(to base: TraceSettings) throws(TraceError) -> TraceSettings {
        var s = base
        if let v = self.directory { s.directory = v }
        if let v = self.maxFileSize { s.maxFileSize = v }
        if let v = self.maxFiles { s.maxFiles = v }
        if let v = self.maxDuration { s.maxDuration = v }
        if let v = self.flushInterval { s.flushInterval = v }
        if let v = self.filter { s.filter = v.trimmingSIPWhitespace().isEmpty ? nil : try TraceFilter.parse(v) }
        try s.validate()
        return s
    }
}

/// The active phrase policy and one table, for `sipctl phrases`.
public struct PhrasesInfo: Codable, Sendable, Equatable {
    public var source: String
    public var defaultLanguage: String
    public var languages: [String]
    public var rewriteRelayed: Bool
    public var rewriteCodes: [Int]?
    public var acceptLanguage: Bool
    public var language: String
    /// Code (as text: JSON object keys are strings) -> phrase.
    public var table: [String: String]

    public init(book: PhraseBook, language: String?) {
        let lang = (language ?? book.defaultLanguage).lowercased()
        self.source = book.source
        self.defaultLanguage = book.defaultLanguage
        self.languages = book.tables.keys.sorted()
        self.rewriteRelayed = book.rewriteRelayed
        self.rewriteCodes = book.rewriteCodes?.sorted()
        self.acceptLanguage = book.useAcceptLanguage
        self.language = lang
        var table: [String: String] = [:]
        for (code, phrase) in book.tables[lang]?.phrases ?? [:] { table[String(code)] = phrase }
        self.table = table
    }

    /// `sipctl phrases` as text.
    public func render() -> String {
        var out = "source: \(self.source)\n"
        out += "default language: \(self.defaultLanguage) (tables: \(self.languages.joined(separator: ", ")))\n"
        let codes = self.rewriteCodes.map { $0.map(String.init).joined(separator: ", ") } ?? "all codes"
        out += "relayed responses: \(self.rewriteRelayed ? "rewritten (\(codes))" : "phrases kept")\n"
        out += "Accept-Language: \(self.acceptLanguage ? "honoured" : "ignored")\n\n"
        let rows = self.table.keys.compactMap(Int.init).sorted().map { [String($0), self.table[String($0)] ?? ""] }
        out += TextTable(headers: ["CODE", "PHRASE (\(self.language))"], rows: rows).render()
        return out
    }
}

/// One current binding, as `sipctl registrations` shows it.
public struct RegistrationInfo: Codable, Sendable, Equatable {
    public var aor: String
    public var user: String
    public var contact: String
    public var transport: String
    /// The address the REGISTER came from (`ip:port`): requests for the phone go back there.
    public var source: String
    public var expiresIn: Int
}

extension RegistrationInfo {
    /// `sipctl registrations` as a table.
    public static func table(_ list: [RegistrationInfo]) -> String {
        if list.isEmpty { return "no registrations\n" }
        let rows = list.map { [$0.aor, $0.contact, $0.transport, $0.source, "\($0.expiresIn) s"] }
        return TextTable(headers: ["AOR", "CONTACT", "TRANSPORT", "SOURCE", "EXPIRES IN"], rows: rows).render()
    }
}

/// Proxy-wide figures for `sipctl status`.
public struct ProxyStatus: Codable, Sendable, Equatable {
    public var listeners: [String]
    public var users: Int
    public var bindings: Int
    public var serverTransactions: Int
    public var clientTransactions: Int
    public var uptimeSeconds: Int
    /// Resource use against the configured caps, and what the safety checks refused.
    public var limits: LimitsStatus?
    /// Each shard's load (one per `--workers`).
    public var shards: [ShardStatus]?
    /// The media relay: `direct`, or `relay 20000-29999, 4 of 5000 pairs in use`. Nil from an older proxy.
    public var media: String?
    /// Where the registrations persist; nil when they are in memory only (or from an older proxy).
    public var registrationStore: RegistrationPersistence.Status?
    /// The call journal's database copy (`--journal-db`); nil without one (or from an older proxy).
    public var journalDatabase: JournalDatabaseWriter.Status?
}

/// One shard (event loop) of the proxy in `sipctl status`.
public struct ShardStatus: Codable, Sendable, Equatable {
    public var shard: Int
    /// SIP messages processed on this shard (the calls whose Call-ID it owns).
    public var messages: UInt64
    /// Messages this shard's sockets read and passed to the shard owning their call.
    public var handedOver: UInt64
    public var serverTransactions: Int
    public var clientTransactions: Int
    /// Timers pending in its timer wheel (transaction timers, Timer C, no-answer).
    public var timers: Int
    /// TCP and TLS connections on this shard's loop.
    public var connections: Int
    /// Overload control: the share of new requests this shard refuses now (thousandths), its last queue-delay and
    /// loop-lag estimates, and the requests it refused so far. Nil from a proxy without overload control.
    public var shedPermille: Int?
    public var queueDelayMs: Int?
    public var loopLagMs: Int?
    public var shedRequests: UInt64?
}

/// `sipctl status`: each bounded resource with its cap, and the refusal counters.
public struct LimitsStatus: Codable, Sendable, Equatable {
    public var relay: String
    public var connections: Int
    public var maxConnections: Int
    public var maxConnectionsPerSource: Int
    public var maxTransactions: Int
    public var maxBindings: Int
    public var maxContactsPerUser: Int
    public var maxMessageSize: Int
    public var idleTimeoutSeconds: Int
    /// "N requests / S s, ban B s", or "off".
    public var rateLimit: String
    public var bannedSources: [String]
    public var rateLimitedRequests: Int
    public var refusedConnections: Int
    public var refusedDestinations: Int
    public var sendErrors: Int
    public var oversizedMessages: Int
    public var listenerRestarts: Int
    /// Times accepting TCP connections paused for lack of descriptors.
    public var acceptPauses: Int
    /// Connections closed because the peer stopped reading; nil from an older proxy.
    public var stalledConnections: Int?
    /// "503 past 200 ms queueing delay, Retry-After 5 s", or "off"; nil from an older proxy.
    public var overload: String?
    /// "30 per room, 200 in all rooms": the conference limits; nil when the proxy hosts no rooms.
    public var conference: String?
}

/// A response line.
public struct ControlResponse: Codable, Sendable, Equatable {
    public var ok: Bool
    public var error: String?
    public var registrations: [RegistrationInfo]?
    /// With `registrations`: where they persist (nil: memory only).
    public var registrationStore: RegistrationPersistence.Status?
    public var status: ProxyStatus?
    public var phrases: PhrasesInfo?
    public var trace: TraceStatus?
    public var traceFiles: [TraceFileInfo]?
    /// `calls.live`: the calls in progress and the proxy's clock.
    public var liveCalls: [CallRecord]?
    public var serverTime: WallClock?
    /// `forward.*`: the forwarding rules in force (one user's, or everyone's for `forward.show` without a user).
    public var forwarding: [ForwardingInfo]?
    /// `trace.follow`: the messages since the follower's last poll.
    public var follow: FollowBatch?
    /// `media.list`: the media relay's sessions and ports.
    public var media: MediaStatus?
    /// `conference.*`: the rooms in progress (for `mute`: the participant's new state in `muted`).
    public var conferences: [ConferenceInfo]?
    public var muted: Bool?

    public init(ok: Bool = true, error: String? = nil) {
        self.ok = ok
        self.error = error
    }

    public static func failure(_ message: String) -> ControlResponse { ControlResponse(ok: false, error: message) }
}

/// Encoding shared by both ends: compact, one line, stable key order.
public enum ControlCoding {
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from line: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(line.utf8))
    }
}
