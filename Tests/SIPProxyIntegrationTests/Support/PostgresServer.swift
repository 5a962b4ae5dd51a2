import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway PostgreSQL cluster the test starts itself (Debian's `postgresql`): `initdb` in a fresh folder,
/// `pg_ctl` on one loopback address and a free port, its unix socket in that folder, trust authentication, no
/// fsync. PostgreSQL refuses to run as root, so as root (CI) every command runs as `nobody` (`runuser`), which
/// owns the folder. `remove()` (also from `deinit`) stops it (immediate mode) and deletes the folder.
final class PostgresServer {
    let ip: String
    let port: Int
    let directory: URL
    private let bin: String
    private var removed = false
    private var process: Process?
    /// Times the server has started (each start logs one more "ready" line).
    private var starts = 0

    var dataDirectory: URL { directory.appendingPathComponent("data") }
    var logURL: URL { directory.appendingPathComponent("postgres.log") }
    /// What `sipctl serve --location` takes.
    var url: String { "postgresql://sip@\(ip):\(port)/sip" }

    static func start(ip: String) async throws -> PostgresServer {
        guard let bin = Self.binaries() else {
            throw TestSupportError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        }
        // Not under the test's temporary folder: `nobody` must be able to reach it.
        let dir = URL(fileURLWithPath: "/tmp/sipproxy-pg-\(getpid())-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let server = PostgresServer(ip: ip, port: PortAllocator.block(on: ip), directory: dir, bin: bin)
        do {
            if getuid() == 0 { chown(dir.path, 65534, 65534) }
            let initdb = try await server.tool("initdb", ["-D", server.dataDirectory.path, "-U", "sip", "--auth=trust",
                                                          "-E", "UTF8", "--no-sync", "--no-instructions"], timeout: 60)
            guard initdb.succeeded else { throw TestSupportError("initdb failed\n\(initdb)") }
            try await server.startServer()
            let created = try await server.tool("createdb", ["-h", dir.path, "-p", String(server.port), "-U", "sip", "sip"])
            guard created.succeeded else { throw TestSupportError("createdb failed\n\(created)") }
        } catch {
            server.remove()
            throw error
        }
        return server
    }

    private init(ip: String, port: Int, directory: URL, bin: String) {
        self.ip = ip
        self.port = port
        self.directory = directory
        self.bin = bin
    }

    /// Starts the (stopped) server in the foreground under a small `sh`, as `DnsmasqProcess` does (a daemon started
    /// by `pg_ctl` kept Foundation from seeing the tool end), and waits until it accepts connections.
    func startServer() async throws {
        let postgres = "\(bin)/postgres"
        let command = (getuid() == 0 ? ["/usr/sbin/runuser", "-u", "nobody", "--"] : []) + [postgres,
            "-D", dataDirectory.path, "-c", "listen_addresses=\(ip)", "-p", String(port),
            "-c", "unix_socket_directories=\(directory.path)", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off"]
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let process = Process()
        // bash, not dash: the test process starts children with SIGCHLD blocked, and dash's second `wait` then
        // never returns, leaving one idle shell per test behind once PostgreSQL is gone.
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", #""$@" & trap "kill -INT $! 2>/dev/null" TERM INT; wait $!; wait $!"#, "sh"] + command
        process.standardInput = FileHandle.nullDevice
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        let ready = await waitUntil(timeout: .seconds(60), interval: .milliseconds(100)) {
            readText(self.logURL).components(separatedBy: "database system is ready to accept connections").count
                > self.starts + 1 || !process.isRunning
        }
        guard ready, process.isRunning else {
            throw TestSupportError("postgres did not start on \(ip):\(port)\n\(tail(readText(logURL)))")
        }
        starts += 1
    }

    /// Stops the server (fast shutdown: connections are closed, as in an outage) and waits until it is gone.
    func stopServer() async throws {
        guard let pid = postmasterPID else { return }
        kill(pid, SIGINT)
        let stopped = await waitUntil(timeout: .seconds(30), interval: .milliseconds(50)) { kill(pid, 0) != 0 }
        guard stopped else { throw TestSupportError("postgres (pid \(pid)) did not stop") }
        _ = await waitUntil(timeout: .seconds(5)) { !(self.process?.isRunning ?? false) }
    }

    /// The postmaster's pid, from its pid file.
    private var postmasterPID: Int32? {
        let text = readText(dataDirectory.appendingPathComponent("postmaster.pid"))
        return text.split(separator: "\n").first.flatMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// `psql -c SQL` against the database; its output, unaligned, tuples only.
    func query(_ sql: String) async throws -> String {
        let run = try await tool("psql", ["-h", directory.path, "-p", String(port), "-U", "sip", "-d", "sip",
                                          "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard run.succeeded else { throw TestSupportError("psql failed\n\(run)") }
        return run.stdout
    }

    /// Stops the server whatever its state and deletes the folder. Idempotent.
    func remove() {
        guard !removed else { return }
        removed = true
        if let pid = postmasterPID, kill(pid, 0) == 0 {
            kill(pid, SIGQUIT)  // immediate shutdown
            let deadline = Date().addingTimeInterval(10)
            while kill(pid, 0) == 0 && Date() < deadline { usleep(20_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        let keep = ProcessInfo.processInfo.environment["SIPPROXY_IT_KEEP"].map { !$0.isEmpty && $0 != "0" } ?? false
        if !keep { try? FileManager.default.removeItem(at: directory) }
    }

    deinit { remove() }

    /// A PostgreSQL program, as `nobody` when we are root; output through files in a folder `nobody` can write.
    private func tool(_ name: String, _ arguments: [String], timeout: TimeInterval = 20) async throws -> ToolRun {
        let program = "\(bin)/\(name)"
        if getuid() == 0 {
            return try await ToolRunner.run("/usr/sbin/runuser", ["-u", "nobody", "--", program] + arguments,
                                            in: directory, timeout: timeout)
        }
        return try await ToolRunner.run(program, arguments, in: directory, timeout: timeout)
    }

    /// `/usr/lib/postgresql/<newest>/bin`.
    private static func binaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.compactMap { Int($0) }.sorted().reversed()
            .map { "\(root)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/pg_ctl") }
    }
}
