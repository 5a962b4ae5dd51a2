import Foundation
import Testing

/// `sipctl trace ladder` in a terminal: the ladder fits the terminal's real width (bash does not export COLUMNS,
/// so it is read from the terminal), and a `--width` too narrow for any ladder is refused in one line.
@Suite("Ladder width")
struct LadderWidthTests {
    static let capture = TestEnvironment.packageRoot
        .appendingPathComponent("Tests/SIPProxyTests/Fixtures/Analysis/proxy-recorder-udp.pcap").path

    @Test("in an 80- and a 120-column terminal without COLUMNS, every line fits", arguments: [80, 120])
    func terminalWidth(columns: Int) async throws {
        guard let script = ToolRunner.which("script") else {
            Issue.record("script (util-linux) is needed to run sipctl in a pseudo-terminal")
            return
        }
        let dir = try TestEnvironment.makeTemporaryDirectory("ladder-width")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sipctl = try TestEnvironment.sipctlBinary()
        let command = "unset COLUMNS; stty cols \(columns); \(sipctl) trace ladder \(Self.capture) --no-color"
        let run = try await ToolRunner.run(script, ["-qec", command, "/dev/null"], in: dir)
        #expect(run.succeeded, "\(run)")
        let lines = run.stdout.replacingOccurrences(of: "\r", with: "").split(separator: "\n")
        #expect(lines.count > 20 && lines.contains { $0.contains("INVITE") }, "\(run)")
        let widest = lines.map(\.count).max() ?? 0
        #expect(widest <= columns, "a line of \(widest) characters in a \(columns)-column terminal\n\(run.stdout)")
        #expect(widest >= columns - 30, "the ladder uses the width it has (\(widest) of \(columns))")
    }

    @Test("--width below the narrowest ladder is refused with one line and exit status 1")
    func tooNarrow() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("ladder-narrow")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try await ToolRunner.sipctl(["trace", "ladder", Self.capture, "--width", "30"], in: dir)
        let lines = run.stderr.split(whereSeparator: \.isNewline)
        #expect(run.status == 1 && lines.count == 1, "\(run)")
        #expect(run.stderr.contains("--width 30 is too narrow: a ladder needs at least 51 columns"), "\(run)")
        let fits = try await ToolRunner.sipctl(["trace", "ladder", Self.capture, "--width", "60", "--no-color"], in: dir)
        #expect(fits.succeeded, "\(fits)")
    }
}
