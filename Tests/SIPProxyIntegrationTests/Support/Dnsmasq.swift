import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A dnsmasq the test starts itself: one loopback address, a high port, only the records the test gives, never
/// a query forwarded anywhere (`--no-resolv`, `--local=/test/`: names under .test it does not know are NXDOMAIN,
/// anything else REFUSED), no config file, no hosts file, no pid file, in the foreground so `stop()` ends it.
final class DnsmasqProcess {
    let ip: String
    let port: Int
    let logURL: URL
    private let process = Process()

    var server: String { "\(ip):\(port)" }

    /// `records`: dnsmasq options such as `--srv-host=...`, `--host-record=...`, `--naptr-record=...`.
    static func start(ip: String, records: [String], directory: URL) async throws -> DnsmasqProcess {
        guard let binary = Tool.which("dnsmasq") else {
            throw TestSupportError("dnsmasq is not installed (Debian/Ubuntu: apt-get install dnsmasq-base)")
        }
        let port = PortAllocator.block(on: ip)
        let dns = DnsmasqProcess(ip: ip, port: port, logURL: directory.appendingPathComponent("dnsmasq.log"))
        _ = FileManager.default.createFile(atPath: dns.logURL.path, contents: nil)
        dns.process.executableURL = URL(fileURLWithPath: binary)
        dns.process.arguments = [
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

    private init(ip: String, port: Int, logURL: URL) {
        self.ip = ip
        self.port = port
        self.logURL = logURL
    }

    var log: String { readText(logURL) }

    /// SIGTERM, then SIGKILL; only this process. Idempotent.
    func stop() {
        guard process.processIdentifier > 0, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            let killDeadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < killDeadline { usleep(10_000) }
        }
    }

    deinit { stop() }
}
