// PcapFileReader: reads one pcap or pcapng file through libpcap's offline API.

import CPcap
import Foundation

/// Reads the frames of one capture file in file order. libpcap recognizes pcap (micro- and nanosecond) and pcapng;
/// timestamps are asked for in nanoseconds so that neither loses precision.
final class PcapFileReader {
    let path: String
    let fileIndex: Int
    /// libpcap's DLT value for the file (LINKTYPE_RAW 101 already mapped to DLT_RAW).
    let linkType: Int32
    /// Set when the last record was cut short: the frames before it were read, the rest of the file ignored.
    private(set) var warning: String?
    private var handle: OpaquePointer?
    private var frameNumber = 0

    init(path: String, fileIndex: Int) throws(AnalysisError) {
        self.path = path
        self.fileIndex = fileIndex
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .cannotOpen(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw .cannotOpen(path: path, reason: "is a directory") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw .cannotOpen(path: path, reason: "permission denied")
        }
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        let opened = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf)
        guard let opened else {
            let reason = String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw .notACapture(path: path, reason: PcapFileReader.shortReason(reason))
        }
        self.handle = opened
        self.linkType = pcap_datalink(opened)
    }

    deinit {
        if let handle = self.handle { pcap_close(handle) }
    }

    /// The next frame, or nil at the end of the file (or after a truncated last record, see `warning`).
    func next() throws(AnalysisError) -> CapturedFrame? {
        guard let handle = self.handle else { return nil }
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let rc = pcap_next_ex(handle, &header, &data)
        if rc == 1, let header, let data {
            self.frameNumber += 1
            let caplen = Int(header.pointee.caplen)
            // Nanoseconds since 1970 in an Int64 end in 2262; a pcapng timestamp (64 bits) can say much later.
            let (seconds, overflow) = CaptureTime(header.pointee.ts.tv_sec).multipliedReportingOverflow(
                by: 1_000_000_000
            )
            let (time, carry) = seconds.addingReportingOverflow(CaptureTime(header.pointee.ts.tv_usec))
            guard !overflow, !carry else {
                self.close()
                throw .readFailed(path: self.path, reason: "frame \(self.frameNumber): timestamp out of range")
            }
            return CapturedFrame(
                ref: FrameRef(file: self.fileIndex, number: self.frameNumber),
                time: time,
                linkType: self.linkType,
                bytes: Array(UnsafeBufferPointer(start: data, count: caplen)),
                wireLength: Int(header.pointee.len)
            )
        }
        if rc == PCAP_ERROR_BREAK || rc == 0 {
            self.close()
            return nil
        }
        let reason = String(cString: pcap_geterr(handle))
        self.close()
        if reason.contains("truncated") || reason.contains("only got") {
            self.warning = "\(self.path): the last record is truncated (\(reason)); read \(self.frameNumber) frames"
            return nil
        }
        throw .readFailed(path: self.path, reason: reason)
    }

    private func close() {
        if let handle = self.handle { pcap_close(handle) }
        self.handle = nil
    }

    /// libpcap's messages for a bad file header, shortened to what a user needs.
    static func shortReason(_ reason: String) -> String {
        if reason.contains("unknown file format") { return "unknown file format" }
        if reason.contains("truncated") { return "truncated file header" }
        return reason.isEmpty ? "unreadable" : reason
    }
}
