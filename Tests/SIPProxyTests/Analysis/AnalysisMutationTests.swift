// Corrupted captures never trap the analysis: `sipctl trace calls|ladder|export` read files from anywhere (a
// colleague's capture, a download), so every length, offset and timestamp in them is hostile. Errors are fine;
// a crash is not. Before, a 116-byte pcapng whose timestamp high word is 0xFFFFFFFF overflowed the conversion to
// nanoseconds and killed `sipctl trace calls`.

import Foundation
import Testing

@testable import SIPProxy

/// Builds little-endian pcapng files block by block (pcapng draft, IETF opsawg: SHB, IDB, EPB).
enum PcapngBuilder {
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8((v >> (8 * UInt64($0))) & 0xFF) } }

    /// Type, total length, body padded to 32 bits, total length again.
    static func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
        let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
        let length = UInt32(12 + padded.count)
        return le32(type) + le32(length) + padded + le32(length)
    }

    /// Section Header Block, version 1.0, section length unknown (28 octets).
    static func sectionHeader() -> [UInt8] {
        block(0x0A0D_0D0A, le32(0x1A2B_3C4D) + le16(1) + le16(0) + le64(.max))
    }

    /// Interface Description Block for Ethernet (20 octets without options); `tsresol` adds an if_tsresol option.
    static func interface(tsresol: UInt8? = nil) -> [UInt8] {
        var body = le16(1) + le16(0) + le32(0)
        if let tsresol { body += le16(9) + le16(1) + [tsresol, 0, 0, 0] + le16(0) + le16(0) }
        return block(1, body)
    }

    /// Enhanced Packet Block on interface 0.
    static func packet(high: UInt32, low: UInt32, _ data: [UInt8]) -> [UInt8] {
        block(6, le32(0) + le32(high) + le32(low) + le32(UInt32(data.count)) + le32(UInt32(data.count)) + data)
    }

    /// An Ethernet/IPv4/UDP frame around `payload` (checksums zero: the analysis does not check them).
    static func udpFrame(_ payload: [UInt8]) -> [UInt8] {
        let ethernet: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]
        let udpLength = UInt16(8 + payload.count)
        let ipLength = 20 + udpLength
        let ip: [UInt8] = [0x45, 0, UInt8(ipLength >> 8), UInt8(ipLength & 0xFF), 0, 1, 0, 0, 64, 17, 0, 0,
                           127, 0, 0, 11, 127, 0, 0, 10]
        let udp: [UInt8] = [0x13, 0xC5, 0x13, 0xC4, UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 0, 0]
        return ethernet + ip + udp + payload
    }

    static let invite = Array((
        "INVITE sip:bob@127.0.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.11:5061;branch=z9hG4bK-1\r\n"
            + "From: <sip:alice@127.0.0.10>;tag=a\r\nTo: <sip:bob@127.0.0.10>\r\nCall-ID: crafted-1\r\n"
            + "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    ).utf8)
}

@Suite("Analysis: corrupted captures")
struct AnalysisMutationTests {
    /// What `sipctl trace calls`, `trace ladder` (text, raw, SVG, HTML; --last, --index, --group) and
    /// `trace export` do with a file. Returns whether the file yielded calls; throws the analysis error, if any.
    @discardableResult
    static func analyze(_ path: String, export: Bool = false) throws(AnalysisError) -> Bool {
        let (calls, _) = try CallCollector.collect([path])
        _ = CallList.table(calls)
        _ = CallList.csv(calls)
        _ = CallList.json(calls)
        _ = calls.filter(CallFilter(since: 0, until: CaptureClock.latest, user: "a", method: "INVITE").matches)
        guard !calls.isEmpty else { return false }
        for (selection, group) in [(CallSelection.last, true), (.index(1), false)] {
            let (chosen, messages, _) = try CallSelection.load(selection, group: group, paths: [path])
            let ladder = Ladder(callIDs: chosen.map(\.callID), messages: messages, options: LadderOptions(mergeHosts: group))
            _ = LadderTextRenderer(width: 100, raw: true).render(ladder)
            _ = LadderTextRenderer(width: 30, ascii: true, color: true).render(ladder)
            _ = LadderSVGRenderer().svg(ladder)
            _ = LadderSVGRenderer().html(ladder)
        }
        if export {
            let output = AnalysisFixtures.temporaryPath("mutation-export.pcap")
            defer { try? FileManager.default.removeItem(atPath: output) }
            _ = try PcapExporter.export(paths: [path], selection: .callID(calls[0].callID), group: true, to: output)
        }
        return true
    }

    static func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = AnalysisFixtures.temporaryPath(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("a 116-byte pcapng with timestamp high word 0xFFFFFFFF reads, its time clamped")
    func hugeTimestamp() throws {
        let data = [UInt8](repeating: 0x5A, count: 36)
        let file = PcapngBuilder.sectionHeader() + PcapngBuilder.interface()
            + PcapngBuilder.packet(high: 0xFFFF_FFFF, low: 0, data)
        #expect(file.count == 116)
        let path = try Self.write(file, "huge-ts.pcapng")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var times: [CaptureTime] = []
        try TraceTimeline(paths: [path]).forEachFrame { times.append($0.time) }
        #expect(times == [CaptureClock.latest])
        #expect(try Self.analyze(path) == false)
    }

    @Test("if_tsresol from 10^0 to 2^-127 with huge timestamps: read or refused, never a trap",
          arguments: [0x00, 0x01, 0x06, 0x09, 0x12, 0x13, 0x14, 0x3F, 0x7F, 0x80, 0x81, 0x9F, 0xBF, 0xC0, 0xFF] as [UInt8])
    func timestampResolutions(tsresol: UInt8) throws {
        let frame = PcapngBuilder.udpFrame(PcapngBuilder.invite)
        var file = PcapngBuilder.sectionHeader() + PcapngBuilder.interface(tsresol: tsresol)
        for (high, low) in [(0xFFFF_FFFF, 0xFFFF_FFFF), (0x8000_0000, 0), (0, 1), (0x7FFF_FFFF, 0xFFFF_FFFF)] as [(UInt32, UInt32)] {
            file += PcapngBuilder.packet(high: high, low: low, frame)
        }
        let path = try Self.write(file, "tsresol-\(tsresol).pcapng")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            try Self.analyze(path, export: true)
        } catch {
            #expect(!error.description.contains("\n"))
        }
    }

    /// Deterministic mutations of a fixture: bit flips, truncation, huge 16- and 32-bit fields (lengths, offsets,
    /// timestamps, counts in either byte order), duplicated, deleted and random runs of bytes, up to three at once.
    static func mutate(_ original: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = original
        for _ in 0..<Int.random(in: 1...3, using: &rng) where !bytes.isEmpty {
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0:
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                }
            case 1:
                bytes.removeSubrange(at...)
            case 2:
                let value = [0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 0, 0xFFFF, 0xFFFF_0000, 0x13, 0x3F]
                    .randomElement(using: &rng)! as UInt32
                let word = Bool.random(using: &rng) ? PcapngBuilder.le32(value) : PcapngBuilder.le32(value).reversed()
                let start = Bool.random(using: &rng) ? at & ~3 : at
                for (i, byte) in word.enumerated() where start + i < bytes.count { bytes[start + i] = byte }
            case 3:
                let value = [0xFFFF, 0, 1, 8, 20, 0x7FFF].randomElement(using: &rng)! as UInt16
                for (i, byte) in [UInt8(value >> 8), UInt8(value & 0xFF)].enumerated() where at + i < bytes.count {
                    bytes[at + i] = byte
                }
            case 4:
                let end = min(bytes.count, at + Int.random(in: 1...200, using: &rng))
                bytes.insert(contentsOf: bytes[at..<end], at: at)
            case 5:
                bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...64, using: &rng)))
            default:
                for i in at..<min(bytes.count, at + Int.random(in: 8...64, using: &rng)) {
                    bytes[i] = UInt8.random(in: 0...255, using: &rng)
                }
            }
        }
        return bytes
    }

    static let fixtures: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: AnalysisFixtures.folder.path)) ?? []
        return names.filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
    }()

    @Test("3,000+ deterministic mutations of the fixture captures never trap calls, ladder or export",
          arguments: Self.fixtures)
    func mutations(fixture: String) throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: AnalysisFixtures.path(fixture))))
        let ext = fixture.hasSuffix(".pcapng") ? "pcapng" : "pcap"
        let path = AnalysisFixtures.temporaryPath("mutated.\(ext)")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var rng = SplitMix64(seed: UInt64(fixture.utf8.reduce(5381) { ($0 &* 33) &+ UInt64($1) }))
        var (withCalls, errors) = (0, 0)
        for round in 0..<340 {
            let mutated = Self.mutate(original, &rng)
            try Data(mutated).write(to: URL(fileURLWithPath: path))
            do {
                if try Self.analyze(path, export: round % 10 == 0) { withCalls += 1 }
            } catch {
                errors += 1
                #expect(!error.description.contains("\n"), "\(fixture) round \(round): \(error)")
            }
        }
        // The mutations must reach the dissectors, not only the file header check.
        #expect(withCalls > 100, "\(fixture): \(withCalls) mutated files had calls, \(errors) were refused")
    }
}

extension AnalysisMutationTests {
    @Test("a datagram whose fragments pile up beyond the limits is dropped, not kept growing")
    func fragmentFlood() {
        var reassembler = IPFragmentReassembler()
        let key = IPFragmentReassembler.Key(
            source: IPAddress([10, 0, 0, 1], at: 0, length: 4), destination: IPAddress([10, 0, 0, 2], at: 0, length: 4),
            identification: 7, proto: 17
        )
        let frame = FrameRef(file: 0, number: 1)
        let piece = [UInt8](repeating: 0x41, count: 8)
        // The last fragment first, then the same middle piece over and over: a hole at offset 0 stays open.
        #expect(reassembler.add(key, offset: 16, more: false, data: piece, frame: frame) == nil)
        for _ in 0..<IPFragmentReassembler.maxPieces {
            #expect(reassembler.add(key, offset: 8, more: true, data: piece, frame: frame) == nil)
        }
        // The datagram was dropped at the limit: the first piece alone does not complete anything.
        #expect(reassembler.add(key, offset: 0, more: true, data: piece, frame: frame) == nil)
        // Within the limits reassembly still works.
        var fresh = IPFragmentReassembler()
        #expect(fresh.add(key, offset: 8, more: false, data: piece, frame: frame) == nil)
        #expect(fresh.add(key, offset: 0, more: true, data: piece, frame: frame)?.payload.count == 16)
    }
}
