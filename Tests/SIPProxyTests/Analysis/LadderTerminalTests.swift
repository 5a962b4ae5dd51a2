// What a terminal shows: time columns, --raw wrapped not cut, tables that fit, --user ladders, one JSON schema.

import Foundation
import Testing

@testable import SIPProxy

@Suite("Analysis: ladders and tables in a terminal")
struct LadderTerminalTests {
    static let capture = "proxy-recorder-udp.pcap"

    @Test("--time abs|delta|both|none: the margin holds what was asked, and the labels get the rest", arguments: LadderTextRenderer.TimeColumns.allCases)
    func timeColumns(_ time: LadderTextRenderer.TimeColumns) throws {
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path(Self.capture)])
        let width = 80
        let lines = LadderTextRenderer(width: width, ascii: true, time: time).render(ladder).split(separator: "\n")
        #expect(lines.allSatisfy { $0.count <= width })
        let text = lines.joined(separator: "\n")
        #expect(text.contains("08:05:53.787192") == (time == .abs || time == .both), "\(text)")
        #expect(text.contains("+0.000794") == (time == .delta || time == .both), "\(text)")
        let header = lines.first { $0.contains("127.0.0.90") }.map(String.init) ?? ""
        #expect(header.hasPrefix("time") == (time == .abs || time == .both))
        #expect(LadderTextRenderer.minimumWidth(columns: 3, time: time) == time.layout.margin + 36)
    }

    @Test("--raw wraps long lines to the width instead of cutting them")
    func rawWraps() throws {
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path(Self.capture)])
        let width = 70
        let text = LadderTextRenderer(width: width, ascii: true, raw: true).render(ladder)
        let lines = text.split(separator: "\n")
        #expect(lines.allSatisfy { $0.count <= width }, "\(text)")
        // Every Via line of the capture is there in full, in pieces.
        let joined = lines.map { $0.trimmingCharacters(in: .whitespaces) }
            .map { $0.hasPrefix("> ") ? String($0.dropFirst(2)) : "\n" + $0 }.joined()
        let (_, messages, _) = try CallSelection.load(.last, group: false, paths: [AnalysisFixtures.path(Self.capture)])
        for via in messages.flatMap({ $0.text.split(separator: "\r\n") }).filter({ $0.hasPrefix("Via:") }) {
            #expect(joined.contains(String(via)), "\(via) is shown whole")
        }
    }

    @Test("tables fit a width: Call-IDs and URIs are cut in the middle, other columns kept")
    func tablesFit() throws {
        let (calls, _) = try CallCollector.collect([AnalysisFixtures.path("sipp-tcp-lo.pcap"), AnalysisFixtures.path(Self.capture)])
        let full = CallList.table(calls)
        #expect(full.split(separator: "\n").contains { $0.count > 80 }, "the fixture is wider than 80 columns")
        let fitted = CallList.table(calls, width: 80)
        #expect(fitted.split(separator: "\n").allSatisfy { $0.count <= 80 }, "\(fitted)")
        #expect(fitted.contains("…") && fitted.contains("completed") && fitted.contains("alice@"), "\(fitted)")
        // A table that fits is not touched.
        #expect(CallList.table(calls, width: 400) == full)
        let table = TextTable(headers: ["A", "LONG"], rows: [["x", String(repeating: "0123456789", count: 5)]])
        let cut = table.render(width: 20, shrinking: [1])
        #expect(cut.split(separator: "\n").allSatisfy { $0.count <= 20 } && cut.contains("01234567…23456789"), "\(cut)")
        #expect(table.render(width: 20, shrinking: [1], keepingStart: [1]).contains("0123456789012345…"))
        // A column not allowed to shrink is never cut, even if the table stays too wide.
        #expect(table.render(width: 20, shrinking: [0]) == table.render())
    }

    @Test("--user draws every dialog of that user in one picture, without registrations")
    func userLadder() throws {
        let paths = [AnalysisFixtures.path(Self.capture)]
        let (chosen, messages, _) = try CallSelection.load(.matching(CallFilter(user: "bob")), group: false, paths: paths)
        #expect(!chosen.isEmpty && chosen.allSatisfy { $0.firstMethod != "REGISTER" })
        let ladder = Ladder(callIDs: chosen.map(\.callID), messages: messages)
        #expect(ladder.arrows.allSatisfy { !$0.label.contains("REGISTER") })
        #expect(throws: AnalysisError.self) {
            try CallSelection.load(.matching(CallFilter(user: "nobody-here")), group: false, paths: paths)
        }
        let registrations = try CallSelection.load(.matching(CallFilter(method: "REGISTER")), group: false, paths: paths)
        #expect(registrations.calls.allSatisfy { $0.firstMethod == "REGISTER" })
    }

    @Test("trace calls --json uses the journal's names for the same facts")
    func oneSchema() throws {
        let (calls, _) = try CallCollector.collect([AnalysisFixtures.path(Self.capture)])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(CallList.json(calls).utf8)) as? [[String: Any]])
        let call = try #require(rows.first { $0["method"] as? String == "INVITE" })
        // The journal's keys (CallRecord.CodingKeys) for the facts both know.
        let shared = ["callID", "caller", "callee", "invite", "inviteUs", "answer", "answerUs", "end", "endUs", "outcome",
                      "ringSeconds", "talkSeconds"]
        for key in shared {
            #expect(call[key] != nil, "\(key) in \(call)")
            #expect(CallRecord.CodingKeys(rawValue: key) != nil, "\(key) is a journal key")
        }
        #expect(call["outcome"] as? String == CallOutcome.completed.rawValue)
        let invite = try #require(call["inviteUs"] as? Int64)
        let answer = try #require(call["answerUs"] as? Int64)
        let ring = try #require(call["ringSeconds"] as? Double)
        #expect(abs(Double(answer - invite) / 1e6 - ring) < 0.002)
        #expect((call["invite"] as? String)?.hasSuffix("Z") == true)
    }
}

@Suite("Analysis: RTP streams in a capture")
struct CapturedRTPTests {
    /// A call through `sipctl serve --media relay` with 50 RTP packets each way (recorded by the proxy).
    static let capture = "proxy-relay-rtp.pcap"

    @Test("each direction of each leg is a stream matched to the call by its SDP, with codec, counts and jitter")
    func streams() throws {
        let loaded = try CallSelection.loadDialogs(.last, group: false, paths: [AnalysisFixtures.path(Self.capture)], rtp: true)
        #expect(loaded.streams.count == 4)
        #expect(loaded.streams.allSatisfy { $0.codec == "PCMU" && $0.stats.packets == 50 && $0.stats.lost == 0 })
        #expect(loaded.streams.allSatisfy { $0.stats.jitterMs > 0 && $0.stats.jitterMs < 20 })
        // Two go to the relay (127.0.0.10), two come from it.
        #expect(loaded.streams.filter { $0.destination.address.description == "127.0.0.10" }.count == 2)
        let ladder = Ladder(callIDs: loaded.calls.map(\.callID), messages: loaded.messages,
                            options: LadderOptions(names: loaded.names), streams: loaded.streams)
        let rows = ladder.arrows.filter(\.isMedia)
        #expect(rows.count == 4 && rows.allSatisfy { $0.label == "RTP PCMU" && $0.media.first?.hasPrefix("50 pkts · 0 lost · jitter ") == true })
        // Between the phones' and the proxy's lifelines, no column of their own for the RTP ports.
        #expect(ladder.columns == ["alice", "proxy", "bob"], "\(ladder.columns)")
        let ack = try #require(ladder.arrows.lastIndex { $0.label == "ACK" })
        let bye = try #require(ladder.arrows.firstIndex { $0.label == "BYE" })
        #expect(ladder.arrows.indices.filter { ladder.arrows[$0].isMedia }.allSatisfy { $0 > ack && $0 < bye }, "in time order")
        let text = LadderTextRenderer(width: 100, ascii: true).render(ladder)
        #expect(text.contains("|=====") || text.contains("=====>"), "\(text)")
        #expect(LadderSVGRenderer().svg(ladder).contains("line class=\"msg rtp\""))
        // Without asking for RTP, none is collected.
        let plain = try CallSelection.loadDialogs(.last, group: false, paths: [AnalysisFixtures.path(Self.capture)], rtp: false)
        #expect(plain.streams.isEmpty)
    }
}
