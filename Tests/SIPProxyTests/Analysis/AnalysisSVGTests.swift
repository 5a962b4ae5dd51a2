// SVG and HTML ladders: well-formed XML, one arrow per message, escaping.

import Foundation
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

@testable import SIPProxy

/// Counts elements and `msg`-class arrows while checking that the document parses.
final class SVGCounter: NSObject, XMLParserDelegate {
    var arrows = 0
    var titles = 0

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        let classes = (attributes["class"] ?? "").split(separator: " ")
        if (name == "line" || name == "path") && classes.contains("msg") { self.arrows += 1 }
        if name == "title" { self.titles += 1 }
    }
}

@Suite("Analysis: SVG and HTML ladders")
struct AnalysisSVGTests {
    static func parse(_ xml: String) -> (ok: Bool, counter: SVGCounter) {
        let parser = XMLParser(data: Data(xml.utf8))
        let counter = SVGCounter()
        parser.delegate = counter
        return (parser.parse(), counter)
    }

    @Test("SVG is well-formed XML with exactly one arrow per message", arguments: AnalysisFixtures.captures)
    func wellFormed(_ name: String) throws {
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path(name)])
        let (ok, counter) = Self.parse(LadderSVGRenderer().svg(ladder))
        #expect(ok)
        #expect(counter.arrows == ladder.arrows.count)
        #expect(counter.titles == 0)
    }

    @Test("HTML embeds the SVG with each message's text as a tooltip")
    func html() throws {
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path("tcp-split-coalesced.pcap")])
        let html = LadderSVGRenderer().html(ladder)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        let start = try #require(html.range(of: "<svg"))
        let end = try #require(html.range(of: "</svg>"))
        let (ok, counter) = Self.parse(String(html[start.lowerBound..<end.upperBound]))
        #expect(ok)
        #expect(counter.arrows == 7)
        #expect(counter.titles == 7)
        // The display name's quotes are escaped inside the tooltip.
        #expect(html.contains("From: &quot;Alice&quot; &lt;sip:alice@10.0.0.1&gt;;tag=a1"))
    }

    @Test("text has a halo in the background colour, coloured labels too, so a lifeline does not strike it through")
    func halo() throws {
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path("tcp-split-coalesced.pcap")])
        for theme in LadderSVGRenderer.Theme.allCases {
            let svg = LadderSVGRenderer(theme: theme).svg(ladder)
            #expect(svg.contains("text, text.req, text.prov, text.ok, text.fail, text.rtp { paint-order: stroke; "
                + "stroke: \(theme.background); stroke-width: 4px; stroke-linejoin: round; }"), "\(theme)")
            #expect(!svg.contains("stroke: none"), "\(theme)")
        }
    }

    @Test("a label longer than its arrow (8.4 px a character) is cut with … to fit it")
    func labelsFitArrows() throws {
        let long = String(repeating: "x", count: 40)
        #expect(LadderSVGRenderer.fit("INVITE (SDP)", length: 220) == "INVITE (SDP)")
        #expect(LadderSVGRenderer.fit(String(long.prefix(26)), length: 220) == String(long.prefix(26)))
        #expect(LadderSVGRenderer.fit(long, length: 220) == String(long.prefix(25)) + "…")
        #expect(LadderSVGRenderer.fit(long + long, length: 440).count == 52)
        #expect(LadderSVGRenderer.fit(long, length: 3) == "…")
        var ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path("tcp-split-coalesced.pcap")])
        #expect(ladder.arrows[4].fullLabel == "ACK")
        ladder.arrows[4].label = "MESSAGE " + long
        // Columns are 220 apart on a slide (26 characters), 170 on the page (20); the page's panel shows the
        // whole message.
        let svg = LadderSVGRenderer().svg(ladder)
        #expect(svg.contains(">MESSAGE \(long.prefix(17))…</text>"))
        #expect(!svg.contains(long))
        #expect(LadderSVGRenderer().html(ladder).contains(">MESSAGE \(long.prefix(11))…</text>"))
    }

    @Test("SVG and HTML print times to the millisecond; the text ladder keeps microseconds")
    func milliseconds() throws {
        let time: CaptureTime = 1_700_000_000_123_956_000
        #expect(CaptureClock.timeOfDayMillis(time) == "22:13:20.123")
        #expect(CaptureClock.timeOfDay(time) == "22:13:20.123956")
        #expect(CaptureClock.timeOfDayMillis(1_700_000_000_999_999_999) == "22:13:20.999", "truncated, not rounded")
        #expect(CaptureClock.timeOfDayMillis(0) == "00:00:00.000")
        #expect(CaptureClock.deltaMillis(1_500_000) == "+0.001")
        #expect(CaptureClock.deltaMillis(61_234_999_999) == "+61.234")
        #expect(CaptureClock.deltaMillis(-5) == "+0.000")
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path("tcp-split-coalesced.pcap")])
        for picture in [LadderSVGRenderer().svg(ladder), LadderSVGRenderer().html(ladder)] {
            #expect(picture.contains(">22:13:21.501 +1.481</text>"))
            #expect(!picture.contains("22:13:21.501000"))
        }
        #expect(LadderTextRenderer().render(ladder).contains("22:13:21.501000 +1.481000"))
    }

    @Test("the HTML page numbers its rows for #m links and has a panel and a script; nothing is fetched")
    func page() throws {
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path("tcp-split-coalesced.pcap")])
        let html = LadderSVGRenderer(theme: .dark).html(ladder)
        for n in 1...7 {
            #expect(html.contains("<g class=\"row\" id=\"m\(n)\"><title>"), "row \(n)")
        }
        #expect(!html.contains("id=\"m0\"") && !html.contains("id=\"m8\""))
        #expect(html.contains("<pre id=\"panel\">"))
        #expect(html.contains("background: #252526"), "the panel takes the theme")
        for needle in [
            "addEventListener(\"click\"", "\"keydown\"", "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown",
            "location.hash", "history.replaceState", "\"hashchange\"", "querySelector(\"title\").textContent",
        ] {
            #expect(html.contains(needle), "\(needle)")
        }
        // Works offline: no file, style sheet or script to fetch.
        for needle in [" src=", "<link", "@import", "url(http", "href="] {
            #expect(!html.contains(needle), "\(needle)")
        }
        // Drawn 1.3 times larger, with 170-pixel columns.
        #expect(html.contains("width=\"650\" height=") && html.contains("viewBox=\"0 0 500 "))
        #expect(LadderSVGRenderer().svg(ladder).contains("width=\"600\" height="))
    }

    @Test("message text cannot end the page's script or open a comment in it: it is only ever escaped")
    func hostileText() throws {
        var ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path("tcp-split-coalesced.pcap")])
        ladder.arrows[2].text = "MESSAGE sip:x SIP/2.0\r\nSubject: </script><script>alert(1)</SCRIPT><!-- </title></svg>"
            + "</pre>\r\n\r\n"
        ladder.arrows[2].label = "</script><!--"
        ladder.callIDs = ["</script><script>alert(2)</script>"]
        let html = LadderSVGRenderer().html(ladder)
        #expect(html.components(separatedBy: "</script>").count == 2, "only the page's own script ends")
        #expect(html.components(separatedBy: "<script>").count == 2)
        #expect(!html.lowercased().contains("</script><") && !html.contains("<!--"))
        #expect(html.components(separatedBy: "</svg>").count == 2 && html.components(separatedBy: "</pre>").count == 2)
        #expect(html.contains("Subject: &lt;/script&gt;&lt;script&gt;alert(1)&lt;/SCRIPT&gt;&lt;!-- &lt;/title&gt;"
            + "&lt;/svg&gt;&lt;/pre&gt;"))
        let start = try #require(html.range(of: "<svg"))
        let end = try #require(html.range(of: "</svg>"))
        let (ok, counter) = Self.parse(String(html[start.lowerBound..<end.upperBound]))
        #expect(ok)
        #expect(counter.titles == 7)
    }

    @Test("text is escaped for XML")
    func escaping() {
        #expect(LadderSVGRenderer.escape("a&b<c>\"d\" 'e'\u{1}") == "a&amp;b&lt;c&gt;&quot;d&quot; &apos;e&apos;\u{FFFD}")
    }

    @Test("every dialog of the shared real-world captures draws as well-formed SVG and as text")
    func sharedCaptures() throws {
        guard let folder = AnalysisSharedCaptureTests.folder else { return }
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
        #expect(files.count == 10)
        for file in files {
            let path = folder.appendingPathComponent(file).path
            var byCall: [String: [CapturedMessage]] = [:]
            try TraceTimeline(paths: [path]).forEachMessage { byCall[$0.info.callID, default: []].append($0) }
            for (callID, messages) in byCall {
                let ladder = Ladder(callIDs: [callID], messages: messages)
                let text = LadderTextRenderer().render(ladder)
                #expect(text.split(separator: "\n").count >= 3 + 2 * messages.count, "\(file) \(callID)")
                let (ok, counter) = Self.parse(LadderSVGRenderer().html(ladder).split(separator: "\n")
                    .drop { !$0.hasPrefix("<svg") }.prefix { !$0.hasPrefix("</body>") }.joined(separator: "\n"))
                #expect(ok, "\(file) \(callID)")
                #expect(counter.arrows == messages.count, "\(file) \(callID)")
            }
        }
    }
}
