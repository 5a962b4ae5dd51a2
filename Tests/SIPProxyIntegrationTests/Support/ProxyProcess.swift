import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A running `sipctl serve`, started in its own temporary working directory.
/// Stdout (banner) and stderr (logs) go to files in that directory.
/// `stop()` (also called from `deinit`) sends SIGTERM, then SIGKILL after a grace period.
final class ProxyProcess {
    let ip: String
    let port: Int
    let workDirectory: URL
    let stdoutURL: URL
    let stderrURL: URL
    private let process = Process()
    private(set) var exitStatus: Int32?

    /// `sip:ip:port` host part used in Request-URIs and AORs.
    var hostPort: String { "\(ip):\(port)" }

    private init(ip: String, port: Int, workDirectory: URL) {
        self.ip = ip
        self.port = port
        self.workDirectory = workDirectory
        self.stdoutURL = workDirectory.appendingPathComponent("proxy.stdout")
        self.stderrURL = workDirectory.appendingPathComponent("proxy.stderr")
    }

    /// Starts the proxy listening on `ip:<free port>` (or `ip:port` when given) and waits for `SIPProxy ready`.
    /// `restarting` reuses an earlier (stopped or killed) proxy's address, port and working directory, so the
    /// new run finds what the old one left there (call journal, snapshot); its stdout/stderr are appended.
    static func start(
        ip: String = "127.0.0.10",
        port fixedPort: Int? = nil,
        label: String,
        extraArguments: [String] = [],
        logLevel: String = "debug",
        readyTimeout: Duration = .seconds(15),
        workDirectory: URL? = nil,
        restarting previous: ProxyProcess? = nil,
        wrapper: [String] = []
    ) async throws -> ProxyProcess {
        let binary = try TestEnvironment.sipctlBinary()
        let ip = previous?.ip ?? ip
        let port = previous?.port ?? fixedPort ?? PortAllocator.block(on: ip)
        // A given directory restarts a proxy where an earlier one ran (its journal, state files).
        let dir = try previous?.workDirectory ?? workDirectory ?? TestEnvironment.makeTemporaryDirectory("proxy-\(label)")
        let proxy = ProxyProcess(ip: ip, port: port, workDirectory: dir)
        if previous == nil {
            _ = FileManager.default.createFile(atPath: proxy.stdoutURL.path, contents: nil)
            _ = FileManager.default.createFile(atPath: proxy.stderrURL.path, contents: nil)
        } else {
            // The "ready" wait must see this run's banner, not the old one.
            try? FileManager.default.removeItem(at: proxy.stdoutURL)
            _ = FileManager.default.createFile(atPath: proxy.stdoutURL.path, contents: nil)
        }
        // A wrapper (e.g. `prlimit --nofile=64 --`) runs the proxy with other limits; it must exec, so the pid is
        // the proxy's.
        proxy.process.executableURL = URL(fileURLWithPath: wrapper.first ?? binary)
        proxy.process.arguments = Array(wrapper.dropFirst()) + (wrapper.isEmpty ? [] : [binary])
            + ["serve", "--listen", "\(ip):\(port)", "--log-level", logLevel] + Self.workerArguments(extraArguments)
            + Self.overloadArguments(extraArguments) + Self.dnsArguments(extraArguments)
            + extraArguments
        proxy.process.currentDirectoryURL = dir
        proxy.process.standardInput = FileHandle.nullDevice
        proxy.process.standardOutput = try FileHandle(forWritingTo: proxy.stdoutURL)
        let stderrHandle = try FileHandle(forWritingTo: proxy.stderrURL)
        stderrHandle.seekToEndOfFile()
        proxy.process.standardError = stderrHandle
        try proxy.process.run()

        let ready = await waitUntil(timeout: readyTimeout) {
            readText(proxy.stdoutURL).contains("SIPProxy ready") || !proxy.process.isRunning
        }
        guard ready, proxy.process.isRunning, readText(proxy.stdoutURL).contains("SIPProxy ready") else {
            let why = proxy.process.isRunning ? "no 'SIPProxy ready' within \(readyTimeout)" : "exited with \(proxy.process.terminationStatus)"
            proxy.stop()
            throw TestSupportError("""
                sipctl serve did not start (\(why)): \(binary) \(proxy.process.arguments ?? [])
                --- stdout ---
                \(readText(proxy.stdoutURL))
                --- stderr ---
                \(tail(readText(proxy.stderrURL)))
                """)
        }
        return proxy
    }

    var isRunning: Bool { process.isRunning }

    /// The proxy's process id (only ever signal this one: other `sipctl serve` processes run on the machine).
    var pid: Int32 { process.processIdentifier }

    /// Sends `signal` (e.g. SIGKILL) and waits up to `timeout` for the process to end. Returns whether it ended;
    /// the exit status is then recorded, so `stop()` does nothing more.
    @discardableResult
    func kill(signal: Int32, timeout: TimeInterval = 5) -> Bool {
        guard exitStatus == nil, process.processIdentifier > 0, process.isRunning else { return !process.isRunning }
        posixKill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if !process.isRunning { exitStatus = process.terminationStatus }
        return !process.isRunning
    }

    /// The `sipctl serve` process id (0 before it started), e.g. to send it SIGHUP.
    var processIdentifier: Int32 { process.processIdentifier }

    /// SIGKILL (a crash: no graceful shutdown) and wait until it is gone.
    func crash() {
        self.kill(signal: SIGKILL, timeout: 3)
    }

    /// Proxy state and log (stderr) tail, for failure messages.
    func logTail(_ lines: Int = 120) -> String {
        var state = ""
        if exitStatus == nil, !process.isRunning {
            let reason = process.terminationReason == .uncaughtSignal ? "killed by signal" : "exited with status"
            state = "!!! sipctl is NOT running: \(reason) \(process.terminationStatus) before the test stopped it"
                + " (a SIGTERM logged below that the test did not send came from another process)\n"
        }
        return state + "--- sipctl stderr (\(stderrURL.path)) ---\n" + tail(readText(stderrURL), maxLines: lines)
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Idempotent. Returns the exit status.
    @discardableResult
    func stop(grace: TimeInterval = 3) -> Int32? {
        if let exitStatus { return exitStatus }
        guard process.processIdentifier > 0 else { return nil }
        if process.isRunning {
            posixKill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(grace)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning {
                posixKill(process.processIdentifier, SIGKILL)
                let killDeadline = Date().addingTimeInterval(2)
                while process.isRunning && Date() < killDeadline { usleep(10_000) }
            }
        }
        if !process.isRunning {
            exitStatus = process.terminationStatus
        }
        return exitStatus
    }

    /// Stops the proxy and removes its working directory (for tests that start a proxy without a TestBed; failure
    /// messages carry `logTail()` already).
    func stopAndRemoveDirectory() {
        self.stop()
        try? FileManager.default.removeItem(at: self.workDirectory)
        // The per-run parent goes too once empty (rmdir refuses otherwise).
        _ = rmdir(self.workDirectory.deletingLastPathComponent().path)
    }

    deinit { stop() }
}

/// `kill(2)` (the name `kill` is taken by `ProxyProcess.kill(signal:)` inside the class).
private func posixKill(_ pid: Int32, _ signal: Int32) {
    _ = kill(pid, signal)
}

extension ProxyProcess {
    /// `--workers N` from SIPPROXY_TEST_WORKERS (scripts/test.sh runs the integration suite with 1 and with 2
    /// shards), unless the test chose its own.
    static func workerArguments(_ extra: [String]) -> [String] {
        guard !extra.contains("--workers"),
            let value = ProcessInfo.processInfo.environment["SIPPROXY_TEST_WORKERS"], Int(value) != nil
        else { return [] }
        return ["--workers", value]
    }

    /// The suite runs dozens of proxies, SIPp and tshark at once on two cores: a proxy can wait a few hundred
    /// milliseconds for a core with datagrams queued, which the default overload control (200 ms) would answer
    /// with 503s that fail unrelated tests. A second of backlog still sheds; the overload test sets its own.
    /// Tests stay on loopback: a proxy with no name server of the test's own asks a dead loopback port rather than
    /// the machine's resolv.conf servers (a call to a domain name would otherwise send DNS queries off the machine).
    static func dnsArguments(_ extra: [String]) -> [String] {
        extra.contains("--dns") || extra.contains("--config") ? [] : ["--dns", "127.0.0.1:9"]
    }

    static func overloadArguments(_ extra: [String]) -> [String] {
        extra.contains("--overload-delay") ? [] : ["--overload-delay", "1000"]
    }
}
