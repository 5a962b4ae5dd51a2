// ConsoleLogHandler: one readable line per event on stderr, colored when stderr is a terminal.

import Logging
import Synchronization

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
    /// Where finished lines go (with their level): the stderr writer, or a test's collector.
    private let output: @Sendable (String, Logger.Level) -> Void

    /// Lines go to stderr through `LogWriter.standardError`, off the calling thread (a `critical` one at once).
    public init(label: String, level: Logger.Level, colored: Bool = isatty(STDERR_FILENO) != 0) {
        self.init(label: label, level: level, colored: colored, output: { line, level in
            LogWriter.standardError.write(line, immediately: level == .critical, urgent: level >= .warning)
        })
    }

    init(label: String, level: Logger.Level, colored: Bool, output: @escaping @Sendable (String) -> Void) {
        self.init(label: label, level: level, colored: colored, output: { line, _ in output(line) })
    }

    init(label: String, level: Logger.Level, colored: Bool, output: @escaping @Sendable (String, Logger.Level) -> Void) {
        self.label = label
        self.logLevel = level
        self.colored = colored
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = Self.timestamp()
        line.reserveCapacity(192)
        line += " "
        let padded = Self.levelNames[event.level] ?? event.level.rawValue.uppercased().padding(to: 7)
        if self.colored {
            line += Self.color(event.level) + padded + "\u{1B}[0m"
        } else {
            line += padded
        }
        line += TerminalText.escaped(event.message.description)
        // Most lines carry one metadata value (the Call-ID) and the handler none: no merge, no sort then.
        let merged = self.metadata.isEmpty ? (event.metadata ?? [:]) : self.metadata.merging(event.metadata ?? [:]) { $1 }
        if !merged.isEmpty {
            let text =
                merged.count == 1
                ? merged.first.map { "\(TerminalText.escaped($0.key))=\(TerminalText.escaped("\($0.value)"))" } ?? ""
                : merged.sorted { $0.key < $1.key }
                    .map { "\(TerminalText.escaped($0.key))=\(TerminalText.escaped("\($0.value)"))" }
                    .joined(separator: " ")
            line += self.colored ? " \u{1B}[2m\(text)\u{1B}[0m" : " \(text)"
        }
        line += "\n"
        self.output(line, event.level)
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

    /// `INFO   `: each level's name padded to one width, made once.
    private static let levelNames: [Logger.Level: String] = Dictionary(
        uniqueKeysWithValues: Logger.Level.allCases.map { ($0, $0.rawValue.uppercased().padding(to: 7)) }
    )

    /// The `HH:MM:SS` of the last second a line was stamped in: at info level the proxy writes two lines per SIP
    /// message, and converting the time to local time (`localtime_r`, which takes glibc's time zone lock) for each
    /// of them cost more than the rest of the stamp.
    private static let lastSecond = Mutex<(second: Int, text: String)>((-1, ""))

    private static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let second = Int(ts.tv_sec)
        let ms = Int(ts.tv_nsec / 1_000_000)
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        if let cached = Self.lastSecond.withLock({ $0.second == second ? $0.text : nil }) {
            return cached + "." + msText
        }
        var t = ts.tv_sec
        var parts = tm()
        localtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let text = "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
        Self.lastSecond.withLock { $0 = (second, text) }
        return text + "." + msText
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        self.count >= width ? self + " " : self + String(repeating: " ", count: width - self.count)
    }
}
