// Inputs found by the capture-analysis fuzzer (Tests/Fuzz/PcapReaderFuzzer.swift, run by scripts/fuzz.sh) that
// trapped, kept byte for byte so they stay fixed.

import Foundation
import Testing

@testable import SIPProxy

@Suite("Analysis: fuzzer findings")
struct AnalysisFuzzFindingsTests {
    /// Writes a capture to a temporary file and lists its calls in every format, as `sipctl trace calls` does.
    static func listCalls(_ bytes: [UInt8], _ name: String) throws -> [CallSummary] {
        let path = AnalysisFixtures.temporaryPath(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (calls, _) = try CallCollector.collect([path])
        _ = (CallList.table(calls), CallList.csv(calls), CallList.json(calls))
        return calls
    }

    /// pcapng timestamps are 64-bit: a high word of 0xFFFFFFFF (microseconds) is ~584,000 years after 1970, past
    /// what nanoseconds in an Int64 reach (2262). Converting it trapped; the reader now reports the frame.
    @Test func pcapngTimestampOutOfRangeIsAnError() throws {
        func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        func le16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        // Section Header Block, Interface Description Block (LINKTYPE_RAW), one Enhanced Packet Block.
        let shb = le32(0x0A0D_0D0A) + le32(28) + le32(0x1A2B_3C4D) + le16(1) + le16(0) + [UInt8](repeating: 0xFF, count: 8)
            + le32(28)
        let idb = le32(1) + le32(20) + le16(101) + le16(0) + le32(65535) + le32(20)
        let ip: [UInt8] = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]
        let epb = le32(6) + le32(52) + le32(0) + le32(0xFFFF_FFFF) + le32(0) + le32(20) + le32(20) + ip + le32(52)
        #expect(throws: AnalysisError.self) { try Self.listCalls(shb + idb + epb, "timestamp.pcapng") }
        do {
            _ = try Self.listCalls(shb + idb + epb, "timestamp.pcapng")
        } catch let error as AnalysisError {
            guard case .readFailed(_, let reason) = error else {
                Issue.record("expected readFailed, got \(error)")
                return
            }
            #expect(reason.contains("timestamp out of range"))
        }
    }
}
