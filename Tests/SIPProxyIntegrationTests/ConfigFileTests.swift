import Foundation
import Testing

/// `sipctl serve --config FILE` with a mistake in the file: a one-line error naming the line, exit status 1, and
/// no proxy left running with the default in force.
@Suite("Config file mistakes")
struct ConfigFileTests {
    @Test("a misspelt key or a word for a number stops the start with the line", arguments: [
        ("log_level: info\nregistar:\n  min_expires: 60\n", "line 2: unknown setting 'registar' (did you mean 'registrar'?)"),
        ("registrar:\n  min_expires: sixty\n", "line 2: 'registrar.min_expires' takes a whole number, not 'sixty'"),
        ("limits:\n  overload_delay: soon\n", "invalid limits.overload_delay in PATH 'soon': milliseconds between 10 and 30000, or off"),
    ])
    func mistakes(text: String, expected: String) async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("config-mistake")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("proxy.yaml")
        try text.write(to: config, atomically: true, encoding: .utf8)
        let run = try await ToolRunner.sipctl(
            ["serve", "--config", config.path, "--listen", "127.0.0.1:0"], in: dir, timeout: 10
        )
        #expect(run.status == 1 && !run.timedOut, "\(run)")
        let lines = run.stderr.split(whereSeparator: \.isNewline)
        let expected = expected.replacingOccurrences(of: "PATH", with: config.path)
        #expect(lines.count == 1 && lines[0].hasSuffix(expected), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("calls.jsonl").path),
                "nothing was started")
    }

    @Test("a bad --listen says what is wrong, in one line, exit status 1, leaving no runtime files", arguments: [
        ("127.0.2.1:99999", "port 99999 is out of range (1-65535)"),
        ("127.0.2.1:sip", "port 'sip' is not a number"),
        ("lab.example:5060", "'lab.example' is not an IP address"),
    ])
    func badListen(value: String, expected: String) async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("cli-listen")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try await ToolRunner.sipctl(["serve", "--listen", value], in: dir, timeout: 10)
        let lines = run.stderr.split(whereSeparator: \.isNewline)
        #expect(run.status == 1 && lines.count == 1, "\(run)")
        #expect(run.stderr.contains("invalid --listen '\(value)': \(expected)"), "\(run)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        #expect(left.filter { !$0.hasPrefix("tool-") }.isEmpty, "runtime files left behind: \(left)")
    }

    @Test("the main commands' help ends with EXAMPLES that name real options", arguments: [
        ["serve"], ["calls"], ["trace"], ["trace", "ladder"], ["forward"],
    ])
    func examples(command: [String]) async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("cli-help")
        defer { try? FileManager.default.removeItem(at: dir) }
        let help = try await ToolRunner.sipctl(command + ["--help"], in: dir)
        #expect(help.succeeded && help.stdout.contains("EXAMPLES:"), "\(help)")
        // Every option an example uses is one its command lists (--help alone would not check: it short-circuits).
        let lines = help.stdout.components(separatedBy: "EXAMPLES:").last?.split(separator: "\n") ?? []
        #expect(lines.count >= 3)
        for line in lines where line.trimmingCharacters(in: .whitespaces).hasPrefix("sipctl ") {
            let words = line.split(separator: " ").map(String.init)
            // `sipctl trace ladder ...` under `sipctl trace`: the options are the subcommand's.
            let path = command.count == 1 && ["trace", "forward"].contains(command[0]) ? Array(words[1...2]) : command
            let own = try await ToolRunner.sipctl(path + ["--help"], in: dir)
            for option in words where option.hasPrefix("--") {
                #expect(own.stdout.contains(option), "'\(line)': \(path.joined(separator: " ")) has no \(option)\n\(own.stdout)")
            }
        }
    }

    @Test("sipctl --version prints the version; a bad --log-level lists the levels")
    func versionAndLevels() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("cli-version")
        defer { try? FileManager.default.removeItem(at: dir) }
        let version = try await ToolRunner.sipctl(["--version"], in: dir)
        #expect(version.succeeded && version.lines.count == 1, "\(version)")
        #expect(version.stdout.split(separator: ".").count == 3, "a semantic version: \(version.stdout)")
        let level = try await ToolRunner.sipctl(["serve", "--log-level", "verbose"], in: dir)
        #expect(!level.succeeded)
        #expect(level.stderr.contains("invalid --log-level 'verbose': one of trace, debug, info, notice, warning, error, critical"),
                "\(level)")
    }
}
