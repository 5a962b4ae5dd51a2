// TextTable: aligned plain-text tables for sipctl output (kept in the library so it is unit tested).

/// A table with a header row, left-aligned columns separated by two spaces.
public struct TextTable: Sendable {
    public var headers: [String]
    public var rows: [[String]]

    public init(headers: [String], rows: [[String]] = []) {
        self.headers = headers
        self.rows = rows
    }

    /// Cells come from the wire (display names, URIs, Call-IDs): control characters are written as escapes, so a
    /// peer cannot drive the terminal or break the columns.
    ///
    /// With a `width`, the columns listed in `shrinking` (long URIs, Call-IDs) are narrowed, the widest first and
    /// not below `minimumShrunk` characters nor their header's width, until each line fits; their cells are cut with `…`, in the middle
    /// (both ends of a Call-ID tell more than its middle) or, for the columns in `keepingStart`, at the end (the
    /// user of `alice@192.0.2.1:5060`). Other columns keep their width.
    public func render(width: Int? = nil, shrinking: [Int] = [], keepingStart: Set<Int> = []) -> String {
        let all = ([self.headers] + self.rows).map { $0.map(TerminalText.escaped) }
        var widths = Array(repeating: 0, count: self.headers.count)
        for row in all {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        if let width {
            var total = widths.reduce(0, +) + 2 * max(0, widths.count - 1)
            while total > width {
                // A header is never cut: it says what the cut cells are.
                guard let widest = shrinking.filter({
                    $0 < widths.count && widths[$0] > max(Self.minimumShrunk, all[0][$0].count)
                })
                    .max(by: { widths[$0] < widths[$1] })
                else { break }
                widths[widest] -= 1
                total -= 1
            }
        }
        var out = ""
        for row in all {
            var line = ""
            for (i, full) in row.enumerated() where i < widths.count {
                let cell = full.count <= widths[i] ? full
                    : keepingStart.contains(i) ? String(full.prefix(widths[i] - 1)) + "…" : Self.cutMiddle(full, widths[i])
                line += cell
                if i < widths.count - 1 { line += String(repeating: " ", count: widths[i] - cell.count + 2) }
            }
            out += line + "\n"
        }
        return out
    }

    /// The narrowest a shrinking column gets.
    static let minimumShrunk = 6

    /// `sip:alice@…ample.org`: the start and the end of `text` in `limit` characters.
    static func cutMiddle(_ text: String, _ limit: Int) -> String {
        guard text.count > limit, limit > 2 else { return String(text.prefix(limit)) }
        let tail = (limit - 1) / 2
        return String(text.prefix(limit - 1 - tail)) + "…" + String(text.suffix(tail))
    }
}
