// CallList: filtering and formatting the dialogs of a capture (table, JSON, CSV).

import Foundation

/// Filters for `sipctl trace calls`.
public struct CallFilter: Sendable {
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

    /// An aligned table (two spaces between columns).
    public static func table(_ calls: [CallSummary]) -> String {
        if calls.isEmpty { return "no calls\n" }
        return TextTable(headers: Self.headers, rows: calls.map(Self.row)).render()
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

    /// A JSON array, one object per dialog (times as UTC text and as epoch seconds).
    public static func json(_ calls: [CallSummary]) -> String {
        struct Row: Encodable {
            var index: Int
            var start: String
            var startEpoch: Double
            var callID: String
            var from: String
            var to: String
            var method: String
            var messages: Int
            var state: String?
            var duration: Double
            var linkedCallIDs: [String]
        }
        let rows = calls.map {
            Row(
                index: $0.index, start: CaptureClock.dateTime($0.start), startEpoch: Double($0.start) / 1e9,
                callID: $0.callID, from: $0.from, to: $0.to, method: $0.firstMethod, messages: $0.messageCount,
                state: $0.state?.rawValue, duration: Double($0.duration / 1_000_000) / 1000,
                linkedCallIDs: $0.linkedCallIDs
            )
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(rows)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
