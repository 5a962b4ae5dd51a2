import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing

/// One test's world: a fresh proxy in a fresh directory, and the SIPp processes the test
/// starts. `shutdown()` (call it in `defer`) kills whatever is still running.
final class TestBed {
    let label: String
    private(set) var proxy: ProxyProcess
    let directory: URL
    private var processes: [SIPpProcess] = []
    private var counter = 0

    /// `workDirectory`: start the proxy in a directory the test prepared (default: a fresh one).
    init(
        _ label: String, proxyArguments: [String] = [], logLevel: String = "debug",
        proxyIP: String = "127.0.0.10", proxyPort: Int? = nil, workDirectory: URL? = nil
    ) async throws {
        _ = try TestEnvironment.requireSIPp()
        self.label = label
        self.proxy = try await ProxyProcess.start(
            ip: proxyIP, port: proxyPort, label: label, extraArguments: proxyArguments, logLevel: logLevel,
            workDirectory: workDirectory
        )
        self.directory = proxy.workDirectory
    }

    /// Stops the proxy and starts a new one in the same working directory (a new port: phones register again).
    func restartProxy(arguments: [String] = [], logLevel: String = "debug") async throws {
        proxy.stop()
        proxy = try await ProxyProcess.start(label: label, extraArguments: arguments, logLevel: logLevel,
                                             workDirectory: directory)
    }

    /// Starts SIPp in the background. `client` UAs send to the proxy.
    func start(
        _ scenario: String,
        as phone: Phone,
        client: Bool,
        service: String? = nil,
        keys: [String: String] = [:],
        sets: [String: String] = [:],
        calls: Int = 1,
        timeout: Int = 15,
        extraArguments: [String] = []
    ) throws -> SIPpProcess {
        counter += 1
        let base = URL(fileURLWithPath: scenario).lastPathComponent  // a generated scenario is an absolute path
        let name = "\(counter)-\(phone.user)-\(base.replacingOccurrences(of: ".xml", with: ""))"
        var allKeys = ["user": phone.user]
        allKeys.merge(keys) { _, new in new }
        let p = try SIPpProcess(
            name: name, scenario: scenario, phone: phone,
            remote: client ? proxy.hostPort : nil, directory: directory,
            service: service, keys: allKeys, sets: sets, calls: calls, timeout: timeout,
            extraArguments: extraArguments
        )
        processes.append(p)
        return p
    }

    /// Runs a client scenario to completion.
    func run(
        _ scenario: String,
        as phone: Phone,
        service: String? = nil,
        keys: [String: String] = [:],
        sets: [String: String] = [:],
        calls: Int = 1,
        timeout: Int = 15,
        extraArguments: [String] = []
    ) async throws -> SIPpResult {
        let p = try start(scenario, as: phone, client: true, service: service, keys: keys, sets: sets,
                          calls: calls, timeout: timeout, extraArguments: extraArguments)
        return await p.wait()
    }

    /// Starts a server (UAS) scenario and waits until it listens.
    func startUAS(
        _ scenario: String,
        as phone: Phone,
        keys: [String: String] = [:],
        calls: Int = 1,
        timeout: Int = 15
    ) async throws -> SIPpProcess {
        let p = try start(scenario, as: phone, client: false, keys: keys, calls: calls, timeout: timeout)
        guard await p.waitListening() else {
            let r = await p.wait()
            throw TestSupportError("UAS \(p.name) did not start listening\n\(r)")
        }
        return p
    }

    /// Registers `phone` (its own address/port/transport as Contact) and checks the 200 OK.
    @discardableResult
    func register(_ phone: Phone, expires: Int = 300, sourceLocation: SourceLocation = #_sourceLocation) async throws -> SIPpResult {
        let r = try await run("register.xml", as: phone, keys: ["expires": String(expires)])
        #expect(r.passed, "REGISTER of \(phone.user) at \(phone.address) failed\n\(r)\n\(proxy.logTail())",
                sourceLocation: sourceLocation)
        return r
    }

    /// Whether `message` carries the proxy's Record-Route (`<sip:IP:PORT;lr>`, with
    /// `;transport=tcp` when `transport` is TCP) in a Record-Route header.
    func hasProxyRecordRoute(_ message: String, transport: SIPTransport) -> Bool {
        headers("Record-Route", in: message).flatMap { $0.split(separator: ",") }.contains { entry in
            let e = entry.lowercased()
            guard e.contains("sip:\(proxy.hostPort)"), e.contains(";lr") else { return false }
            return transport == .tcp ? e.contains("transport=tcp") : !e.contains("transport=tcp")
        }
    }

    func diagnostics(_ results: SIPpResult...) -> String {
        results.map(\.description).joined(separator: "\n\n") + "\n\n" + proxy.logTail()
    }

    private var isShutDown = false

    /// Stops everything. The directory with the logs is deleted when every SIPp run of
    /// this test passed (set SIPPROXY_IT_KEEP=1 to always keep it); otherwise it stays
    /// for inspection (its path is in the failure messages).
    func shutdown() {
        guard !isShutDown else { return }
        isShutDown = true
        for p in processes { p.terminate() }
        proxy.stop()
        let keep = ProcessInfo.processInfo.environment["SIPPROXY_IT_KEEP"].map { !$0.isEmpty && $0 != "0" } ?? false
        if !keep, processes.allSatisfy({ $0.stoppedByTest || $0.lastResult?.passed == true }) {
            try? FileManager.default.removeItem(at: directory)
            // The per-run parent directory goes too once empty (rmdir refuses otherwise).
            _ = rmdir(directory.deletingLastPathComponent().path)
        }
    }

    deinit { shutdown() }
}

/// Header lines named `name` (case-insensitive) in one SIP message text.
func headers(_ name: String, in message: String) -> [String] {
    message.split(whereSeparator: \.isNewline).compactMap { line in
        let l = String(line)
        guard let colon = l.firstIndex(of: ":") else { return nil }
        guard l[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == name.lowercased() else { return nil }
        return l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}
