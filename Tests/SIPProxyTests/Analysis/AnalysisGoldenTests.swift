// Golden call lists and ladders (UTF-8 and ASCII) of the committed fixtures.

import Foundation
import Testing

@testable import SIPProxy

@Suite("Analysis: golden ladders and call lists")
struct AnalysisGoldenTests {
    @Test("call list, UTF-8 ladder and ASCII ladder match the golden files", arguments: AnalysisFixtures.captures)
    func golden(_ name: String) throws {
        let path = AnalysisFixtures.path(name)
        let (calls, _) = try CallCollector.collect([path])
        let table = CallList.table(calls)
        let goldenTable = try AnalysisFixtures.golden("\(name).calls.txt", table)
        #expect(goldenTable == table)
        let ladder = try AnalysisFixtures.ladder([path])
        let utf8 = LadderTextRenderer(width: 100).render(ladder)
        let goldenUTF8 = try AnalysisFixtures.golden("\(name).ladder.txt", utf8)
        #expect(goldenUTF8 == utf8)
        let ascii = LadderTextRenderer(width: 80, ascii: true).render(ladder)
        let goldenASCII = try AnalysisFixtures.golden("\(name).ladder-ascii.txt", ascii)
        #expect(goldenASCII == ascii)
        let isASCII = ascii.unicodeScalars.allSatisfy { $0.isASCII }
        #expect(isASCII)
    }

    @Test("the synthetic TCP capture: split, out-of-order, overlapping and coalesced segments")
    func tcpSplitAndCoalesced() throws {
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path("tcp-split-coalesced.pcap")])
        #expect(ladder.arrows.map(\.label) == ["INVITE", "100 Trying", "180 Ringing", "200 OK", "ACK", "BYE", "200 OK (BYE)"])
        #expect(ladder.arrows.map(\.hasSDP) == [true, false, false, true, false, false, false])
        #expect(ladder.arrows[0].media == ["audio 49170 PCMU/8000 telephone-event"])
        #expect(ladder.arrows.allSatisfy { !$0.isRetransmission })
        #expect(ladder.arrows.allSatisfy { $0.transport == .tcp })
    }

    @Test("IPv4 and IPv6 fragments behind 802.1Q tags are reassembled; RTP is skipped")
    func fragmentsAndVLAN() throws {
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path("udp-frag-vlan.pcap")])
        #expect(ladder.arrows.map(\.label) == ["INVITE", "200 OK", "ACK"])
        #expect(ladder.arrows[0].text.utf8.count > 2900)
        #expect(ladder.arrows[1].media == ["audio 30000 PCMA/8000"])
    }

    @Test("several files are one timeline, merged by timestamp")
    func mergedTimeline() throws {
        let udp = AnalysisFixtures.path("sipp-udp-lo.pcap")
        let tcp = AnalysisFixtures.path("sipp-tcp-lo.pcap")
        let (calls, _) = try CallCollector.collect([tcp, udp])
        #expect(calls.count == 2)
        #expect(calls[0].start < calls[1].start)
        #expect(calls.map(\.state) == [.completed, .completed])
        var times: [CaptureTime] = []
        try TraceTimeline(paths: [tcp, udp]).forEachMessage { times.append($0.time) }
        #expect(times == times.sorted())
    }

    @Test("narrow widths truncate labels without breaking the columns")
    func narrow() throws {
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path("udp-frag-vlan.pcap")])
        let text = LadderTextRenderer(width: 40, ascii: true).render(ladder)
        let lines = text.split(separator: "\n").dropFirst()
        let limit = LadderTextRenderer.minimumWidth(columns: ladder.columns.count)
        let fits = lines.allSatisfy { $0.count <= limit }
        #expect(fits)
        #expect(text.contains("~"))
    }

    @Test("raw mode prints each message below its arrow; color mode uses ANSI only when asked")
    func rawAndColor() throws {
        let ladder = try AnalysisFixtures.ladder([AnalysisFixtures.path("sipp-udp-lo.pcap")])
        let raw = LadderTextRenderer(raw: true).render(ladder)
        #expect(raw.contains("CSeq: 1 INVITE"))
        #expect(!raw.contains("\u{1B}["))
        #expect(LadderTextRenderer(color: true).render(ladder).contains("\u{1B}[36m"))
    }

    @Test("aliases and merged hosts name the columns")
    func aliases() throws {
        let path = AnalysisFixtures.path("sipp-udp-lo.pcap")
        let (calls, messages, _) = try CallSelection.load(.index(1), group: false, paths: [path])
        let alias = try LadderOptions.parseAlias("127.0.0.81=alice")
        let ladder = Ladder(
            callIDs: calls.map(\.callID), messages: messages,
            options: LadderOptions(aliases: [alias.key: alias.name, "127.0.0.82:15070": "bob"])
        )
        #expect(ladder.columns == ["alice", "bob"])
        let merged = Ladder(callIDs: [], messages: messages, options: LadderOptions(mergeHosts: true))
        #expect(merged.columns == ["127.0.0.81", "127.0.0.82"])
        #expect(throws: AnalysisError.self) { try LadderOptions.parseAlias("nonsense") }
    }
}
