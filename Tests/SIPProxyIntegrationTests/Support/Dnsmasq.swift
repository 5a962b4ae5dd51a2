import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A dnsmasq the test starts itself: one loopback address, a high port, only the records the test gives, never
/// a query forwarded anywhere (`--no-resolv`, `--local=/test/`: names under .test it does not know are NXDOMAIN,
/// anything else REFUSED), no config file, no hosts file, no pid file, in the foreground so `stop()` ends it.
///
/// dnsmasq runs under a small `sh` that waits for it: started directly by Foundation's `Process`, dnsmasq (which
/// closes the descriptors it inherits) stopped Foundation from reaping every child started after it, so each SIPp
/// stayed a zombie and "running" until the test's timeout (seen on Linux with swift-corelibs-foundation). The shell
/// keeps its descriptors, ends dnsmasq on SIGTERM, and writes dnsmasq's pid so `stop()` can kill it by that pid.
final class DnsmasqProcess {
    let ip: String
    let port: Int
    let logURL: URL
    private let pidURL: URL
    private let process = Process()

    var server: String { "\(ip):\(port)" }

    /// `records`: dnsmasq options such as `--srv-host=...`, `--host-record=...`, `--naptr-record=...`.
    static func start(ip: String, records: [String], directory: URL) async throws -> DnsmasqProcess {
        guard let binary = Tool.which("dnsmasq") else {
            throw TestSupportError("dnsmasq is not installed (Debian/Ubuntu: apt-get install dnsmasq-base)")
        }
        let port = PortAllocator.block(on: ip)
        let dns = DnsmasqProcess(ip: ip, port: port, directory: directory)
        _ = FileManager.default.createFile(atPath: dns.logURL.path, contents: nil)
        dns.process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let script = #"p="$1"; shift; "$@" & echo $! > "$p"; trap "kill $! 2>/dev/null" TERM INT; wait $!"#
        dns.process.arguments = ["-c", script, "sh", dns.pidURL.path, binary,
            "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file=",
            "--bind-interfaces", "--listen-address=\(ip)", "--port=\(port)", "--local=/test/",
            "--log-queries", "--log-facility=-",
        ] + records
        dns.process.standardInput = FileHandle.nullDevice
        dns.process.standardOutput = try FileHandle(forWritingTo: dns.logURL)
        dns.process.standardError = try FileHandle(forWritingTo: dns.logURL)
        try dns.process.run()
        guard await PortProbe.waitBound(ip: ip, port: port, udp: true, timeout: .seconds(5)), dns.process.isRunning
        else {
            dns.stop()
            throw TestSupportError("dnsmasq did not start on \(ip):\(port)\n\(readText(dns.logURL))")
        }
        return dns
    }

    private init(ip: String, port: Int, directory: URL) {
        self.ip = ip
        self.port = port
        self.logURL = directory.appendingPathComponent("dnsmasq.log")
        self.pidURL = directory.appendingPathComponent("dnsmasq.pid")
    }

    /// dnsmasq's own pid, as its shell wrote it.
    private var dnsmasqPID: Int32? {
        Int32(readText(pidURL).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    var log: String { readText(logURL) }

    /// SIGTERM to the shell (which ends dnsmasq), then SIGKILL to both; only these two pids. Idempotent.
    func stop() {
        let dnsmasq = dnsmasqPID
        let dnsmasqAlive = { dnsmasq.map { kill($0, 0) == 0 } ?? false }
        if process.processIdentifier > 0, process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(2)
        while (process.isRunning || dnsmasqAlive()) && Date() < deadline { usleep(10_000) }
        if let dnsmasq, dnsmasqAlive() { kill(dnsmasq, SIGKILL) }
        if process.processIdentifier > 0, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            let killDeadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < killDeadline { usleep(10_000) }
        }
    }

    deinit { stop() }
}
