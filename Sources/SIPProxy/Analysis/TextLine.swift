// TextLine: one line of a text drawing, cell by cell, with an optional ANSI style per cell.

/// A fixed grid line that text is written into (later writes win), rendered with or without ANSI colors.
struct TextLine {
    enum Style: Equatable {
        case bold, dim, request, provisional, success, failure

        var ansi: String {
            switch self {
            case .bold: return "1"
            case .dim: return "2"
            case .request: return "36"
            case .provisional: return "33"
            case .success: return "32"
            case .failure: return "31"
            }
        }
    }

    private var cells: [Character]
    private var styles: [Style?]

    init(width: Int) {
        self.cells = Array(repeating: " ", count: width)
        self.styles = Array(repeating: nil, count: width)
    }

    /// Writes `text` from column `at`, growing the line when needed.
    mutating func write(_ text: String, at start: Int, style: Style? = nil) {
        var i = max(0, start)
        for ch in text {
            if i >= self.cells.count {
                self.cells.append(" ")
                self.styles.append(nil)
            }
            self.cells[i] = ch
            self.styles[i] = style
            i += 1
        }
    }

    func render(color: Bool) -> String {
        guard color else { return String(self.cells) }
        var out = ""
        var current: Style?
        for (ch, style) in zip(self.cells, self.styles) {
            if style != current {
                if current != nil { out += "\u{1B}[0m" }
                if let style { out += "\u{1B}[\(style.ansi)m" }
                current = style
            }
            out.append(ch)
        }
        if current != nil { out += "\u{1B}[0m" }
        return out
    }
}
