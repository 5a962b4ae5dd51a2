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
    public func render() -> String {
        let all = ([self.headers] + self.rows).map { $0.map(TerminalText.escaped) }
        var widths = Array(repeating: 0, count: self.headers.count)
        for row in all {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        var out = ""
        for row in all {
            var line = ""
            for (i, cell) in row.enumerated() where i < widths.count {
                line += cell
                if i < widths.count - 1 { line += String(repeating: " ", count: widths[i] - cell.count + 2) }
            }
            out += line + "\n"
        }
        return out
    }
}
