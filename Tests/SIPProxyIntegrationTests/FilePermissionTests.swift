import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The proxy's runtime records (traces, call journal, forwarding state) are private: folders 0700, files 0600;
/// with `--trace-group` the traces are readable by that group (0750, 0640).
@Suite("Runtime file permissions", .serialized)
struct FilePermissionTests {
    /// Permission bits and group id, nil when the path does not exist.
    static func mode(_ url: URL) -> (bits: UInt32, group: UInt32)? {
        var info = stat()
        guard lstat(url.path, &info) == 0 else { return nil }
        return (UInt32(info.st_mode) & 0o7777, UInt32(info.st_gid))
    }

    static func octal(_ bits: UInt32?) -> String { bits.map { String($0, radix: 8) } ?? "missing" }

    /// A group other than our own when we may give files to it (root), else our own.
    static func shareableGroup() -> (name: String, id: UInt32)? {
        if geteuid() == 0 {
            for name in ["daemon", "adm", "root"] {
                if let entry = getgrnam(name) { return (name, UInt32(entry.pointee.gr_gid)) }
            }
        }
        guard let entry = getgrgid(getegid()) else { return nil }
        return (String(cString: entry.pointee.gr_name), UInt32(entry.pointee.gr_gid))
    }

    /// Registers bob and sets a forwarding rule, so the traces, the journal and the forwarding state all exist.
    private func exercise(_ bed: TestBed) async throws {
        try await bed.register(Phone("bob", ip: "127.0.0.12"))
        let forward = try await ToolRunner.sipctl(["forward", "set", "bob", "--busy", "carol"], in: bed.directory)
        #expect(forward.succeeded, "\(forward)")
    }

    @Test("by default: traces/ 0700, pcaps, calls.jsonl, calls.log, calls.inprogress.jsonl, forwarding.json, registrations.sqlite 0600; a 0755 traces/ is tightened")
    func privateByDefault() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("file-modes")
        let traces = dir.appendingPathComponent("traces")
        try FileManager.default.createDirectory(at: traces, withIntermediateDirectories: false)
        chmod(traces.path, 0o755)
        // A journal an older version left world-readable.
        _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("calls.jsonl").path, contents: nil)
        chmod(dir.appendingPathComponent("calls.jsonl").path, 0o644)
        let rotated = dir.appendingPathComponent("calls-20260101-120000.jsonl")
        _ = FileManager.default.createFile(atPath: rotated.path, contents: Data("{}\n".utf8))
        chmod(rotated.path, 0o644)
        let bed = try await TestBed("file-modes", logLevel: "info", workDirectory: dir)
        defer { bed.shutdown() }
        try await self.exercise(bed)

        #expect(Self.mode(traces)?.bits == 0o700, "traces/ is \(Self.octal(Self.mode(traces)?.bits))")
        let pcaps = traceFiles(in: traces)
        #expect(!pcaps.isEmpty, "no pcap in \(traces.path)")
        for file in pcaps {
            #expect(Self.mode(file)?.bits == 0o600, "\(file.lastPathComponent) is \(Self.octal(Self.mode(file)?.bits))")
        }
        #expect(Self.mode(rotated)?.bits == 0o600, "a rotated journal is \(Self.octal(Self.mode(rotated)?.bits))")
        let optional: Set = ["calls.inprogress.jsonl", "registrations.sqlite-wal", "registrations.sqlite-shm"]
        for name in [
            "calls.jsonl", "calls.log", "forwarding.json", "calls.inprogress.jsonl", "sipproxy.sock",
            "registrations.sqlite", "registrations.sqlite-wal", "registrations.sqlite-shm",
        ] {
            let url = dir.appendingPathComponent(name)
            guard !optional.contains(name) || FileManager.default.fileExists(atPath: url.path) else { continue }
            #expect(Self.mode(url)?.bits == 0o600, "\(name) is \(Self.octal(Self.mode(url)?.bits))")
        }
        let log = readText(bed.proxy.stderrURL)
        #expect(log.contains("permissions of traces changed from 0755 to 0700"), "\(bed.proxy.logTail())")
    }

    @Test("--trace-group: traces/ 0750 and pcaps 0640 with that group; the journal stays 0600")
    func sharedWithGroup() async throws {
        let group = try #require(Self.shareableGroup(), "no group to share with")
        let bed = try await TestBed("file-modes-group", proxyArguments: ["--trace-group", group.name], logLevel: "info")
        defer { bed.shutdown() }
        try await self.exercise(bed)
        let traces = bed.directory.appendingPathComponent("traces")
        let folder = Self.mode(traces)
        #expect(folder?.bits == 0o750 && folder?.group == group.id,
                "traces/ is \(Self.octal(folder?.bits)) group \(folder?.group ?? 0), expected 750 group \(group.id)")
        let pcaps = traceFiles(in: traces)
        #expect(!pcaps.isEmpty, "no pcap in \(traces.path)")
        for file in pcaps {
            let m = Self.mode(file)
            #expect(m?.bits == 0o640 && m?.group == group.id,
                    "\(file.lastPathComponent) is \(Self.octal(m?.bits)) group \(m?.group ?? 0)")
        }
        for name in ["calls.jsonl", "calls.log", "forwarding.json"] {
            #expect(Self.mode(bed.directory.appendingPathComponent(name))?.bits == 0o600, "\(name)")
        }
        let status = try await ToolRunner.sipctl(["trace", "status", "--json"], in: bed.directory)
        #expect(status.succeeded && status.stdout.contains("\"name\":\"\(group.name)\""), "\(status)")
    }

    @Test("an unknown --trace-group or trace_group: one-line start-up error, non-zero exit")
    func unknownGroup() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("unknown-group")
        defer { try? FileManager.default.removeItem(at: dir) }
        let name = "no-such-group-\(UUID().uuidString.prefix(6).lowercased())"
        let config = dir.appendingPathComponent("proxy.yaml")
        try "trace_group: \(name)\n".write(to: config, atomically: true, encoding: .utf8)
        for extra in [["--trace-group", name], ["--config", config.path]] {
            let port = PortAllocator.block(on: "127.0.0.10")
            let run = try await ToolRunner.sipctl(["serve", "--listen", "127.0.0.10:\(port)"] + extra, in: dir)
            let lines = run.stderr.split(whereSeparator: \.isNewline)
            #expect(!run.succeeded && !run.timedOut, "\(run)")
            #expect(lines == ["Error: unknown group '\(name)' (--trace-group / trace_group)"], "\(run)")
        }
    }
}
