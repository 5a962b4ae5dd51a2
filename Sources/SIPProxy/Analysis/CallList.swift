// CallList: filtering and formatting the dialogs of a capture (table, JSON, CSV).

import Foundation

/// Filters for `sipctl trace calls` and `trace ladder --user`.
public struct CallFilter: Sendable, Equatable, CustomStringConvertible {
    /// Dialogs that started at or after this time.
    public var since: CaptureTime?
    /// Dialogs that started at or before this time.
    public var until: CaptureTime?
    /// A case-insensitive substring of the From or To URI.
    public var user: String?
    /// The method of the dialog's first request (case-insensitive), e.g. INVITE or REGISTER.
    public var method: String?

    public init(since: CaptureTime? = nil, until: CaptureTime? = nil, user: String? = nil, method: String? = nil) {
        self.since = since
        self.until = until
        self.user = user
        self.method = method
    }

    /// The filter as the flags that made it: `--user alice --since 2026-12-06 10:00:00`.
    public var description: String {
        var parts: [String] = []
        if let user = self.user { parts.append("--user \(user)") }
        if let method = self.method { parts.append("--method \(method)") }
        if let since = self.since { parts.append("--since \(CaptureClock.dateTime(since))") }
        if let until = self.until { parts.append("--until \(CaptureClock.dateTime(until))") }
        return parts.isEmpty ? "(no filter)" : parts.joined(separator: " ")
    }

    public func matches(_ call: CallSummary) -> Bool {
        if let since = self.since, call.start < since { return false }
        if let until = self.until, call.start > until { return false }
        if let user = self.user?.lowercased(),
            !call.from.lowercased().contains(user) && !call.to.lowercased().contains(user)
        {
            return false
        }
        if let method = self.method, call.firstMethod.uppercased() != method.uppercased() { return false }
        return true
    }
}

/// The rows of `sipctl trace calls`.
public enum CallList {
    public static let headers = ["#", "START", "CALL-ID", "FROM", "TO", "METHOD", "MSGS", "STATE", "DURATION"]

    static func row(_ call: CallSummary) -> [String] {
        [
            String(call.index), CaptureClock.dateTime(call.start), call.callID, call.from, call.to, call.firstMethod,
            String(call.messageCount), call.state?.rawValue ?? "-", CaptureClock.seconds(call.duration),
        ]
    }

    /// An aligned table (two spaces between columns). With a `width` (a terminal's) the full table does not fit
    /// in, it is made compact: the date moves to a line above when every call is of one day, From and To lose
    /// their `sip:` and are cut at the end, the Call-ID in the middle (`--json` and `--csv` keep everything).
    public static func table(_ calls: [CallSummary], width: Int? = nil) -> String {
        if calls.isEmpty { return "no calls\n" }
        let full = TextTable(headers: Self.headers, rows: calls.map(Self.row)).render()
        guard let width, full.split(separator: "\n").contains(where: { $0.count > width }) else { return full }
        var headers = Self.headers
        headers[8] = "SECS"
        let days = Set(calls.map { CaptureClock.dateTime($0.start).prefix(10) })
        let oneDay = days.count == 1
        let above = oneDay ? days.first.map { "calls of \($0) (UTC)\n" } ?? "" : ""
        let rows = calls.map { call -> [String] in
            var row = Self.row(call)
            let start = CaptureClock.dateTime(call.start)
            // Milliseconds are enough to tell calls apart in a list; the ladder has the microseconds.
            row[1] = String((oneDay ? start.dropFirst(11) : Substring(start)).dropLast(3))
            row[3] = call.from.hasPrefix("sip:") ? String(call.from.dropFirst(4)) : call.from
            row[4] = call.to.hasPrefix("sip:") ? String(call.to.dropFirst(4)) : call.to
            return row
        }
        return above + TextTable(headers: headers, rows: rows).render(width: width, shrinking: [2, 3, 4], keepingStart: [3, 4])
    }

    /// RFC 4180 CSV with a header line.
    public static func csv(_ calls: [CallSummary]) -> String {
        func field(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        let header = ["index", "start", "call_id", "from", "to", "method", "messages", "state", "duration"]
        return ([header] + calls.map(Self.row)).map { $0.map(field).joined(separator: ",") + "\r\n" }.joined()
    }

    /// A JSON array, one object per dialog, in the call journal's schema (`sipctl calls --json`): the same names
    /// for the same facts (`callID`, `caller`, `callee`, `invite`/`inviteUs`, `answer`/`answerUs`, `end`/`endUs`,
    /// `outcome`, `ringSeconds`, `talkSeconds`), times in UTC, plus what only a capture tells (`index`, `method`,
    /// `messages`, `state` while a call is not over, `linkedCallIDs`).
    public static func json(_ calls: [CallSummary]) -> String {
        struct Row: Encodable {
            var index: Int
            var callID: String
            var caller: String
            var callee: String
            var method: String
            var messages: Int
            var invite: String
            var inviteUs: Int64
            var answer: String?
            var answerUs: Int64?
            var end: String?
            var endUs: Int64?
            var state: String?
            var outcome: String?
            var ringSeconds: Double?
            var talkSeconds: Double?
            var linkedCallIDs: [String]
        }
        func iso(_ time: CaptureTime) -> String { CaptureClock.iso8601(time) }
        func seconds(_ nanos: Int64) -> Double { Double(nanos / 1_000_000) / 1000 }
        let rows = calls.map { call -> Row in
            let progress = call.progress
            let isInvite = call.state != nil
            // The end: the BYE of an answered call, the last message of one that ended unanswered.
            let end = progress.ended ?? (call.state?.endedUnanswered == true ? call.last : nil)
            return Row(
                index: call.index, callID: call.callID, caller: call.from, callee: call.to,
                method: call.firstMethod, messages: call.messageCount, invite: iso(call.start),
                inviteUs: call.start / 1000, answer: progress.answered.map(iso), answerUs: progress.answered.map { $0 / 1000 },
                end: end.map(iso), endUs: end.map { $0 / 1000 },
                state: call.state?.rawValue, outcome: call.outcome?.rawValue,
                ringSeconds: isInvite ? seconds((progress.answered ?? end ?? call.last) - call.start) : nil,
                talkSeconds: progress.answered.map { seconds((progress.ended ?? call.last) - $0) },
                linkedCallIDs: call.linkedCallIDs
            )
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(rows)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
