// Locating the Analysis fixtures and golden files through #filePath.

import Foundation

@testable import SIPProxy

enum AnalysisFixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/Analysis")

    static func path(_ name: String) -> String { Self.folder.appendingPathComponent(name).path }

    /// The captures with golden ladders and call lists.
    static let captures = [
        "sipp-udp-lo.pcap", "sipp-udp-lo.pcapng", "sipp-udp-sll.pcap", "sipp-udp-sll2.pcap", "sipp-tcp-lo.pcap",
        "tcp-split-coalesced.pcap", "udp-frag-vlan.pcap",
        // Written by SIPProxy's own recorder (a call through `sipctl serve` over UDP, then over TCP).
        "proxy-recorder-udp.pcap", "proxy-recorder-tcp.pcap",
    ]

    /// Compares `text` with the golden file `name` (or writes it when UPDATE_GOLDEN=1).
    static func golden(_ name: String, _ text: String) throws -> String? {
        let url = Self.folder.appendingPathComponent("golden").appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true
            )
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return try? String(contentsOf: url, encoding: .utf8)
    }

    static func ladder(_ paths: [String], _ selection: CallSelection = .last) throws -> Ladder {
        let (calls, messages, _) = try CallSelection.load(selection, group: false, paths: paths)
        return Ladder(callIDs: calls.map(\.callID), messages: messages)
    }

    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("sipproxy-analysis-\(UUID().uuidString)-\(name)")
            .path
    }
}
