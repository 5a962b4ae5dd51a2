// Export round trip and one-line errors for bad inputs.

import Foundation
import Testing

@testable import SIPProxy

@Suite("Analysis: export and errors")
struct AnalysisExportTests {
    static func roundTrip(_ path: String, _ callID: String) throws -> (before: String, after: String, frames: Int) {
        let output = AnalysisFixtures.temporaryPath("export.pcap")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try PcapExporter.export(paths: [path], selection: .callID(callID), to: output)
        let before = LadderTextRenderer().render(try AnalysisFixtures.ladder([path], .callID(callID)))
        let after = LadderTextRenderer().render(try AnalysisFixtures.ladder([output], .callID(callID)))
        let types = (try TraceTimeline(paths: [output]).linkTypes(), try TraceTimeline(paths: [path]).linkTypes())
        #expect(types.0 == types.1)
        return (before, after, result.frames)
    }

    @Test("an exported call reads back as the same ladder, with every TCP segment and IP fragment")
    func exportRoundTrip() throws {
        let tcp = try Self.roundTrip(AnalysisFixtures.path("tcp-split-coalesced.pcap"), "split-coalesced-1@10.0.0.1")
        #expect(tcp.before == tcp.after)
        // SYN, SYN-ACK, 4 INVITE segments (one overlapping), 100+180, 2 for the 200, ACK+BYE, the 200 twice.
        #expect(tcp.frames == 12)
        let udp = try Self.roundTrip(AnalysisFixtures.path("udp-frag-vlan.pcap"), "frag-vlan-1@192.0.2.10")
        #expect(udp.before == udp.after)
        #expect(udp.frames == 6)
    }

    @Test("exports of shared captures (TCP reassembly, IPv6 fragments, PPPoE) read back the same")
    func sharedRoundTrip() throws {
        guard let folder = AnalysisSharedCaptureTests.folder else { return }
        let cases = [
            ("tcp-split-6060.pcap", "17c0b3b3-dfd2-42ac-9018-6156179021c0"),
            ("sll-ipv6-frag.pcap", "71846-1647924829-397430@fd17:625c:f037:2:a00:27ff:feb9:1521"),
            ("pppoe-info-cancel.pcap", "2091060b-146f-e011-809a-0019cb53db77@admind-desktop"),
        ]
        for (file, callID) in cases {
            let result = try Self.roundTrip(folder.appendingPathComponent(file).path, callID)
            #expect(result.before == result.after, "\(file)")
        }
    }

    @Test("inputs with different link types are exported as raw IP")
    func mixedLinkTypes() throws {
        let output = AnalysisFixtures.temporaryPath("mixed.pcap")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let paths = [AnalysisFixtures.path("sipp-udp-lo.pcap"), AnalysisFixtures.path("sipp-udp-sll2.pcap")]
        let (calls, _) = try CallCollector.collect([paths[0]])
        let result = try PcapExporter.export(paths: paths, selection: .callID(calls[0].callID), to: output)
        #expect(result.note?.contains("raw IP") == true)
        #expect(result.frames == 12)
        let (readBack, _) = try CallCollector.collect([output])
        #expect(readBack.first?.messageCount == 12)
    }

    @Test("missing, non-pcap and truncated files fail with one line; a truncated last record is a warning")
    func errors() throws {
        #expect(throws: AnalysisError.cannotOpen(path: "/nonexistent.pcap", reason: "no such file")) {
            try CallCollector.collect(["/nonexistent.pcap"])
        }
        let text = AnalysisFixtures.temporaryPath("text.pcap")
        try Data("INVITE sip:x SIP/2.0\r\n".utf8).write(to: URL(fileURLWithPath: text))
        defer { try? FileManager.default.removeItem(atPath: text) }
        #expect(throws: AnalysisError.notACapture(path: text, reason: "unknown file format")) {
            try CallCollector.collect([text])
        }
        let original = try Data(contentsOf: URL(fileURLWithPath: AnalysisFixtures.path("sipp-udp-lo.pcap")))
        let header = AnalysisFixtures.temporaryPath("header.pcap")
        try original.prefix(10).write(to: URL(fileURLWithPath: header))
        defer { try? FileManager.default.removeItem(atPath: header) }
        #expect(throws: AnalysisError.self) { try CallCollector.collect([header]) }
        let cut = AnalysisFixtures.temporaryPath("cut.pcap")
        try original.prefix(original.count - 30).write(to: URL(fileURLWithPath: cut))
        defer { try? FileManager.default.removeItem(atPath: cut) }
        let (calls, warnings) = try CallCollector.collect([cut])
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("truncated") == true)
        #expect(calls.first?.messageCount == 6 - 1)
        let error = AnalysisError.unknownCall("nope")
        #expect(throws: error) {
            try CallSelection.load(.callID("nope"), group: false, paths: [AnalysisFixtures.path("sipp-udp-lo.pcap")])
        }
        #expect(!error.description.contains("\n"))
    }
}
