// RTPStreamStats: loss and RFC 3550 jitter from RTP headers.

import Testing

@testable import SIPProxy

@Suite("Media: RTP statistics")
struct RTPStreamStatsTests {
    @Test("RTP statistics: loss from sequence gaps and wraps, RFC 3550 jitter, RTCP not counted as RTP")
    func statistics() {
        var stats = RTPStreamStats()
        func packet(_ seq: UInt16, _ ts: UInt32, pt: UInt8 = 0) -> [UInt8] {
            [0x80, pt, UInt8(seq >> 8), UInt8(seq & 0xFF), UInt8(ts >> 24), UInt8((ts >> 16) & 0xFF), UInt8((ts >> 8) & 0xFF),
             UInt8(ts & 0xFF), 0, 0, 0x12, 0x34] + Array(repeating: 0xFF, count: 160)
        }
        var arrival: Int64 = 0
        // 65530...65535, then 0...9 with 3 lost: 16 sent, 13 received; perfectly paced (20 ms, 160 samples).
        let sequence: [UInt16] = Array(65530...65535) + [0, 1, 2, 6, 7, 8, 9]
        for seq in sequence {
            let n = Int64(seq >= 65530 ? Int(seq) - 65530 : Int(seq) + 6)
            arrival = n * 20_000_000
            packet(seq, UInt32(n * 160)).withUnsafeBytes { stats.record(RTPHeader($0), octets: $0.count, arrivalNanos: arrival, clockRates: [0: 8000]) }
        }
        #expect(stats.packets == 13 && stats.lost == 3)
        #expect(stats.jitterMs < 0.01, "perfect pacing has no jitter: \(stats.jitterMs)")
        // One packet 10 ms late adds |D|/16 = 80/16 samples = 0.625 ms.
        packet(10, 16 * 160).withUnsafeBytes { stats.record(RTPHeader($0), octets: $0.count, arrivalNanos: 16 * 20_000_000 + 10_000_000, clockRates: [0: 8000]) }
        #expect(abs(stats.jitterMs - 0.625) < 0.01, "\(stats.jitterMs)")
        // An RTCP sender report (PT 200 = 72 with the marker bit) is not RTP.
        ([0x80, 200, 0, 6] + Array(repeating: 0, count: 24) as [UInt8]).withUnsafeBytes { #expect(RTPHeader($0) == nil) }
        (packet(1, 1, pt: 72 | 0x80)).withUnsafeBytes { #expect(RTPHeader($0) == nil) }
    }
}
