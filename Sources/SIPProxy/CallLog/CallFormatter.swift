// CallFormatter: how `sipctl calls` and the text log show records (in the library so it is unit tested).

import Foundation

/// Table, CSV, JSON, summary and text-log renderings of call records.
public enum CallFormatter {
    /// `sipctl calls`: one row per call, with its Call-ID (what `sipctl trace ladder --call` takes). With `now`,
    /// a call still in progress shows how long it has rung and talked so far instead of `-`. With a `width` (a
    /// terminal's), the caller, callee and Call-ID columns are cut in the middle so each line fits.
    public static func table(
        _ records: [CallRecord], timeZone: TimeZone, now: WallClock? = nil, width: Int? = nil
    ) -> String {
        if records.isEmpty { return "no calls\n" }
        let proxies = Self.showsInstance(records)
        let rows = records.map { r in
            var ring = r.ringSeconds
            var talk = r.talkSeconds
            if let now, r.outcome == nil {
                ring = ring ?? (r.answeredAt ?? now).seconds(since: r.inviteAt)
                if let answered = r.answeredAt { talk = talk ?? now.seconds(since: answered) }
            }
            let row = [
                r.inviteAt.dateTime(in: timeZone), Self.bare(r.caller), Self.bare(r.callee),
                r.outcome?.rawValue ?? r.state, r.finalCode.map(String.init) ?? "-", Self.seconds(ring, 1),
                Self.seconds(talk, 1), r.hungUpBy?.rawValue ?? "-", r.callID,
            ]
            return proxies ? [row[0], r.instance ?? "-"] + row.dropFirst() : row
        }
        var headers = ["TIME", "CALLER", "CALLEE", "OUTCOME", "CODE", "RING S", "TALK S", "HUNG UP BY", "CALL-ID"]
        if proxies { headers.insert("PROXY", at: 1) }
        return TextTable(headers: headers, rows: rows).render(width: width, shrinking: proxies ? [2, 3, 9] : [1, 2, 8])
    }

    /// Whether the records come from more than one proxy (a shared journal, `--journal-db`): only then do the
    /// table and CSV name the proxy of each call.
    static func showsInstance(_ records: [CallRecord]) -> Bool {
        guard let first = records.first(where: { $0.instance != nil })?.instance else { return false }
        return records.contains { $0.instance != nil && $0.instance != first }
    }

    /// CSV (RFC 4180) with a header row; times in ISO 8601, durations with millisecond precision.
    public static func csv(_ records: [CallRecord]) -> String {
        let header = [
            "invite", "caller", "callee", "outcome", "code", "reason", "ring_s", "talk_s", "hung_up_by", "call_id",
            "source", "answered_from", "transferred_to", "transferred_from",
        ]
        let proxies = Self.showsInstance(records)
        var out = (header + (proxies ? ["proxy"] : [])).joined(separator: ",") + "\r\n"
        for r in records {
            let fields = [
                r.inviteAt.iso8601(in: r.timeZone), r.caller, r.callee, r.outcome?.rawValue ?? r.state,
                r.finalCode.map(String.init) ?? "", r.finalReason ?? "", Self.seconds(r.ringSeconds, 3, empty: ""),
                Self.seconds(r.talkSeconds, 3, empty: ""), r.hungUpBy?.rawValue ?? "", r.callID, r.source ?? "",
                r.answeredFrom ?? "", r.transferredTo ?? "", r.transferredFrom ?? "",
            ] + (proxies ? [r.instance ?? ""] : [])
            out += fields.map(Self.csvField).joined(separator: ",") + "\r\n"
        }
        return out
    }

    /// A JSON array of records, one record per line.
    public static func json(_ records: [CallRecord]) throws -> String {
        if records.isEmpty { return "[]\n" }
        return "[\n" + records.map { $0.jsonLine() }.joined(separator: ",\n") + "\n]\n"
    }

    /// `3 calls: 1 completed, 1 busy, 1 cancelled; talk time 0:00:09`.
    public static func summary(_ records: [CallRecord]) -> String {
        if records.isEmpty { return "no calls" }
        var counts: [CallOutcome: Int] = [:]
        var inProgress = 0
        for r in records {
            if let outcome = r.outcome { counts[outcome, default: 0] += 1 } else { inProgress += 1 }
        }
        var parts = CallOutcome.allCases.compactMap { o in counts[o].map { "\($0) \(o.rawValue)" } }
        if inProgress > 0 { parts.append("\(inProgress) in progress") }
        let talk = records.compactMap(\.talkSeconds).reduce(0, +)
        let noun = records.count == 1 ? "call" : "calls"
        var line = "\(records.count) \(noun): \(parts.joined(separator: ", ")); talk time \(Self.clock(talk))"
        if Self.showsInstance(records) {
            // A shared journal: how many calls each proxy journaled (`proxy-a 3, proxy-b 2`).
            var byProxy: [String: Int] = [:]
            for r in records { byProxy[r.instance ?? "-", default: 0] += 1 }
            line += "; " + byProxy.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        return line
    }

    /// The text log line for an ended call.
    public static func endLine(_ r: CallRecord) -> String {
        let pair = "\(r.callerUser)–\(r.calleeUser)"
        let outcome = r.outcome ?? .failed
        if r.answeredAt != nil {
            let talk = Self.duration(r.talkSeconds ?? 0)
            switch outcome {
            case .timedOut: return "call \(pair) timed out after \(talk) (no BYE seen)"
            case .interrupted: return "call \(pair) interrupted after \(talk) (proxy stopped)"
            case .mediaTimeout: return "call \(pair) ended by media timeout after \(talk) (no RTP)"
            default:
                let who = r.hungUpBy.map { $0 == .caller ? r.callerUser : r.calleeUser }
                return "call \(pair) ended after \(talk)" + (who.map { " (\($0) hung up)" } ?? "")
            }
        }
        var line = "\(r.callerUser) called \(r.calleeUser): \(outcome.rawValue)"
        if let code = r.finalCode { line += " (\(code) \(r.finalReason ?? SIPStatus.defaultReason(code)))" }
        if outcome == .interrupted { line += " (proxy stopped)" }
        return line
    }

    /// What changed between two polls of the calls in progress (`sipctl calls --live`), one line each.
    public static func liveChanges(from old: [CallRecord], to new: [CallRecord], now: WallClock,
                                   timeZone: TimeZone) -> [String] {
        let before = Dictionary(old.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Set(new.map(\.key))
        var lines: [String] = []
        let stamp = now.timeOfDay(in: timeZone)
        for r in new {
            let previous = before[r.key]
            if previous == nil { lines.append("\(stamp) \(r.callerUser) called \(r.calleeUser)") }
            if r.ringingAt != nil && previous?.ringingAt == nil && r.answeredAt == nil {
                lines.append("\(stamp) \(r.calleeUser) ringing")
            }
            if r.answeredAt != nil && previous?.answeredAt == nil {
                lines.append("\(stamp) \(r.calleeUser) answered \(r.callerUser)")
            }
            if r.videoAdded && previous?.videoAdded != true {
                lines.append("\(stamp) call \(r.callerUser)–\(r.calleeUser): video added")
            }
        }
        for r in old where !after.contains(r.key) {
            let talk = r.answeredAt.map { " after \(Self.duration(now.seconds(since: $0)))" } ?? ""
            lines.append("\(stamp) call \(r.callerUser)–\(r.calleeUser) ended\(talk)")
        }
        return lines
    }

    // MARK: Pieces

    /// `sip:alice@example.com` → `alice@example.com`.
    static func bare(_ aor: String) -> String {
        aor.hasPrefix("sip:") ? String(aor.dropFirst(4)) : aor
    }

    static func seconds(_ value: Double?, _ decimals: Int, empty: String = "-") -> String {
        guard let value else { return empty }
        return String(format: "%.\(decimals)f", value)
    }

    /// `9 s`, `2 min 5 s`, `1 h 2 min`.
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total) s" }
        if total < 3600 { return "\(total / 60) min \(total % 60) s" }
        return "\(total / 3600) h \(total / 60 % 60) min"
    }

    /// `0:00:09`.
    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return "\(total / 3600):\(WallClock.pad(total / 60 % 60)):\(WallClock.pad(total % 60))"
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
