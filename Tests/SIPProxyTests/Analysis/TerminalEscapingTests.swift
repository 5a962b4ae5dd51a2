// What a capture carries reaches the teacher's terminal: a header with ESC or C1 controls must not clear the
// screen, retitle the window or forge lines in `sipctl trace ladder --raw`, `trace calls` or `calls`.

import Testing

@testable import SIPProxy

@Suite("Terminal escaping of captured text")
struct TerminalEscapingTests {
    static let hostile = "bob\u{1B}]0;owned\u{07}\u{1B}[2J\u{9B}31m"

    static func arrow(text: String, label: String, media: [String] = []) -> LadderArrow {
        LadderArrow(
            time: 1_000_000_000, delta: 0, from: 0, to: 1, label: label, isRequest: true, statusCode: 0,
            hasSDP: false, isRetransmission: false, media: media, transport: .udp, callID: "c1", text: text
        )
    }

    @Test("ladder labels, column names, media lines and --raw text show control characters as escapes")
    func ladderEscapes() {
        var ladder = Ladder(callIDs: ["call\u{1B}[2J"], messages: [])
        ladder.columns = ["alice", Self.hostile]
        ladder.arrows = [
            Self.arrow(
                text: "MESSAGE sip:\(Self.hostile)@x SIP/2.0\r\nSubject: \(Self.hostile)\r\n\r\n",
                label: "MESSAGE \(Self.hostile)", media: ["audio \(Self.hostile)"]
            )
        ]
        for renderer in [LadderTextRenderer(width: 200, raw: true), LadderTextRenderer(width: 200, ascii: true, raw: true)] {
            let text = renderer.render(ladder)
            #expect(!text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B },
                    "no raw ESC, BEL or CSI reaches the terminal")
            #expect(text.contains("Subject: bob\\e]0;owned\\x07\\e[2J\\x9B31m"), "the --raw text shows them as escapes")
            #expect(text.contains("Call-ID: call\\e[2J"))
        }
        // With --color the renderer's own ANSI codes remain; only the captured text is escaped.
        let colored = LadderTextRenderer(width: 200, color: true, raw: true).render(ladder)
        #expect(!colored.contains("\u{1B}[2J") && !colored.contains("\u{1B}]0;"))
    }

    @Test("table cells from the wire are escaped and keep the columns aligned")
    func tableEscapes() {
        let table = TextTable(headers: ["from", "to"], rows: [["alice\r\nforged row", "bob"], [Self.hostile, "carol"]])
        let lines = table.render().split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4, "three rows and the final newline: the CR LF did not add a row")
        #expect(lines[1].hasPrefix("alice\\r\\nforged row"))
        #expect(!lines[2].unicodeScalars.contains { $0.value == 0x1B })
        let toColumn = lines[0].distance(from: lines[0].startIndex, to: lines[0].range(of: "to")!.lowerBound)
        #expect(lines[1].dropFirst(toColumn).hasPrefix("bob") && lines[2].dropFirst(toColumn).hasPrefix("carol"))
    }
}
