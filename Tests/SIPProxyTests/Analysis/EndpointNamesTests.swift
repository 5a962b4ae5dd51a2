// Lifelines named by who is there: users learned from REGISTER, From, To and the proxy's Request-URIs, `proxy` for
// a proxy's sockets, the address under each name; `--alias` still wins and `--addresses` turns names off.

import Testing

@testable import SIPProxy

@Suite("Ladder: names learned from the capture")
struct EndpointNamesTests {
    static func namedLadder(_ file: String, aliases: [String: String] = [:]) throws -> Ladder {
        let (calls, messages, _, names) = try CallSelection.loadWithNames(.last, group: false, paths: [AnalysisFixtures.path(file)])
        return Ladder(callIDs: calls.map(\.callID), messages: messages, options: LadderOptions(aliases: aliases, names: names))
    }

    @Test("the proxy's own traces: alice, proxy, bob (bob's UDP contact and TCP flow on one lifeline)",
          arguments: ["proxy-recorder-udp.pcap", "proxy-recorder-tcp.pcap"])
    func proxyTrace(file: String) throws {
        let ladder = try Self.namedLadder(file)
        #expect(ladder.columns == ["alice", "proxy", "bob"])
        #expect(ladder.columnAddresses.count == 3)
        #expect(ladder.columnAddresses[1] == "127.0.0.90:5060")
        let text = LadderTextRenderer(width: 100, ascii: true).render(ladder)
        let lines = text.split(separator: "\n")
        #expect(lines[1].contains("alice") && lines[1].contains("proxy") && lines[1].contains("bob"), "\(text)")
        #expect(lines[2].contains("127.0.0.90:5060"), "the address under the name\n\(text)")
        #expect(lines.allSatisfy { $0.count <= 100 })
        let svg = LadderSVGRenderer().svg(ladder)
        #expect(svg.contains(">alice</text>") && svg.contains(">127.0.0.90:5060</text>"))
    }

    @Test("a direct call without a proxy: the caller's From user and the answering phone's To user")
    func direct() throws {
        #expect(try Self.namedLadder("sipp-udp-lo.pcap").columns == ["sipp", "bob"])
    }

    @Test("an alias still names its column; without names the columns are addresses")
    func aliasesAndAddresses() throws {
        let aliased = try Self.namedLadder("proxy-recorder-udp.pcap", aliases: ["127.0.0.90": "SIPProxy"])
        #expect(aliased.columns == ["alice", "SIPProxy", "bob"])
        let plain = try AnalysisFixtures.ladder([AnalysisFixtures.path("proxy-recorder-udp.pcap")])
        #expect(plain.columns.allSatisfy { $0.hasPrefix("127.0.0.") } && plain.columnAddresses.isEmpty)
    }

    @Test("a user's name comes from the URI's user part")
    func userPart() {
        #expect(EndpointNames.user(of: "sip:alice@lab.example;transport=tcp") == "alice")
        #expect(EndpointNames.user(of: "sips:bob:secret@10.0.0.1") == "bob")
        #expect(EndpointNames.user(of: "sip:lab.example") == nil)
        #expect(EndpointNames.user(of: "") == nil)
    }
}

@Suite("Ladder: several dialogs and titles")
struct LadderDialogsTests {
    @Test("--call twice: both dialogs in one ladder, each arrow and title marked with its dialog; an unknown Call-ID is an error")
    func severalDialogs() throws {
        let path = AnalysisFixtures.path("proxy-recorder-udp.pcap")
        let (calls, messages, _, names) = try CallSelection.loadWithNames(
            .callIDs(["1-24919@127.0.0.91", "1-24914@127.0.0.92"]), group: false, paths: [path])
        #expect(calls.map(\.callID) == ["1-24914@127.0.0.92", "1-24919@127.0.0.91"], "in order of first appearance")
        let ladder = Ladder(callIDs: calls.map(\.callID), messages: messages, options: LadderOptions(names: names))
        #expect(ladder.arrows.first?.label == "[1] REGISTER")
        #expect(ladder.arrows.contains { $0.label == "[2] INVITE" })
        #expect(ladder.arrows.allSatisfy { $0.label.hasPrefix("[1] ") || $0.label.hasPrefix("[2] ") })
        #expect(Ladder.title(of: calls[1]) == "alice → bob · completed · 0.301 s")
        #expect(throws: AnalysisError.self) {
            try CallSelection.loadWithNames(.callIDs(["nope", "1-24914@127.0.0.92"]), group: false, paths: [path])
        }
    }
}

@Suite("Ladder SVG themes")
struct LadderThemeTests {
    @Test("light and dark SVG have an opaque background and readable text; the HTML page takes the theme too")
    func themes() throws {
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path("proxy-recorder-udp.pcap")])
        let light = LadderSVGRenderer().svg(ladder)
        #expect(light.contains("<rect class=\"background\"") && light.contains("fill=\"#ffffff\""))
        #expect(light.contains("text { fill: #222222; }"))
        let dark = LadderSVGRenderer(theme: .dark).svg(ladder)
        #expect(dark.contains("fill=\"#1e1e1e\"") && dark.contains("text { fill: #eeeeee; }"))
        #expect(!dark.contains("#222222"), "no dark text on the dark background")
        #expect(LadderSVGRenderer(theme: .dark).html(ladder).contains("background: #1e1e1e"))
    }
}
