import Foundation
import Testing

/// `sipctl trace calls|ladder` on damaged or hostile capture files: a one-line error and exit status 1 (or a
/// normal answer), never a crash.
@Suite("sipctl on bad capture files")
struct BadCaptureTests {
    static let fixtures = TestEnvironment.packageRoot.appendingPathComponent("Tests/SIPProxyTests/Fixtures/Analysis")

    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    /// pcapng: Section Header, Ethernet Interface Description, one Enhanced Packet of 36 octets whose timestamp
    /// high word is 0xFFFFFFFF (116 octets in all).
    static let hugeTimestamp: [UInt8] = {
        func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
            let length = UInt32(12 + body.count)
            return le32(type) + le32(length) + body + le32(length)
        }
        let section = block(0x0A0D_0D0A, le32(0x1A2B_3C4D) + [1, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 8))
        let interface = block(1, [1, 0, 0, 0] + le32(0))
        let packet = block(6, le32(0) + le32(0xFFFF_FFFF) + le32(0) + le32(36) + le32(36) + [UInt8](repeating: 0x5A, count: 36))
        return section + interface + packet
    }()

    private func expectOneLineError(_ run: ToolRun, _ what: String) {
        let lines = run.stderr.split(whereSeparator: \.isNewline)
        #expect(run.status == 1 && !run.timedOut, "\(what)\n\(run)")
        #expect(lines.count == 1 && lines.first?.hasPrefix("Error: ") == true, "\(what)\n\(run)")
    }

    @Test("the 116-byte pcapng with a 0xFFFFFFFF timestamp high word: calls answers, ladder refuses in one line")
    func hugeTimestampFile() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("bad-captures")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(Self.hugeTimestamp.count == 116)
        let path = dir.appendingPathComponent("huge-ts.pcapng").path
        try Data(Self.hugeTimestamp).write(to: URL(fileURLWithPath: path))
        let calls = try await ToolRunner.sipctl(["trace", "calls", path], in: dir)
        #expect(calls.succeeded && calls.stdout == "no calls\n", "\(calls)")
        let ladder = try await ToolRunner.sipctl(["trace", "ladder", path], in: dir)
        self.expectOneLineError(ladder, "ladder of a capture without SIP")
    }

    @Test("garbage, cut headers and corrupted records: one-line error and exit status 1")
    func damagedFiles() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("bad-captures")
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("sipp-udp-lo.pcap")))
        let goodNG = [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("sipp-udp-lo.pcapng")))
        var recordLength = good
        // The first record's caplen (at 24 + 8) far beyond the snapshot length.
        recordLength.replaceSubrange(32..<36, with: Self.le32(0xFFFF_FFF0))
        var blockLength = goodNG
        // The second block's total length (pcapng blocks: type, then length) absurdly large.
        let second = Int(goodNG[4]) | Int(goodNG[5]) << 8
        blockLength.replaceSubrange((second + 4)..<(second + 8), with: Self.le32(0xFFFF_FFFC))
        let cases: [(String, [UInt8])] = [
            ("text.pcap", Array("INVITE sip:bob@x SIP/2.0\r\n".utf8)),
            ("empty.pcap", []),
            ("header-cut.pcap", Array(good.prefix(10))),
            ("ng-header-cut.pcapng", Array(goodNG.prefix(20))),
            ("record-length.pcap", recordLength),
            ("block-length.pcapng", blockLength),
        ]
        for (name, bytes) in cases {
            let path = dir.appendingPathComponent(name).path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            for command in [["trace", "calls"], ["trace", "ladder"]] {
                let run = try await ToolRunner.sipctl(command + [path], in: dir)
                self.expectOneLineError(run, "\(command.joined(separator: " ")) \(name)")
            }
        }
    }
}
