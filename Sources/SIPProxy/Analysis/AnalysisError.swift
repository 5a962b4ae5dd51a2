// AnalysisError: the one error type of the capture analysis (reading pcaps, finding calls, writing exports).

/// A failure of `sipctl trace calls|ladder|export`, printed as one line.
public enum AnalysisError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file does not exist or cannot be read.
    case cannotOpen(path: String, reason: String)
    /// The file is not a pcap or pcapng capture (or its file header is cut short).
    case notACapture(path: String, reason: String)
    /// libpcap failed while reading a record.
    case readFailed(path: String, reason: String)
    /// No dialog has this Call-ID.
    case unknownCall(String)
    /// No dialog has this index (1-based, as `trace calls` prints it).
    case unknownIndex(Int)
    /// The files hold no SIP at all.
    case noCalls
    /// Writing an export failed.
    case writeFailed(path: String, reason: String)
    /// A command-line value (time, alias) could not be understood.
    case invalidArgument(String)

    /// One line: paths and libpcap's reasons are quoted as they are, except control characters (a file name or a
    /// message with a newline must not add lines, nor an ESC drive the terminal).
    public var description: String { TerminalText.escaped(self.text) }

    private var text: String {
        switch self {
        case .cannotOpen(let path, let reason): return "cannot open \(path): \(reason)"
        case .notACapture(let path, let reason): return "\(path) is not a pcap or pcapng file (\(reason))"
        case .readFailed(let path, let reason): return "cannot read \(path): \(reason)"
        case .unknownCall(let id): return "no call with Call-ID '\(id)' in the capture"
        case .unknownIndex(let n): return "no call with index \(n) in the capture (see `sipctl trace calls`)"
        case .noCalls: return "no SIP messages in the capture"
        case .writeFailed(let path, let reason): return "cannot write \(path): \(reason)"
        case .invalidArgument(let text): return text
        }
    }
}
