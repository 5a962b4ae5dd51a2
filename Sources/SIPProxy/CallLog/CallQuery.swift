// CallQuery: the filters of `sipctl calls` (--since, --until, --user, --outcome, --limit).

import Foundation

/// Which journal records to show.
public struct CallQuery: Sendable, Equatable {
    /// Calls whose INVITE is at or after this time.
    public var since: WallClock?
    /// Calls whose INVITE is before this time.
    public var until: WallClock?
    /// A user: matches the caller or the callee by user part (`alice`), AOR (`sip:alice@example.com` or
    /// `alice@example.com`) or display name, ignoring case.
    public var user: String?
    /// Only these outcomes (nil: all).
    public var outcomes: Set<CallOutcome>?
    /// At most this many calls: the most recent ones.
    public var limit: Int?

    public init() {}

    /// Builds a query from command-line text. `now` and `timeZone` resolve relative and local times.
    public static func parse(
        since: String? = nil,
        until: String? = nil,
        user: String? = nil,
        outcome: String? = nil,
        limit: Int? = nil,
        now: WallClock,
        timeZone: TimeZone
    ) throws(CallLogError) -> CallQuery {
        var query = CallQuery()
        if let since { query.since = try Self.parseTime(since, now: now, timeZone: timeZone) }
        if let until { query.until = try Self.parseTime(until, now: now, timeZone: timeZone) }
        if let since = query.since, let until = query.until, until <= since {
            throw CallLogError(.badFilter, "--until must be later than --since")
        }
        if let user {
            let trimmed = user.trimmingSIPWhitespace()
            guard !trimmed.isEmpty else { throw CallLogError(.badFilter, "--user needs a user name or AOR") }
            query.user = trimmed
        }
        if let outcome {
            var set: Set<CallOutcome> = []
            for name in outcome.split(separator: ",") {
                let word = name.trimmingSIPWhitespace().lowercased()
                guard let value = CallOutcome(rawValue: word == "noanswer" ? "no-answer" : word) else {
                    let all = CallOutcome.allCases.map(\.rawValue).joined(separator: ", ")
                    throw CallLogError(.badFilter, "unknown outcome '\(word)' (one of: \(all))")
                }
                set.insert(value)
            }
            guard !set.isEmpty else { throw CallLogError(.badFilter, "--outcome needs a value") }
            query.outcomes = set
        }
        if let limit {
            guard limit > 0 else { throw CallLogError(.badFilter, "--limit must be a positive number") }
            query.limit = limit
        }
        return query
    }

    /// A point in time: ISO 8601 (`2026-12-01`, `2026-12-01T10:30`, `2026-12-01T10:30:00+01:00`), a time of day
    /// today (`10:30`, `10:30:15`), `today`, `yesterday`, or an age (`45s`, `30m`, `2h`, `1d`, `1w`).
    public static func parseTime(_ text: String, now: WallClock, timeZone: TimeZone) throws(CallLogError) -> WallClock {
        let s = text.trimmingSIPWhitespace().lowercased()
        let today = now.fields(in: timeZone)
        let midnight = WallClock.local(year: today.year, month: today.month, day: today.day, in: timeZone)
        switch s {
        case "now": return now
        case "today": return midnight
        case "yesterday": return midnight.adding(seconds: -86_400)
        default: break
        }
        if let unit = s.last, let scale = ["s": 1.0, "m": 60, "h": 3600, "d": 86_400, "w": 604_800][unit],
            let amount = Double(s.dropLast()), amount >= 0, s.dropLast().allSatisfy({ $0.isNumber || $0 == "." })
        {
            return now.adding(seconds: -amount * scale)
        }
        let clock = s.split(separator: ":", omittingEmptySubsequences: false)
        if (clock.count == 2 || clock.count == 3), clock.allSatisfy({ !$0.isEmpty && $0.count <= 2 }),
            let hour = Int(clock[0]), let minute = Int(clock[1]), hour < 24, minute < 60
        {
            let second = clock.count == 3 ? Int(clock[2]) : 0
            guard let second, second < 60 else { throw Self.badTime(text) }
            return WallClock.local(
                year: today.year, month: today.month, day: today.day, hour: hour, minute: minute, second: second,
                in: timeZone
            )
        }
        if let time = WallClock.parseISO8601(text.trimmingSIPWhitespace().uppercased(), timeZone: timeZone) {
            return time
        }
        throw Self.badTime(text)
    }

    private static func badTime(_ text: String) -> CallLogError {
        CallLogError(
            .badFilter,
            "cannot read time '\(text)' (use 2026-12-01, 2026-12-01T10:30, 10:30, or an age like 30m, 2h, 1d)"
        )
    }

    /// Whether a record passes every filter except the limit.
    public func matches(_ record: CallRecord) -> Bool {
        if let since = self.since, record.inviteAt < since { return false }
        if let until = self.until, record.inviteAt >= until { return false }
        if let outcomes = self.outcomes {
            guard let outcome = record.outcome, outcomes.contains(outcome) else { return false }
        }
        if let user = self.user?.lowercased() {
            func hit(_ aor: String, _ name: String?) -> Bool {
                let a = aor.lowercased()
                return a == user || a == "sip:" + user || CallRecord.user(of: a) == user || name?.lowercased() == user
            }
            guard hit(record.caller, record.callerName) || hit(record.callee, record.calleeName) else { return false }
        }
        return true
    }

    /// The matching records in INVITE order, cut to the most recent `limit`.
    public func apply(_ records: [CallRecord]) -> [CallRecord] {
        let ordered = records.enumerated()
            .filter { self.matches($0.element) }
            .sorted { ($0.element.inviteAt, $0.offset) < ($1.element.inviteAt, $1.offset) }
            .map(\.element)
        if let limit = self.limit, ordered.count > limit { return Array(ordered.suffix(limit)) }
        return ordered
    }
}
