// TraceFiles: what is in the trace directory, for `sipctl trace list`.

import CPcap

/// One of the recorder's capture files.
public struct TraceFileInfo: Sendable, Codable, Equatable {
    public var path: String
    /// Octets on disk.
    public var size: Int64
    /// Timestamp of the first and last complete record; nil for a file without records.
    public var first: TraceTimestamp?
    public var last: TraceTimestamp?
    /// Complete records (pcap records, i.e. frames: a TCP message may take several).
    public var records: Int

    public init(path: String, size: Int64, first: TraceTimestamp?, last: TraceTimestamp?, records: Int) {
        self.path = path
        self.size = size
        self.first = first
        self.last = last
        self.records = records
    }
}

public enum TraceFiles {
    /// Our files (`sip-YYYYMMDD-HHMMSS-NNNN.pcap`) in the directory, oldest first, each read with libpcap
    /// (`pcap_open_offline`, `pcap_next_ex`) for its record count and time span. A file being written, or cut short
    /// by a crash, is read up to its last complete record; a file too short for a pcap header has no records.
    public static func list(directory: String) throws(TraceError) -> [TraceFileInfo] {
        try TraceFileName.list(directory).map { name in
            Self.info(path: TraceFileSystem.join(directory, name))
        }
    }

    /// Reads one capture file (any pcap file, not only ours).
    public static func info(path: String) -> TraceFileInfo {
        var info = TraceFileInfo(path: path, size: TraceFileSystem.size(path) ?? 0, first: nil, last: nil, records: 0)
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let pcap = pcap_open_offline(path, &errorBuffer) else { return info }
        defer { pcap_close(pcap) }
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        // pcap_next_ex: 1 a record, -2 end of file, -1 error (e.g. a truncated last record).
        while pcap_next_ex(pcap, &header, &data) == 1, let header {
            // Saturating: any pcap may be in the directory, and its timestamps are 32 or 64 bits of anything.
            let ts = TraceTimestamp(
                microseconds: Saturating.add(
                    Saturating.multiply(Int64(header.pointee.ts.tv_sec), 1_000_000), Int64(header.pointee.ts.tv_usec)
                )
            )
            if info.first == nil { info.first = ts }
            info.last = ts
            info.records += 1
        }
        return info
    }
}
