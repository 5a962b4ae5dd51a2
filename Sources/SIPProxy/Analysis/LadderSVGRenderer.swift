// LadderSVGRenderer: a ladder as an SVG picture (for slides) or an HTML page with tooltips.

/// Draws a ladder as SVG: one `<line class="msg ...">` per message, 14px monospace labels, requests in blue,
/// provisional responses in amber, 2xx in green, failures in red, retransmissions dashed. The HTML form embeds
/// the SVG and gives every message row a `<title>` with the full message text, shown as a tooltip.
public struct LadderSVGRenderer: Sendable {
    static let marginLeft = 230
    static let columnWidth = 220
    static let top = 70
    static let rowHeight = 34
    static let mediaHeight = 16

    /// Colours for a light or a dark slide. The picture has an opaque background of its own, so its text stays
    /// readable whatever the slide or page behind it (a transparent SVG on a dark slide lost its title and names).
    public enum Theme: String, Sendable, CaseIterable {
        case light, dark

        var background: String { self == .light ? "#ffffff" : "#1e1e1e" }
        var text: String { self == .light ? "#222222" : "#eeeeee" }
        var dim: String { self == .light ? "#666666" : "#aaaaaa" }
        var lifeline: String { self == .light ? "#999999" : "#777777" }
        /// Requests, provisional, 2xx, failures.
        var kinds: (req: String, prov: String, ok: String, fail: String) {
            self == .light ? ("#1f5fbf", "#b07800", "#1e8a3c", "#c0392b") : ("#6ea8ff", "#f0b429", "#4cc26a", "#ff6b5b")
        }
    }

    public var theme: Theme

    public init(theme: Theme = .light) {
        self.theme = theme
    }

    public func svg(_ ladder: Ladder) -> String { self.draw(ladder, tooltips: false) }

    public func html(_ ladder: Ladder) -> String {
        let title = Self.escape("SIP ladder: " + ladder.callIDs.joined(separator: ", "))
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(title)</title>
            <style>body { font-family: monospace; margin: 1em; background: \(self.theme.background); \
            color: \(self.theme.text); } svg g.row:hover text { font-weight: bold; }</style>
            </head>
            <body>
            <h1 style="font-size: 16px">\(title)</h1>
            \(self.draw(ladder, tooltips: true))</body>
            </html>

            """
    }

    private func draw(_ ladder: Ladder, tooltips: Bool) -> String {
        let count = max(ladder.columns.count, 1)
        let width = Self.marginLeft + count * Self.columnWidth
        var rows: [(y: Int, arrow: LadderArrow)] = []
        var y = Self.top + 20
        for arrow in ladder.arrows {
            y += Self.rowHeight
            rows.append((y, arrow))
            y += arrow.media.count * Self.mediaHeight
        }
        let height = y + 30
        func x(_ column: Int) -> Int { Self.marginLeft + Self.columnWidth / 2 + column * Self.columnWidth }
        let t = self.theme
        let k = t.kinds
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" \
            viewBox="0 0 \(width) \(height)" font-family="monospace" font-size="14">
            <style>
            text { fill: \(t.text); } .endpoint { font-weight: bold; } .time, .media { fill: \(t.dim); font-size: 12px; }
            line.life { stroke: \(t.lifeline); stroke-width: 1; stroke-dasharray: 4 3; }
            .req { stroke: \(k.req); fill: \(k.req); } .prov { stroke: \(k.prov); fill: \(k.prov); }
            .ok { stroke: \(k.ok); fill: \(k.ok); } .fail { stroke: \(k.fail); fill: \(k.fail); }
            line.msg { stroke-width: 2; } line.retrans { stroke-dasharray: 6 4; }
            text.req, text.prov, text.ok, text.fail { stroke: none; }
            </style>
            <defs>

            """
        for kind in ["req", "prov", "ok", "fail"] {
            out += "<marker id=\"head-\(kind)\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" "
                + "markerHeight=\"8\" orient=\"auto-start-reverse\"><path class=\"\(kind)\" d=\"M0,0 L10,5 L0,10 z\"/>"
                + "</marker>\n"
        }
        out += "</defs>\n"
        out += "<rect class=\"background\" x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"\(t.background)\"/>\n"
        let heading = ladder.titles.isEmpty ? ladder.callIDs.joined(separator: ", ") : ladder.titles.joined(separator: "; ")
        out += "<text x=\"10\" y=\"24\" class=\"endpoint\">\(Self.escape(heading))</text>\n"
        if !ladder.titles.isEmpty {
            out += "<text x=\"10\" y=\"40\" class=\"time\">Call-ID: \(Self.escape(ladder.callIDs.joined(separator: ", ")))</text>\n"
        }
        let addressed = !ladder.columnAddresses.isEmpty
        for (i, name) in ladder.columns.enumerated() {
            // With learned names the name sits above its address in small type; the lifeline starts below both.
            let nameY = addressed ? Self.top - 12 : Self.top
            out += "<text class=\"endpoint\" x=\"\(x(i))\" y=\"\(nameY)\" text-anchor=\"middle\">"
                + "\(Self.escape(name))</text>\n"
            if addressed, i < ladder.columnAddresses.count {
                out += "<text class=\"time\" x=\"\(x(i))\" y=\"\(Self.top + 2)\" text-anchor=\"middle\">"
                    + "\(Self.escape(ladder.columnAddresses[i]))</text>\n"
            }
            out += "<line class=\"life\" x1=\"\(x(i))\" y1=\"\(Self.top + 8)\" x2=\"\(x(i))\" y2=\"\(height - 10)\"/>\n"
        }
        for (rowY, arrow) in rows {
            let kind = Self.kind(arrow)
            let x1 = x(arrow.from)
            let x2 = arrow.from == arrow.to ? x1 + Self.columnWidth / 3 : x(arrow.to)
            out += "<g class=\"row\">"
            if tooltips { out += "<title>\(Self.escape(arrow.text))</title>" }
            out += "\n<text class=\"time\" x=\"10\" y=\"\(rowY)\">\(CaptureClock.timeOfDay(arrow.time)) "
                + "\(CaptureClock.delta(arrow.delta))</text>\n"
            out += "<text class=\"\(kind)\" x=\"\((x1 + x2) / 2)\" y=\"\(rowY - 6)\" text-anchor=\"middle\">"
                + "\(Self.escape(arrow.fullLabel))</text>\n"
            out += "<line class=\"msg \(kind)\(arrow.isRetransmission ? " retrans" : "")\" x1=\"\(x1)\" y1=\"\(rowY)\" "
                + "x2=\"\(x2)\" y2=\"\(rowY)\" marker-end=\"url(#head-\(kind))\"/>\n"
            for (i, media) in arrow.media.enumerated() {
                out += "<text class=\"media\" x=\"\((x1 + x2) / 2)\" y=\"\(rowY + 14 + i * Self.mediaHeight)\" "
                    + "text-anchor=\"middle\">\(Self.escape(media))</text>\n"
            }
            out += "</g>\n"
        }
        return out + "</svg>\n"
    }

    static func kind(_ arrow: LadderArrow) -> String {
        if arrow.isRequest { return "req" }
        switch arrow.statusCode {
        case 100..<200: return "prov"
        case 200..<300: return "ok"
        default: return "fail"
        }
    }

    /// XML text and attribute escaping; control characters other than TAB/LF/CR are not allowed in XML 1.0.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar == "\u{FFFE}" || scalar == "\u{FFFF}" {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
