// ConsoleLogHandler: one readable line per event on stderr, colored when stderr is a terminal.

import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `10:33:18.412 INFO  udp:127.0.0.11:5060 -> INVITE sip:bob@... call_id=...`
///
/// Messages and metadata often quote wire data (a rejected header, a Request-URI, a peer's reason phrase). Control
/// characters in them are escaped (`\r`, `\n`, `\t`, `\e`, `\xNN`), so a packet cannot forge log lines with a bare
/// CR or LF, nor move the cursor or recolor a terminal with ESC sequences; only the handler's own color codes
/// reach the terminal raw.
public struct ConsoleLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let colored: Bool
    /// Where finished lines go: stderr, or a test's collector.
    private let output: @Sendable (String) -> Void

    public init(label: String, level: Logger.Level, colored: Bool = isatty(STDERR_FILENO) != 0) {
        self.init(label: label, level: level, colored: colored, output: Self.writeToStandardError)
    }

    init(label: String, level: Logger.Level, colored: Bool, output: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.logLevel = level
        self.colored = colored
        self.output = output
    }

    /// One write per line so lines from different threads never interleave.
    private static func writeToStandardError(_ line: String) {
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = Self.timestamp()
        line += " "
        let level = event.level.rawValue.uppercased()
        let padded = level.padding(to: 7)
        if self.colored {
            line += Self.color(event.level) + padded + "\u{1B}[0m"
        } else {
            line += padded
        }
        line += TerminalText.escaped(event.message.description)
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        if !merged.isEmpty {
            let text = merged.sorted { $0.key < $1.key }
                .map { "\(TerminalText.escaped($0.key))=\(TerminalText.escaped("\($0.value)"))" }
                .joined(separator: " ")
            line += self.colored ? " \u{1B}[2m\(text)\u{1B}[0m" : " \(text)"
        }
        line += "\n"
        self.output(line)
    }

    private static func color(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: return "\u{1B}[2m"
        case .info: return "\u{1B}[32m"
        case .notice: return "\u{1B}[36m"
        case .warning: return "\u{1B}[33m"
        case .error, .critical: return "\u{1B}[31m"
        }
    }

    private static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var parts = tm()
        localtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let ms = Int(ts.tv_nsec / 1_000_000)
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(msText)"
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        self.count >= width ? self + " " : self + String(repeating: " ", count: width - self.count)
    }
}
