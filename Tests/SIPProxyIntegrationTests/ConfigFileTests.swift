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
        ("conferences:\n  - \"800\"\n  - {name: \"801\", pin: \"12#\"}\n", "line 3: invalid pin '12#' of room 801 in conferences: 1-16 digits or *"),
        ("conferences:\n  - {room: \"801\"}\n", "line 2: unknown key 'room' in a room of conferences (name, pin)"),
        ("conference_participants: 1\n", "invalid conference_participants in PATH 1: 2 to 10000"),
        ("conference_size: 5000\n", "invalid conference_size in PATH 5000: 2 to 1000"),
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

    @Test("conferences as strings and {name, pin} mappings, conference_size, conference_factory and conference_participants are in force")
    func conferenceKeys() async throws {
        let config = try TestEnvironment.makeTemporaryDirectory("conference-config").appendingPathComponent("proxy.yaml")
        defer { try? FileManager.default.removeItem(at: config.deletingLastPathComponent()) }
        try """
            conferences:
              - "800"
              - {name: "801", pin: "4321"}
            conference_size: 5
            conference_participants: 7
            conference_factory: conf
            media:
              rtp_ports: 30520-30559
            """.write(to: config, atomically: true, encoding: .utf8)
        let bed = try await TestBed("conference-config", proxyArguments: ["--config", config.path], logLevel: "info")
        defer { bed.shutdown() }
        let status = try await sipctl(["status"], cwd: bed.directory)
        #expect(status.stdout.contains("conference: 5 per room, 7 in all rooms"), "\(status)")
        // Both rooms exist (lock knows them), a room not listed does not.
        for room in ["800", "801"] {
            let lock = try await sipctl(["conference", "lock", room, "--off"], cwd: bed.directory)
            #expect(lock.succeeded, "\(room): \(lock)")
        }
        let unknown = try await sipctl(["conference", "lock", "802"], cwd: bed.directory)
        #expect(!unknown.succeeded && unknown.stderr.contains("no conference room '802'"), "\(unknown)")
        // 801's PIN came from the mapping; the factory opens conf-1.
        let proxy = (bed.proxy.ip, bed.proxy.port)
        let erin = try RoomParticipant("erin", ip: "127.0.0.15", proxy: proxy)
        try erin.join("801")
        let frank = try RoomParticipant("frank", ip: "127.0.0.16", proxy: proxy)
        try frank.join("conf")
        #expect(frank.roomTarget.hasPrefix("sip:conf-1@"), "the factory's 2xx names the new room: \(frank.roomTarget)")
        let rooms = try await ConferenceMixTests.rooms(bed) { $0.count == 2 }
        #expect(rooms.first { $0.room == "801" }?.pin == true, "\(rooms)")
        #expect(rooms.contains { $0.room == "conf-1" }, "\(rooms)")
        #expect(try erin.hangUp() && frank.hangUp())
    }
}
