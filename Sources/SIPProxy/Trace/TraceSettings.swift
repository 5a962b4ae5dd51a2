// TraceSettings and TraceStatus: what `sipctl trace start` asks for and what `sipctl trace status` shows.

/// How the recorder writes its ring buffer of capture files (like dumpcap `-b filesize: -b duration: -b files:`).
///
/// Decoding tolerates missing keys (each takes its default), so a control client may send only what it changes.
public struct TraceSettings: Sendable, Codable, Equatable {
    /// Where the `sip-YYYYMMDD-HHMMSS-NNNN.pcap` files go; created (with parents) by `TraceRecorder.start`.
    public var directory: String = "traces"
    /// Rotate before a file would grow past this many octets (a single larger message still gets its own file).
    public var maxFileSize: Int = 10_000_000
    /// Rotate when a file has been open this many seconds.
    public var maxDuration: Int = 3600
    /// Keep at most this many of our files in `directory`, deleting the oldest.
    public var maxFiles: Int = 50
    /// Milliseconds within which a record reaches the file (0: flush after every record).
    public var flushInterval: Int = 1000
    /// Events waiting for the writer thread; beyond this `record` drops and counts.
    public var queueCapacity: Int = 10_000
    /// Payload octets waiting for the writer thread; beyond this `record` drops and counts (bounds memory when the
    /// messages are large).
    public var queueByteBudget: Int = 32 << 20
    /// Only matching events are recorded; nil records everything.
    public var filter: TraceFilter?
    /// The group the trace folder and files are readable by (`sipctl serve --trace-group`); nil: owner only.
    /// Set at start-up only: `trace.start` requests keep it.
    public var group: TraceGroup?

    /// The permissions of the trace folder and its files.
    public var fileAccess: FileAccess { self.group.map { .readableByGroup($0.id) } ?? .ownerOnly }

    public init(
        directory: String = "traces",
        maxFileSize: Int = 10_000_000,
        maxDuration: Int = 3600,
        maxFiles: Int = 50,
        flushInterval: Int = 1000,
        queueCapacity: Int = 10_000,
        queueByteBudget: Int = 32 << 20,
        filter: TraceFilter? = nil,
        group: TraceGroup? = nil
    ) {
        self.directory = directory
        self.maxFileSize = maxFileSize
        self.maxDuration = maxDuration
        self.maxFiles = maxFiles
        self.flushInterval = flushInterval
        self.queueCapacity = queueCapacity
        self.queueByteBudget = queueByteBudget
        self.filter = filter
        self.group = group
    }

    private enum CodingKeys: String, CodingKey {
        case directory, maxFileSize, maxDuration, maxFiles, flushInterval, queueCapacity, queueByteBudget, filter
        case group
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TraceSettings()
        self.directory = try c.decodeIfPresent(String.self, forKey: .directory) ?? d.directory
        self.maxFileSize = try c.decodeIfPresent(Int.self, forKey: .maxFileSize) ?? d.maxFileSize
        self.maxDuration = try c.decodeIfPresent(Int.self, forKey: .maxDuration) ?? d.maxDuration
        self.maxFiles = try c.decodeIfPresent(Int.self, forKey: .maxFiles) ?? d.maxFiles
        self.flushInterval = try c.decodeIfPresent(Int.self, forKey: .flushInterval) ?? d.flushInterval
        self.queueCapacity = try c.decodeIfPresent(Int.self, forKey: .queueCapacity) ?? d.queueCapacity
        self.queueByteBudget = try c.decodeIfPresent(Int.self, forKey: .queueByteBudget) ?? d.queueByteBudget
        self.filter = try c.decodeIfPresent(TraceFilter.self, forKey: .filter)
        self.group = try c.decodeIfPresent(TraceGroup.self, forKey: .group)
    }

    /// Upper limits of the values a user sets. The writer keeps times in microseconds (`Int64`): without a cap a
    /// duration of 9.3e12 s (`--duration 9300000000000s`) overflowed that conversion and stopped the proxy.
    /// The caps are far beyond any useful value, so they only turn nonsense into an error.
    public static let maxDurationLimit = 365 * 86_400
    public static let maxFlushIntervalLimit = 3_600_000
    public static let maxFileSizeLimit = 1 << 40
    public static let maxFilesLimit = 1_000_000

    /// Throws `.invalidSettings` naming the first value out of range, as one line a user can act on.
    public func validate() throws(TraceError) {
        if self.directory.isEmpty { throw TraceError(.invalidSettings, "trace directory is empty") }
        if self.maxFileSize < 1024 {
            throw TraceError(.invalidSettings, "maxFileSize \(self.maxFileSize) is below 1024 octets")
        }
        if self.maxFileSize > Self.maxFileSizeLimit {
            throw TraceError(.invalidSettings, "file size too large: at most 1 TiB (\(Self.maxFileSizeLimit) octets)")
        }
        if self.maxDuration < 1 { throw TraceError(.invalidSettings, "maxDuration \(self.maxDuration) is below 1 s") }
        if self.maxDuration > Self.maxDurationLimit {
            let days = Self.maxDurationLimit / 86_400
            throw TraceError(.invalidSettings, "duration too long: at most \(days) days (\(Self.maxDurationLimit) s)")
        }
        if self.maxFiles < 1 { throw TraceError(.invalidSettings, "maxFiles \(self.maxFiles) is below 1") }
        if self.maxFiles > Self.maxFilesLimit {
            throw TraceError(.invalidSettings, "too many files: at most \(Self.maxFilesLimit)")
        }
        if self.flushInterval < 0 {
            throw TraceError(.invalidSettings, "flushInterval \(self.flushInterval) ms is negative")
        }
        if self.flushInterval > Self.maxFlushIntervalLimit {
            throw TraceError(
                .invalidSettings, "flush interval too long: at most \(Self.maxFlushIntervalLimit) ms (1 hour)"
            )
        }
        if self.queueCapacity < 1 {
            throw TraceError(.invalidSettings, "queueCapacity \(self.queueCapacity) is below 1")
        }
        if self.queueByteBudget < 1 {
            throw TraceError(.invalidSettings, "queueByteBudget \(self.queueByteBudget) is below 1")
        }
    }
}

/// A snapshot of the recorder, for `sipctl trace status`.
public struct TraceStatus: Sendable, Codable, Equatable {
    public var recording: Bool
    /// The capture file being written, nil when none is open.
    public var currentFile: String?
    /// Octets written to capture files (pcap headers included) since the last `start`.
    public var bytes: Int64
    /// SIP messages (events) written since the last `start`; one message may be several pcap records (TCP).
    public var records: Int64
    /// Events dropped since the last `start` because the queue was full, or because they could not be framed or
    /// written.
    public var drops: Int64
    /// Our capture files currently in the directory.
    public var filesKept: Int
    /// The settings of the current (or last) recording.
    public var settings: TraceSettings
    /// The last write error, if any, since the last `start`.
    public var lastError: String?

    public init(
        recording: Bool,
        currentFile: String?,
        bytes: Int64,
        records: Int64,
        drops: Int64,
        filesKept: Int,
        settings: TraceSettings,
        lastError: String? = nil
    ) {
        self.recording = recording
        self.currentFile = currentFile
        self.bytes = bytes
        self.records = records
        self.drops = drops
        self.filesKept = filesKept
        self.settings = settings
        self.lastError = lastError
    }
}
