// LadderSVGRenderer: a ladder as an SVG picture (for slides) or an HTML page to step through a call.

/// Draws a ladder as SVG: one `<line class="msg ...">` per message, 14px monospace labels, requests in blue,
/// provisional responses in amber, 2xx in green, failures in red, retransmissions dashed. Text has a halo in the
/// background colour, so a lifeline behind it does not strike it through, and a label longer than its arrow is
/// cut with `…`. The HTML form draws it larger, for a projector, and gives every message row (`id="m1"`,
/// `m2`, …) a `<title>` with the full message text: a tooltip, and what a click on the row (or the arrow keys,
/// or a `#m5` fragment) shows in the panel beside the picture.
public struct LadderSVGRenderer: Sendable {
    /// The time column: `12:00:03.123 +0.000` is 137px wide in 12px type.
    static let marginLeft = 160
    static let columnWidth = 220
    static let top = 70
    static let rowHeight = 34
    static let mediaHeight = 16
    /// The advance of a character of the 14px monospace labels (0.6 em in DejaVu Sans Mono, Liberation Mono).
    static let labelCharacterWidth = 8.4
    /// The HTML page draws the picture 1.3 times larger, 18px labels for the back of a classroom, with narrower
    /// columns, so that 3 columns still fit beside the panel in a window 1400px wide (4 or more scroll).
    static let pageScale = 1.3
    static let pageColumnWidth = 170

    /// Colours for a light or a dark slide. The picture has an opaque background of its own, so its text stays
    /// readable whatever the slide or page behind it (a transparent SVG on a dark slide lost its title and names).
    public enum Theme: String, Sendable, CaseIterable {
        case light, dark

        var background: String { self == .light ? "#ffffff" : "#1e1e1e" }
        var text: String { self == .light ? "#222222" : "#eeeeee" }
        var dim: String { self == .light ? "#666666" : "#aaaaaa" }
        var lifeline: String { self == .light ? "#999999" : "#777777" }
        /// The HTML page's message panel, set off from the picture.
        var panel: String { self == .light ? "#f3f3f3" : "#252526" }
        /// Requests, provisional, 2xx, failures.
        var kinds: (req: String, prov: String, ok: String, fail: String) {
            self == .light ? ("#1f5fbf", "#b07800", "#1e8a3c", "#c0392b") : ("#6ea8ff", "#f0b429", "#4cc26a", "#ff6b5b")
        }
    }

    public var theme: Theme

    public init(theme: Theme = .light) {
        self.theme = theme
    }

    public func svg(_ ladder: Ladder) -> String { self.draw(ladder, page: false) }

    /// The page: the SVG with its rows numbered and clickable, and a fixed panel on the right with the selected
    /// message's text. Everything is inline, so the file works offline and can be mailed or put on a USB stick.
    /// The panel and the script come before the SVG, so `</svg>` is followed by `</body>`. The script reads each
    /// message from its row's `<title>`: the capture's text is only ever in the document escaped, never in
    /// the script, so no message (`</script>`, `<!--`) can end or change it. The selected row's band is not the
    /// background colour, so its text goes without the halo there.
    public func html(_ ladder: Ladder) -> String {
        let title = Self.escape("SIP ladder: " + ladder.callIDs.joined(separator: ", "))
        let t = self.theme
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(title)</title>
            <style>
            body { font-family: monospace; font-size: 20px; margin: 1em calc(34% + 1em) 1em 1em; \
            background: \(t.background); color: \(t.text); }
            h1 { font-size: 24px; }
            #panel { position: fixed; top: 0; right: 0; bottom: 0; width: 34%; box-sizing: border-box; margin: 0; \
            padding: 1em; overflow: auto; font-size: 18px; white-space: pre-wrap; overflow-wrap: anywhere; \
            background: \(t.panel); color: \(t.text); border-left: 2px solid \(t.lifeline); }
            svg g.row { cursor: pointer; } svg g.row:hover text { font-weight: bold; }
            svg g.row.selected rect.hit { fill: \(t.text); fill-opacity: 0.14; }
            svg g.row.selected text { font-weight: bold; stroke: none; }
            </style>
            <script>
            \(Self.script)
            </script>
            </head>
            <body>
            <h1>\(title)</h1>
            <pre id="panel">Click a message, or press \u{2193}, to read it here.</pre>
            \(self.draw(ladder, page: true))</body>
            </html>

            """
    }

    /// Selects a row on a click, on the arrow keys (previous, next) and from the URL's fragment (`#m5`, so a
    /// message can be linked to); a selection shows the row's message in the panel and goes into the fragment
    /// (`replaceState`: no history entry per step, no jump).
    static let script = """
        document.addEventListener("DOMContentLoaded", function () {
          var rows = Array.prototype.slice.call(document.querySelectorAll("svg g.row"));
          var panel = document.getElementById("panel");
          var current = -1;
          function select(i) {
            if (i < 0 || i >= rows.length) return;
            if (current >= 0) rows[current].classList.remove("selected");
            current = i;
            var row = rows[i];
            row.classList.add("selected");
            panel.textContent = row.querySelector("title").textContent;
            panel.scrollTop = 0;
            row.scrollIntoView({ block: "nearest" });
            if (location.hash !== "#" + row.id) history.replaceState(null, "", "#" + row.id);
          }
          function fromHash() {
            var match = /^#m([0-9]+)$/.exec(location.hash);
            if (match) select(Number(match[1]) - 1);
          }
          rows.forEach(function (row, i) {
            row.addEventListener("click", function () { select(i); });
          });
          document.addEventListener("keydown", function (event) {
            if (event.altKey || event.ctrlKey || event.metaKey) return;
            var step = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 }[event.key];
            if (!step) return;
            event.preventDefault();
            select(current < 0 ? 0 : current + step);
          });
          window.addEventListener("hashchange", fromHash);
          fromHash();
        });
        """

    /// A label that fits between its arrow's ends (`length` pixels), cut with `…`: on a slide, text running
    /// past an arrow lies over the next lifelines and labels. The full text is in the HTML page's panel.
    static func fit(_ label: String, length: Int) -> String {
        let room = max(1, Int(Double(length) / Self.labelCharacterWidth))
        return label.count <= room ? label : String(label.prefix(room - 1)) + "\u{2026}"
    }

    /// `page`: the HTML page's SVG, drawn larger, whose rows have an id, a tooltip and a click target.
    private func draw(_ ladder: Ladder, page: Bool) -> String {
        let count = max(ladder.columns.count, 1)
        let columnWidth = page ? Self.pageColumnWidth : Self.columnWidth
        let width = Self.marginLeft + count * columnWidth
        var rows: [(y: Int, arrow: LadderArrow)] = []
        var y = Self.top + 20
        for arrow in ladder.arrows {
            y += Self.rowHeight
            rows.append((y, arrow))
            y += arrow.media.count * Self.mediaHeight
        }
        let height = y + 30
        let scale = page ? Self.pageScale : 1
        let shown = (width: Int((Double(width) * scale).rounded()), height: Int((Double(height) * scale).rounded()))
        func x(_ column: Int) -> Int { Self.marginLeft + columnWidth / 2 + column * columnWidth }
        let t = self.theme
        let k = t.kinds
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(shown.width)" height="\(shown.height)" \
            viewBox="0 0 \(width) \(height)" font-family="monospace" font-size="14">
            <style>
            text { fill: \(t.text); } .endpoint { font-weight: bold; } .time, .media { fill: \(t.dim); font-size: 12px; }
            line.life { stroke: \(t.lifeline); stroke-width: 1; stroke-dasharray: 4 3; }
            .req { stroke: \(k.req); fill: \(k.req); } .prov { stroke: \(k.prov); fill: \(k.prov); }
            .ok { stroke: \(k.ok); fill: \(k.ok); } .fail { stroke: \(k.fail); fill: \(k.fail); }
            .rtp { stroke: \(t.dim); fill: \(t.dim); }
            line.msg { stroke-width: 2; } line.retrans { stroke-dasharray: 6 4; } line.rtp { stroke-dasharray: 2 3; }
            text, text.req, text.prov, text.ok, text.fail, text.rtp { paint-order: stroke; stroke: \(t.background); \
            stroke-width: 4px; stroke-linejoin: round; }
            </style>
            <defs>

            """
        for kind in ["req", "prov", "ok", "fail", "rtp"] {
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
        for (n, (rowY, arrow)) in rows.enumerated() {
            let kind = Self.kind(arrow)
            let x1 = x(arrow.from)
            let x2 = arrow.from == arrow.to ? x1 + columnWidth / 3 : x(arrow.to)
            if page {
                // The band from this row's label to the next row's: a click anywhere on it selects the message.
                out += "<g class=\"row\" id=\"m\(n + 1)\"><title>\(Self.escape(arrow.text))</title>"
                    + "<rect class=\"hit\" x=\"0\" y=\"\(rowY - Self.rowHeight + 8)\" width=\"\(width)\" "
                    + "height=\"\(Self.rowHeight + arrow.media.count * Self.mediaHeight)\" fill=\"none\" "
                    + "pointer-events=\"all\"/>"
            } else {
                out += "<g class=\"row\">"
            }
            out += "\n<text class=\"time\" x=\"10\" y=\"\(rowY)\">\(CaptureClock.timeOfDayMillis(arrow.time)) "
                + "\(CaptureClock.deltaMillis(arrow.delta))</text>\n"
            out += "<text class=\"\(kind)\" x=\"\((x1 + x2) / 2)\" y=\"\(rowY - 6)\" text-anchor=\"middle\">"
                + "\(Self.escape(Self.fit(arrow.fullLabel, length: abs(x2 - x1))))</text>\n"
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
        // An RTP stream: a dotted row in the dim colour (sngrep's RTP lines), under the SIP that set it up.
        if arrow.isMedia { return "rtp" }
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
