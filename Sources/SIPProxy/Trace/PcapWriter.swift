// PcapWriter: writes frames to a rotating ring of pcap files through libpcap's dump API (pcap_open_dead,
// pcap_dump_open, pcap_dump, pcap_dump_flush, pcap_dump_close, pcap_close), like dumpcap -b.

import CPcap

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes frames to `sip-YYYYMMDD-HHMMSS-NNNN.pcap` files (UTC, see `TraceFileName`) in one directory: classic pcap
/// (microsecond timestamps), LINKTYPE_ETHERNET, snapshot length 262,144; the file header and records are produced
/// by libpcap only.
///
/// - Rotation: a new file before a group of frames would take the current one past `maxFileSize` (a group alone
///   larger than that still goes into one file), and when the current file has been open `maxDuration`
///   (checked on every write and `tick`; after such a rotation the next file opens with the next write, so an idle
///   recorder does not produce empty files). After opening a file, the oldest of our files beyond `maxFiles` are
///   deleted (files not matching our name pattern are never touched).
/// - Flushing: each record reaches the file (`pcap_dump_flush`, i.e. `fflush`) within `flushInterval` of being
///   written, provided `write` or `tick` is called that often; `flushInterval == 0` flushes after every group.
///   The file header is flushed when the file opens. A process killed at any moment thus leaves files that libpcap
///   and tshark read up to the last flushed record (at worst a trailing record cut short, which readers report and
///   skip).
///
/// Not thread-safe: owned by one thread (the recorder's writer thread).
public final class PcapWriter {
    public struct Configuration: Sendable, Equatable {
        public var directory: String
        public var maxFileSize: Int
        /// Microseconds.
        public var maxDuration: Int64
        public var maxFiles: Int
        /// Microseconds; 0 flushes after every write.
        public var flushInterval: Int64
        /// Permissions of the directory and the files (owner only unless shared with a group).
        public var access: FileAccess

        public init(
            directory: String, maxFileSize: Int, maxDuration: Int64, maxFiles: Int, flushInterval: Int64,
            access: FileAccess = .ownerOnly
        ) {
            self.directory = directory
            self.maxFileSize = maxFileSize
            self.maxDuration = maxDuration
            self.maxFiles = maxFiles
            self.flushInterval = flushInterval
            self.access = access
        }

        /// Converts seconds and milliseconds to microseconds, saturating: settings are validated before they get
        /// here, but a value that skipped validation must give a long interval, never an overflow trap.
        public init(_ settings: TraceSettings) {
            self.init(
                directory: settings.directory,
                maxFileSize: settings.maxFileSize,
                maxDuration: Saturating.multiply(Int64(settings.maxDuration), 1_000_000),
                maxFiles: settings.maxFiles,
                flushInterval: Saturating.multiply(Int64(settings.flushInterval), 1_000),
                access: settings.fileAccess
            )
        }
    }

    /// pcap file header (24 octets) and record header (16 octets) sizes of the classic format.
    static let fileHeaderSize = 24
    static let recordHeaderSize = 16
    static let snapshotLength: Int32 = 262_144
    /// The stdio buffer of each file. Records are only ever flushed whole: before a group would not fit in what is
    /// left of the buffer, the buffer is flushed, so stdio never writes part of a record on its own (a process
    /// killed between flushes leaves no record cut short).
    static let bufferSize = 1 << 20

    public let configuration: Configuration
    private let clock: () -> TraceTimestamp
    private let pcap: OpaquePointer
    private var dumper: OpaquePointer?
    private var sequence: Int

    /// The file being written, nil between files.
    public private(set) var currentPath: String?
    /// Octets in the current file (header included).
    public private(set) var currentFileSize = 0
    private var currentOpened = TraceTimestamp(microseconds: 0)
    /// When the oldest unflushed record was written, nil when everything is flushed.
    private var unflushedSince: TraceTimestamp?
    /// Octets written to the stdio buffer since the last flush.
    private var unflushedBytes = 0
    /// The current file's stdio buffer (glibc ignores the size of `setvbuf` without a buffer), freed after closing.
    private var fileBuffer: UnsafeMutablePointer<CChar>?
    /// Set by `prepareForGroup`: the rotation for the next write is decided.
    private var preparedGroupSize: Int?
    /// Totals since creation.
    public private(set) var bytesWritten: Int64 = 0
    public private(set) var recordsWritten: Int64 = 0
    public private(set) var filesOpened = 0
    /// Flushes that failed (records lost to a full disk, a removed file system, ...) and the last such failure.
    public private(set) var writeFailures = 0
    public private(set) var lastWriteError: String?
    /// Our files in the directory after the last rotation.
    public private(set) var filesKept = 0

    /// Creates the directory if needed; opens no file yet. `clock` gives the wall-clock time for file names,
    /// durations and flush deadlines (tests inject one).
    public init(configuration: Configuration, clock: @escaping () -> TraceTimestamp = TraceTimestamp.now)
        throws(TraceError)
    {
        try TraceFileSystem.createDirectory(configuration.directory, permissions: configuration.access)
        guard let pcap = pcap_open_dead(DLT_EN10MB, Self.snapshotLength) else {
            throw TraceError(.file, "pcap_open_dead failed")
        }
        self.configuration = configuration
        self.clock = clock
        self.pcap = pcap
        let existing = (try? TraceFileName.list(configuration.directory)) ?? []
        self.sequence = ((existing.compactMap(TraceFileName.sequence(of:)).max() ?? -1) + 1) % 10_000
        self.filesKept = existing.count
    }

    deinit {
        self.close()
        pcap_close(self.pcap)
    }

    /// Opens a new file now (normally files open on demand), closing the current one.
    public func rotate() throws(TraceError) {
        self.closeFile()
        try self.openFile()
    }

    /// Decides the rotation for the next group before it is framed: closes the current file if a group of at most
    /// `groupSize` octets (record headers included) must go into a new one, and returns whether the next `write`
    /// opens a new file (the caller then calls `PacketFramer.resynchronize()`). The next `write` does not rotate
    /// again unless its group is larger than `groupSize`.
    public func prepareForGroup(ofAtMost groupSize: Int) -> Bool {
        if self.dumper != nil && self.mustRotate(now: self.clock(), groupSize: groupSize) { self.closeFile() }
        self.preparedGroupSize = groupSize
        return self.dumper == nil
    }

    /// Writes a group of frames (the frames of one message) to one file, rotating first if needed.
    public func write(_ frames: [TraceFrame]) throws(TraceError) {
        guard !frames.isEmpty else { return }
        let now = self.clock()
        let groupSize = frames.reduce(0) { $0 + Self.recordHeaderSize + $1.bytes.count }
        let prepared = self.preparedGroupSize.map { groupSize <= $0 } ?? false
        self.preparedGroupSize = nil
        if self.dumper != nil && !prepared && self.mustRotate(now: now, groupSize: groupSize) { self.closeFile() }
        if self.dumper == nil { try self.openFile() }
        guard let dumper = self.dumper else { return }
        let bufferedSize = frames.reduce(0) { $0 + Self.recordHeaderSize + min($1.bytes.count, Int(Self.snapshotLength)) }
        if self.unflushedBytes > 0 && self.unflushedBytes + bufferedSize >= Self.bufferSize { self.flush() }
        self.unflushedBytes += bufferedSize
        let user = UnsafeMutablePointer<UInt8>(dumper)
        for frame in frames {
            var header = pcap_pkthdr()
            header.ts.tv_sec = .init(frame.timestamp.seconds)
            header.ts.tv_usec = .init(frame.timestamp.microsecondsOfSecond)
            let length = min(frame.bytes.count, Int(Self.snapshotLength))
            header.caplen = bpf_u_int32(length)
            header.len = bpf_u_int32(frame.bytes.count)
            frame.bytes.withUnsafeBufferPointer { bytes in
                pcap_dump(user, &header, bytes.baseAddress)
            }
            self.currentFileSize += Self.recordHeaderSize + length
            self.bytesWritten += Int64(Self.recordHeaderSize + length)
            self.recordsWritten += 1
        }
        if self.unflushedSince == nil { self.unflushedSince = now }
        self.flushIfDue(now: now)
    }

    /// Flushes if the oldest unflushed record is due and closes the file if its duration is over. Call at least
    /// every `flushInterval` while records may be unflushed.
    public func tick() {
        let now = self.clock()
        self.flushIfDue(now: now)
        if self.dumper != nil,
            Saturating.subtract(now.microseconds, self.currentOpened.microseconds) >= self.configuration.maxDuration
        {
            self.closeFile()
        }
    }

    /// Microseconds until `tick` has work to do for flushing, nil if nothing is unflushed.
    public func microsecondsUntilFlush() -> Int64? {
        guard let since = self.unflushedSince else { return nil }
        let due = Saturating.add(since.microseconds, self.configuration.flushInterval)
        return max(0, Saturating.subtract(due, self.clock().microseconds))
    }

    /// Flushes the current file now. A failure (e.g. a full disk) is kept in `lastWriteError`.
    public func flush() {
        guard let dumper = self.dumper else { return }
        if pcap_dump_flush(dumper) != 0 {
            self.writeFailures += 1
            self.lastWriteError = "cannot write \(self.currentPath ?? "?"): \(TraceFileSystem.lastError())"
        }
        self.unflushedSince = nil
        self.unflushedBytes = 0
    }

    /// Flushes and closes the current file (a later `write` opens a new one).
    public func close() {
        self.closeFile()
    }

    // MARK: Files

    private func mustRotate(now: TraceTimestamp, groupSize: Int) -> Bool {
        let expired =
            Saturating.subtract(now.microseconds, self.currentOpened.microseconds) >= self.configuration.maxDuration
        let full = self.currentFileSize > Self.fileHeaderSize
            && self.currentFileSize + groupSize > self.configuration.maxFileSize
        return expired || full
    }

    private func flushIfDue(now: TraceTimestamp) {
        guard let since = self.unflushedSince else { return }
        if Saturating.subtract(now.microseconds, since.microseconds) >= self.configuration.flushInterval {
            self.flush()
        }
    }

    private func closeFile() {
        guard let dumper = self.dumper else { return }
        self.flush()
        pcap_dump_close(dumper)
        self.fileBuffer?.deallocate()
        self.fileBuffer = nil
        self.dumper = nil
        self.currentPath = nil
        self.unflushedSince = nil
        self.unflushedBytes = 0
    }

    private func openFile() throws(TraceError) {
        let now = self.clock()
        var path = ""
        for _ in 0..<10_000 {
            path = TraceFileSystem.join(
                self.configuration.directory, TraceFileName.make(time: now, sequence: self.sequence)
            )
            self.sequence = (self.sequence + 1) % 10_000
            if !TraceFileSystem.exists(path) { break }
        }
        // Our own FILE with a buffer that holds whole groups (see `bufferSize`); libpcap writes the header. The
        // file is created private (or group-readable) from the start: captures hold credentials and call data.
        let fd: Int32
        do throws(FileAccessError) {
            fd = try self.configuration.access.open(path, flags: O_WRONLY | O_TRUNC | O_NOFOLLOW)
        } catch {
            throw TraceError(.file, error.description)
        }
        guard let file = fdopen(fd, "wb") else {
            let reason = TraceFileSystem.lastError()
            _ = closeDescriptor(fd)
            throw TraceError(.file, "cannot open capture file \(path): \(reason)")
        }
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Self.bufferSize)
        setvbuf(file, buffer, _IOFBF, Self.bufferSize)
        guard let dumper = pcap_dump_fopen(self.pcap, file) else {
            fclose(file)
            buffer.deallocate()
            throw TraceError(.file, "cannot open capture file \(path): \(String(cString: pcap_geterr(self.pcap)))")
        }
        // The file header goes out now: a reader (or a crash) never sees a half-written header.
        pcap_dump_flush(dumper)
        self.fileBuffer = buffer
        self.dumper = dumper
        self.currentPath = path
        self.currentOpened = now
        self.currentFileSize = Self.fileHeaderSize
        self.bytesWritten += Int64(Self.fileHeaderSize)
        self.filesOpened += 1
        self.deleteOldFiles()
    }

    /// Deletes our oldest files (by name, i.e. by time) while there are more than `maxFiles`, never the current one.
    private func deleteOldFiles() {
        guard var names = try? TraceFileName.list(self.configuration.directory) else { return }
        let current = self.currentPath.map { String($0.split(separator: "/").last ?? "") }
        var index = 0
        while names.count > self.configuration.maxFiles && index < names.count {
            if names[index] == current {
                index += 1
                continue
            }
            if (try? TraceFileSystem.remove(TraceFileSystem.join(self.configuration.directory, names[index]))) != nil {
                names.remove(at: index)
            } else {
                index += 1
            }
        }
        self.filesKept = names.count
    }
}

/// `close(2)`, out of reach of `PcapWriter.close()` inside the class.
private func closeDescriptor(_ fd: Int32) -> Int32 { close(fd) }
