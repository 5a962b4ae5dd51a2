// LadderTextRenderer: a ladder as terminal text (UTF-8 box drawing or ASCII, optional ANSI color).

/// Draws a ladder as text lines that fit a width:
///
///     time            delta      10.0.0.1:5060        10.0.0.2:5060
///                                      │                     │
///                                      │ INVITE (SDP)        │
///     12:00:00.000000 +0.000000        ├────────────────────→│
///                                      │  audio 4000 PCMU/8… │
///
/// Columns get an equal share of the width (between `minSpacing` and `maxSpacing`); labels that do not fit
/// between their arrow's ends are cut with `…` (`~` in ASCII). `raw` adds each message's text below its arrow.
public struct LadderTextRenderer: Sendable {
    public var width: Int
    public var ascii: Bool
    public var color: Bool
    public var raw: Bool

    static let margin = 27
    static let minSpacing = 12
    static let maxSpacing = 40

    public init(width: Int = 100, ascii: Bool = false, color: Bool = false, raw: Bool = false) {
        self.width = width
        self.ascii = ascii
        self.color = color
        self.raw = raw
    }

    private var glyphs: (life: Character, line: Character, left: Character, right: Character, cut: Character,
        startRight: Character, startLeft: Character)
    {
        self.ascii ? ("|", "-", "<", ">", "~", "|", "|") : ("│", "─", "←", "→", "…", "├", "┤")
    }

    /// The narrowest width a ladder of `columns` columns fits in (time, delta and the closest lifelines).
    public static func minimumWidth(columns: Int) -> Int {
        Self.margin + max(columns, 2) * Self.minSpacing
    }

    /// The spacing between columns for `count` columns.
    func spacing(_ count: Int) -> Int {
        let available = max(0, self.width - Self.margin)
        return min(Self.maxSpacing, max(Self.minSpacing, available / max(count, 1)))
    }

    public func render(_ ladder: Ladder) -> String {
        let count = max(ladder.columns.count, 1)
        let spacing = self.spacing(count)
        let centers = (0..<count).map { Self.margin + spacing / 2 + $0 * spacing }
        let lineWidth = Self.margin + count * spacing
        var out: [String] = []
        for title in ladder.titles { out.append(self.paint(TerminalText.escaped(title), .bold)) }
        for callID in ladder.callIDs {
            out.append(self.paint("Call-ID: \(TerminalText.escaped(callID))", ladder.titles.isEmpty ? .bold : .dim))
        }

        var header = TextLine(width: lineWidth)
        header.write("time", at: 0)
        header.write("delta", at: 16)
        for (i, name) in ladder.columns.enumerated() {
            let text = Self.cutMiddle(TerminalText.escaped(name), spacing - 1, self.glyphs.cut)
            header.write(text, at: max(Self.margin, centers[i] - text.count / 2), style: .bold)
        }
        out.append(header.render(color: self.color))
        if !ladder.columnAddresses.isEmpty {
            // Under each name, its address (shortened from the left: the port and the host's end tell most).
            var under = TextLine(width: lineWidth)
            for (i, address) in ladder.columnAddresses.enumerated() where i < centers.count {
                let text = Self.cutLeft(TerminalText.escaped(address), spacing - 1, self.glyphs.cut)
                under.write(text, at: max(Self.margin, centers[i] - text.count / 2), style: .dim)
            }
            out.append(under.render(color: self.color))
        }
        out.append(self.lifelines(centers, lineWidth).render(color: self.color))

        for arrow in ladder.arrows {
            let style = Self.style(arrow)
            let low = centers[min(arrow.from, arrow.to)]
            let high = arrow.from == arrow.to ? low + spacing / 2 : centers[max(arrow.from, arrow.to)]
            let room = max(1, high - low - 3)
            var label = self.lifelines(centers, lineWidth)
            label.write(Self.cut(TerminalText.escaped(arrow.fullLabel), room, self.glyphs.cut), at: low + 2, style: style)
            out.append(label.render(color: self.color))

            var line = self.lifelines(centers, lineWidth)
            line.write(CaptureClock.timeOfDay(arrow.time), at: 0)
            line.write(CaptureClock.delta(arrow.delta), at: 16)
            line.write(self.arrowText(arrow, length: high - low), at: low, style: style)
            out.append(line.render(color: self.color))

            for media in arrow.media {
                for piece in Self.wrap(TerminalText.escaped(media), room) {
                    var row = self.lifelines(centers, lineWidth)
                    row.write(Self.cut(piece, room, self.glyphs.cut), at: low + 2, style: .dim)
                    out.append(row.render(color: self.color))
                }
            }
            if self.raw {
                // The message's own text, from the wire: its control characters (ESC, C1) are shown as escapes.
                for text in arrow.text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
                    let line = String(repeating: " ", count: Self.margin) + "  " + TerminalText.escaped(String(text))
                    out.append(Self.cut(line, max(self.width, Self.margin + 20), self.glyphs.cut))
                }
            }
        }
        out.append(self.lifelines(centers, lineWidth).render(color: self.color))
        return out.map { Self.trimTrailing($0) }.joined(separator: "\n") + "\n"
    }

    /// `├──────→` or `←──────┤`, `length` + 1 cells from the left column to the right one.
    private func arrowText(_ arrow: LadderArrow, length: Int) -> String {
        let g = self.glyphs
        let body = String(repeating: g.line, count: max(0, length - 1))
        if arrow.from == arrow.to { return String(g.startRight) + body + (self.ascii ? "@" : "↺") }
        return arrow.from < arrow.to
            ? String(g.startRight) + body + String(g.right)
            : String(g.left) + body + String(g.startLeft)
    }

    /// `text` cut to `width` from the left: `…0.2.11:5060`.
    static func cutLeft(_ text: String, _ width: Int, _ mark: Character) -> String {
        guard text.count > width, width > 1 else { return text }
        return String(mark) + String(text.suffix(width - 1))
    }

    private func lifelines(_ centers: [Int], _ width: Int) -> TextLine {
        var line = TextLine(width: width)
        for center in centers { line.write(String(self.glyphs.life), at: center) }
        return line
    }

    private func paint(_ text: String, _ style: TextLine.Style) -> String {
        var line = TextLine(width: text.count)
        line.write(text, at: 0, style: style)
        return line.render(color: self.color)
    }

    static func style(_ arrow: LadderArrow) -> TextLine.Style {
        if arrow.isRetransmission { return .dim }
        if arrow.isRequest { return .request }
        switch arrow.statusCode {
        case 100..<200: return .provisional
        case 200..<300: return .success
        default: return .failure
        }
    }

    /// `text` in at most `limit` characters, the last one `cut` when it was longer.
    static func cut(_ text: String, _ limit: Int, _ cut: Character) -> String {
        guard text.count > limit else { return text }
        guard limit > 1 else { return String(cut) }
        return String(text.prefix(limit - 1)) + String(cut)
    }

    /// Keeps both ends (the port of a long IPv6 endpoint is what tells columns apart).
    static func cutMiddle(_ text: String, _ limit: Int, _ cut: Character) -> String {
        guard text.count > limit else { return text }
        guard limit > 2 else { return Self.cut(text, limit, cut) }
        let tail = (limit - 1) / 2
        return String(text.prefix(limit - 1 - tail)) + String(cut) + String(text.suffix(tail))
    }

    /// Splits at spaces into lines of at most `limit` characters (a longer word gets a line of its own).
    static func wrap(_ text: String, _ limit: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in text.split(separator: " ") {
            if current.isEmpty {
                current = String(word)
            } else if current.count + 1 + word.count <= limit {
                current += " " + word
            } else {
                lines.append(current)
                current = "  " + word
            }
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    static func trimTrailing(_ line: String) -> String {
        var s = Substring(line)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
