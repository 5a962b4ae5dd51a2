// ConsoleLogHandler: wire data in log messages and metadata cannot forge lines or drive the terminal.

import Logging
import Synchronization
import Testing

@testable import SIPProxy

@Suite struct ConsoleLogHandlerTests {
    final class Lines: Sendable {
        let storage = Mutex<[String]>([])
        func append(_ line: String) { self.storage.withLock { $0.append(line) } }
        var all: [String] { self.storage.withLock { $0 } }
    }

    func logger(colored: Bool) -> (Logger, Lines) {
        let lines = Lines()
        let logger = Logger(label: "test") { label in
            ConsoleLogHandler(label: label, level: .trace, colored: colored, output: { lines.append($0) })
        }
        return (logger, lines)
    }

    /// A header value as a hostile peer would send it: a bare CR and LF with a forged log line, a terminal clear
    /// and cursor move, a NUL, a BEL, DEL and the 8-bit CSI.
    static let hostile = "evil\r\n10:00:00.000 INFO  forged line\u{1B}[2J\u{1B}[H\0\u{07}\u{7F}\u{9B}31m"
    static let escaped = #"evil\r\n10:00:00.000 INFO  forged line\e[2J\e[H\x00\x07\x7F\x9B31m"#

    @Test func messageAndMetadataAreEscaped() throws {
        let (logger, lines) = self.logger(colored: false)
        logger.warning("rejected header: \(Self.hostile)", metadata: ["uri": "\(Self.hostile)", "plain": "ok"])
        let line = try #require(lines.all.first)
        #expect(lines.all.count == 1)
        // Exactly one line: only the terminating newline, no CR, no ESC, no other control character.
        #expect(line.filter { $0 == "\n" }.count == 1 && line.hasSuffix("\n"))
        #expect(!line.unicodeScalars.dropLast().contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        #expect(line.contains("rejected header: \(Self.escaped)"))
        #expect(line.contains("uri=\(Self.escaped)"))
        #expect(line.contains("plain=ok"))
    }

    @Test func tabsAndNestedMetadataAreEscaped() throws {
        let (logger, lines) = self.logger(colored: false)
        logger.info("a\tb", metadata: ["list": .array(["x\ny"]), "map": .dictionary(["k": "v\u{1B}"])])
        let line = try #require(lines.all.first)
        #expect(line.contains(#"a\tb"#))
        // Arrays and dictionaries are rendered by Swift's debug description, which escapes on its own.
        #expect(line.contains(#"x\ny"#))
        #expect(!line.contains("\u{1B}"))
        #expect(line.filter { $0 == "\n" }.count == 1)
    }

    @Test func ownColorCodesStay() throws {
        let (logger, lines) = self.logger(colored: true)
        logger.error("bad \u{1B}[31m thing", metadata: ["peer": "1.2.3.4\r"])
        let line = try #require(lines.all.first)
        #expect(line.contains("\u{1B}[31mERROR"))
        #expect(line.contains("\u{1B}[0m"))
        #expect(line.contains("\u{1B}[2mpeer=1.2.3.4\\r\u{1B}[0m"))
        #expect(line.contains(#"bad \e[31m thing"#))
    }

    @Test func plainTextIsUnchanged() {
        let text = "INVITE sip:bob@127.0.0.12 ünïcödé → \\n stays"
        #expect(TerminalText.escaped(text) == text)
    }
}
