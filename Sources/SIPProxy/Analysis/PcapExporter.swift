// PcapExporter: writes one call's frames to a new pcap file with libpcap's dump API.

import CPcap
import Foundation

/// Exports the frames of selected dialogs: every frame that carried a part of one of their messages (each TCP
/// segment, each IP fragment, TCP retransmissions of their bytes), in timeline order, with the original
/// timestamps. The output keeps the input's link type; when inputs differ, frames are converted to raw IP
/// (LINKTYPE_RAW) by dropping their link-layer headers, and `note` says so.
public enum PcapExporter {
    public struct Result: Sendable {
        public var frames: Int
        public var messages: Int
        public var note: String?
        public var warnings: [String]
    }

    public static func export(
        paths: [String], selection: CallSelection, group: Bool = false, to output: String
    ) throws(AnalysisError) -> Result {
        let timeline = TraceTimeline(paths: paths)
        let (calls, messages, warnings) = try CallSelection.load(selection, group: group, paths: paths)
        let ids = Set(calls.map(\.callID))
        var wanted = Set(messages.flatMap(\.frames))
        try timeline.forEachMessage({ _ in }, extraFrame: { frame, callID in
            if ids.contains(callID) { wanted.insert(frame) }
        })
        let linkTypes = Set(try timeline.linkTypes())
        let convert = linkTypes.count > 1
        let linkType = convert ? Int32(DLT_RAW) : linkTypes.first ?? Int32(DLT_EN10MB)

        guard let dead = pcap_open_dead(linkType, 262_144) else {
            throw .writeFailed(path: output, reason: "libpcap cannot open a dump handle")
        }
        defer { pcap_close(dead) }
        guard let dumper = pcap_dump_open(dead, output) else {
            throw .writeFailed(path: output, reason: String(cString: pcap_geterr(dead)))
        }
        var written = 0
        do {
            try timeline.forEachFrame { frame in
                guard wanted.contains(frame.ref) else { return }
                var bytes = frame.bytes
                var length = frame.wireLength
                if convert {
                    guard let offset = LinkLayer.ipOffset(linkType: frame.linkType, bytes) else { return }
                    bytes = Array(bytes[offset...])
                    length -= offset
                }
                var header = pcap_pkthdr()
                header.ts.tv_sec = Int(frame.time / 1_000_000_000)
                header.ts.tv_usec = Int(frame.time % 1_000_000_000 / 1000)
                header.caplen = UInt32(bytes.count)
                header.len = UInt32(max(length, bytes.count))
                bytes.withUnsafeBufferPointer { pointer in
                    pcap_dump(UnsafeMutablePointer<UInt8>(dumper), &header, pointer.baseAddress)
                }
                written += 1
            }
        } catch {
            pcap_dump_close(dumper)
            try? FileManager.default.removeItem(atPath: output)
            throw error
        }
        let flushed = pcap_dump_flush(dumper)
        pcap_dump_close(dumper)
        guard flushed == 0 else { throw .writeFailed(path: output, reason: "flush failed") }
        let note = convert
            ? "inputs have different link types (\(linkTypes.sorted().map(String.init).joined(separator: ", "))); "
                + "frames were converted to raw IP"
            : nil
        return Result(frames: written, messages: messages.count, note: note, warnings: warnings)
    }
}
