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
/// between their arrow's ends are cut with `…` (`~` in ASCII). `raw` adds each message's text below its arrow,
/// wrapped (not cut) to the width: the end of a Via (`rport=…`, `received=…`) is often what a lesson is about.
public struct LadderTextRenderer: Sendable {
    /// What the left margin shows: the time of day, the time since the previous message, both, or nothing (a
    /// narrow terminal gives the margin's columns to the labels).
    public enum TimeColumns: String, Sendable, CaseIterable {
        case abs, delta, both, none

        /// Where the time and the delta start, and the margin's width.
        var layout: (time: Int?, delta: Int?, margin: Int) {
            switch self {
            case .both: return (0, 16, 27)
            case .abs: return (0, nil, 16)
            case .delta: return (nil, 0, 11)
            case .none: return (nil, nil, 1)
            }
        }
    }

    public var width: Int
    public var ascii: Bool
    public var color: Bool
    public var raw: Bool
    public var time: TimeColumns

    static let minSpacing = 12
    static let maxSpacing = 40

    public init(
        width: Int = 100, ascii: Bool = false, color: Bool = false, raw: Bool = false, time: TimeColumns = .both
    ) {
        self.width = width
        self.ascii = ascii
        self.color = color
        self.raw = raw
        self.time = time
    }

    var margin: Int { self.time.layout.margin }

    private var glyphs: (life: Character, line: Character, left: Character, right: Character, cut: Character,
        startRight: Character, startLeft: Character)
    {
        self.ascii ? ("|", "-", "<", ">", "~", "|", "|") : ("│", "─", "←", "→", "…", "├", "┤")
    }

    /// The narrowest width a ladder of `columns` columns fits in (time, delta and the closest lifelines).
    public static func minimumWidth(columns: Int, time: TimeColumns = .both) -> Int {
        time.layout.margin + max(columns, 2) * Self.minSpacing
    }

    /// The spacing between columns for `count` columns.
    func spacing(_ count: Int) -> Int {
        let available = max(0, self.width - self.margin)
        return min(Self.maxSpacing, max(Self.minSpacing, available / max(count, 1)))
    }

    /// Where the lifelines of `count` columns are.
    private struct Geometry {
        var spacing: Int
        var centers: [Int]
        var lineWidth: Int
    }

    private func geometry(_ ladder: Ladder) -> Geometry {
        let count = max(ladder.columns.count, 1)
        let spacing = self.spacing(count)
        return Geometry(
            spacing: spacing, centers: (0..<count).map { self.margin + spacing / 2 + $0 * spacing },
            lineWidth: self.margin + count * spacing
        )
    }

    public func render(_ ladder: Ladder) -> String {
        var out: [String] = []
        for title in ladder.titles { out.append(self.paint(TerminalText.escaped(title), .bold)) }
        for callID in ladder.callIDs {
            out.append(self.paint("Call-ID: \(TerminalText.escaped(callID))", ladder.titles.isEmpty ? .bold : .dim))
        }
        out += self.headerLines(ladder)
        out += self.arrowLines(ladder, ladder.arrows.indices)
        out += self.footerLines(ladder)
        return out.joined(separator: "\n") + "\n"
    }

    /// The column names (and addresses under them) and a first stretch of lifelines.
    public func headerLines(_ ladder: Ladder) -> [String] {
        let g = self.geometry(ladder)
        var out: [String] = []
        var header = TextLine(width: g.lineWidth)
        let layout = self.time.layout
        if let at = layout.time { header.write("time", at: at) }
        if let at = layout.delta { header.write("delta", at: at) }
        for (i, name) in ladder.columns.enumerated() {
            let text = Self.cutMiddle(TerminalText.escaped(name), g.spacing - 1, self.glyphs.cut)
            header.write(text, at: max(self.margin, g.centers[i] - text.count / 2), style: .bold)
        }
        out.append(header.render(color: self.color))
        if !ladder.columnAddresses.isEmpty {
            // Under each name, its address (shortened from the left: the port and the host's end tell most).
            var under = TextLine(width: g.lineWidth)
            for (i, address) in ladder.columnAddresses.enumerated() where i < g.centers.count {
                let text = Self.cutLeft(TerminalText.escaped(address), g.spacing - 1, self.glyphs.cut)
                under.write(text, at: max(self.margin, g.centers[i] - text.count / 2), style: .dim)
            }
            out.append(under.render(color: self.color))
        }
        out.append(self.lifelines(g.centers, g.lineWidth).render(color: self.color))
        return out.map(Self.trimTrailing)
    }

    /// The last stretch of lifelines.
    public func footerLines(_ ladder: Ladder) -> [String] {
        let g = self.geometry(ladder)
        return [Self.trimTrailing(self.lifelines(g.centers, g.lineWidth).render(color: self.color))]
    }

    /// The lines of some of the ladder's arrows (label, arrow, SDP media, and with `raw` the message text); a live
    /// view prints the new arrows under the ones it printed before.
    public func arrowLines(_ ladder: Ladder, _ range: Range<Int>) -> [String] {
        let g = self.geometry(ladder)
        let (centers, lineWidth, spacing) = (g.centers, g.lineWidth, g.spacing)
        let layout = self.time.layout
        var out: [String] = []
        for arrow in ladder.arrows[range] {
            let style = Self.style(arrow)
            let low = centers[min(arrow.from, arrow.to)]
            let high = arrow.from == arrow.to ? low + spacing / 2 : centers[max(arrow.from, arrow.to)]
            let room = max(1, high - low - 3)
            var label = self.lifelines(centers, lineWidth)
            label.write(Self.cut(TerminalText.escaped(arrow.fullLabel), room, self.glyphs.cut), at: low + 2, style: style)
            out.append(label.render(color: self.color))

            var line = self.lifelines(centers, lineWidth)
            if let at = layout.time { line.write(CaptureClock.timeOfDay(arrow.time), at: at) }
            if let at = layout.delta { line.write(CaptureClock.delta(arrow.delta), at: at) }
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
                // Long lines continue on the next line after a `↪` mark, at least 20 characters at a time.
                let indent = String(repeating: " ", count: self.margin + 2)
                let room = max(20, self.width - indent.count)
                for text in arrow.text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
                    for piece in Self.fold(TerminalText.escaped(String(text)), room, mark: self.ascii ? ">" : "↪") {
                        out.append(indent + piece)
                    }
                }
            }
        }
        return out.map(Self.trimTrailing)
    }

    /// `├──────→` or `←──────┤`, `length` + 1 cells from the left column to the right one.
    private func arrowText(_ arrow: LadderArrow, length: Int) -> String {
        let g = self.glyphs
        // RTP rows are drawn double (`═══>`), apart from the SIP that set them up.
        let body = String(repeating: arrow.isMedia ? (self.ascii ? "=" : "═") : g.line, count: max(0, length - 1))
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
        if arrow.isRetransmission || arrow.isMedia { return .dim }
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

    /// `text` in pieces of at most `limit` characters; every piece after the first starts with `mark` and a space.
    static func fold(_ text: String, _ limit: Int, mark: Character) -> [String] {
        guard text.count > limit else { return [text] }
        var pieces: [String] = []
        var rest = Substring(text)
        var first = true
        while !rest.isEmpty {
            let room = first ? limit : limit - 2
            let piece = rest.prefix(room)
            pieces.append(first ? String(piece) : "\(mark) " + piece)
            rest = rest.dropFirst(piece.count)
            first = false
        }
        return pieces
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
