import Foundation
import Testing

/// `sipctl trace ladder --format html` in a real browser (headless Chromium): a `#m3` link selects message 3,
/// a click and the arrow keys select too, and the dark page draws what it should (read from a screenshot).
@Suite("Ladder HTML in Chromium")
struct LadderHTMLTests {
    static let capture = TestEnvironment.packageRoot
        .appendingPathComponent("Tests/SIPProxyTests/Fixtures/Analysis/proxy-recorder-udp.pcap").path

    /// The page of the capture's call, written to `directory/ladder.html`; its `file://` URL.
    static func page(theme: String, in directory: URL, extra script: String? = nil) async throws -> URL {
        let run = try await ToolRunner.sipctl(
            ["trace", "ladder", Self.capture, "--format", "html", "--theme", theme], in: directory
        )
        guard run.succeeded, run.stdout.contains("</svg>") else {
            throw TestSupportError("sipctl drew no page\n\(run)")
        }
        var html = run.stdout
        if let script {
            html = html.replacingOccurrences(of: "</body>", with: "<script>\(script)</script>\n</body>")
        }
        let file = directory.appendingPathComponent("ladder.html")
        try html.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    /// The text between `start` and the next `end`.
    static func text(in dom: String, after start: String, until end: String) -> String? {
        guard let from = dom.range(of: start), let to = dom.range(of: end, range: from.upperBound..<dom.endIndex)
        else { return nil }
        return String(dom[from.upperBound..<to.lowerBound])
    }

    /// Fails (not skips) without Chromium: CI installs it (scripts/setup.sh).
    static func requireChromium() -> Bool {
        guard Chromium.binary != nil else {
            Issue.record("chromium is not installed (apt-get install chromium; scripts/setup.sh installs it)")
            return false
        }
        return true
    }

    @Test("#m3 selects message 3 on load: its row is marked and the panel shows its text")
    func fragment() async throws {
        guard Self.requireChromium() else { return }
        let dir = try TestEnvironment.makeTemporaryDirectory("ladder-html-fragment")
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = try await Self.page(theme: "light", in: dir)
        let run = try await Chromium.run(
            ["--dump-dom", "--virtual-time-budget=2000", page.absoluteString + "#m3"], in: dir
        )
        #expect(run.succeeded, "\(run)")
        let dom = run.stdout
        #expect(dom.contains("<g class=\"row selected\" id=\"m3\">"), "\(run)")
        #expect(dom.components(separatedBy: "row selected").count == 2, "one row is selected")
        let panel = try #require(Self.text(in: dom, after: "<pre id=\"panel\">", until: "</pre>"), "\(run)")
        let message = try #require(Self.text(in: dom, after: "id=\"m3\"><title>", until: "</title>"))
        #expect(panel == message)
        // Message 3 is the INVITE the proxy forwards to bob (Max-Forwards one less than alice's).
        #expect(panel.hasPrefix("INVITE sip:bob@127.0.0.92:15180;transport=UDP SIP/2.0\n"), "\(panel)")
        #expect(panel.contains("Max-Forwards: 69"), "\(panel)")
    }

    @Test("a click on a row's band selects it, the arrow keys step, the fragment follows")
    func clickAndKeys() async throws {
        guard Self.requireChromium() else { return }
        let dir = try TestEnvironment.makeTemporaryDirectory("ladder-html-keys")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Registered after the page's own handler, so it runs once the page is ready: a click where the browser
        // finds row 5's band (left of its time), then down, down, up and right: row 7.
        let script = """
            document.addEventListener("DOMContentLoaded", function () {
              var band = document.querySelector("#m5 rect.hit").getBoundingClientRect();
              var target = document.elementFromPoint(band.left + 4, band.top + band.height / 2);
              target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
              document.body.setAttribute("data-clicked", location.hash);
              ["ArrowDown", "ArrowDown", "ArrowUp", "ArrowRight"].forEach(function (key) {
                document.dispatchEvent(new KeyboardEvent("keydown", { key: key, bubbles: true }));
              });
              document.body.setAttribute("data-stepped", location.hash);
            });
            """
        let page = try await Self.page(theme: "light", in: dir, extra: script)
        let run = try await Chromium.run(
            ["--dump-dom", "--window-size=1400,900", "--virtual-time-budget=2000", page.absoluteString], in: dir
        )
        #expect(run.succeeded, "\(run)")
        let dom = run.stdout
        #expect(dom.contains("data-clicked=\"#m5\""), "\(run)")
        #expect(dom.contains("data-stepped=\"#m7\""), "\(run)")
        #expect(dom.contains("<g class=\"row selected\" id=\"m7\">"), "\(run)")
        #expect(dom.components(separatedBy: "row selected").count == 2, "one row is selected")
        let panel = try #require(Self.text(in: dom, after: "<pre id=\"panel\">", until: "</pre>"), "\(run)")
        #expect(panel == Self.text(in: dom, after: "id=\"m7\"><title>", until: "</title>"))
    }

    @Test("the dark page's screenshot: a dark background, light text, the selected row's band, a full panel")
    func screenshot() async throws {
        guard Self.requireChromium() else { return }
        let dir = try TestEnvironment.makeTemporaryDirectory("ladder-html-shot")
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = try await Self.page(theme: "dark", in: dir)
        let shot = dir.appendingPathComponent("shot.png")
        let run = try await Chromium.run([
            "--screenshot=\(shot.path)", "--window-size=1400,900", "--hide-scrollbars", "--virtual-time-budget=2000",
            page.absoluteString + "#m3",
        ], in: dir)
        #expect(run.succeeded, "\(run)")
        let image = try await PNGImage.read(shot, scratch: dir)
        #expect(image.width == 1400 && image.height == 900)
        // The panel is the right 34% (from x = 924); the ladder is left of it.
        let ladder = (x: 0..<900, y: 0..<900)
        let panel = (x: 940..<1400, y: 0..<900)
        let ladderArea = ladder.x.count * ladder.y.count
        let panelArea = panel.x.count * panel.y.count
        func count(_ area: (x: Range<Int>, y: Range<Int>), _ test: (UInt8, UInt8, UInt8) -> Bool) -> Int {
            image.count(x: area.x, y: area.y, test)
        }
        let background = count(ladder) { $0 == 0x1E && $1 == 0x1E && $2 == 0x1E }
        #expect(background > ladderArea * 3 / 4, "#1e1e1e: \(background) of \(ladderArea) pixels")
        let panelBackground = count(panel) { $0 == 0x25 && $1 == 0x25 && $2 == 0x26 }
        #expect(panelBackground > panelArea * 3 / 4, "#252526: \(panelBackground) of \(panelArea) pixels")
        // Light (#eeeeee) text: names and titles in the ladder, the selected message in the panel (its dozen
        // lines give several thousand pixels; the hint shown before a selection, a few hundred).
        let light: (UInt8, UInt8, UInt8) -> Bool = { min($0, $1, $2) >= 0xC0 }
        let ladderText = count(ladder, light)
        let panelText = count(panel, light)
        #expect(ladderText > 1000, "\(ladderText) light pixels in the ladder")
        #expect(panelText > 5000, "\(panelText) light pixels in the panel")
        // Requests in the dark theme's blue (#6ea8ff).
        let blue = count(ladder) { $0 == 0x6E && $1 == 0xA8 && $2 == 0xFF }
        #expect(blue > 500, "\(blue) blue pixels")
        // The selected row's band: the text colour at 14% over the background, about #3b3b3b.
        let band = count(ladder) { $0 == $1 && $1 == $2 && (0x34...0x42).contains($0) }
        #expect(band > 20000, "\(band) pixels of the selected row's band")
    }
}
