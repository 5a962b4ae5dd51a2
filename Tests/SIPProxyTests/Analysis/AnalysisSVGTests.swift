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
