import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum SIPTransport: String, CustomStringConvertible, Sendable, CaseIterable {
    case udp, tcp
    /// SIPp `-t` mode.
    var sippMode: String { self == .udp ? "u1" : "t1" }
    var description: String { rawValue.uppercased() }
}

/// One SIPp user agent endpoint: its own loopback address and a free port block.
struct Phone {
    let user: String
    let ip: String
    let port: Int
    let transport: SIPTransport

    init(_ user: String, ip: String, transport: SIPTransport = .udp) {
        self.user = user
        self.ip = ip
        self.port = PortAllocator.block(on: ip)
        self.transport = transport
    }

    var address: String { "\(ip):\(port)" }
    /// What the registrar should list back for this phone.
    var contactPrefix: String { "<sip:\(user)@\(ip):\(port);transport=\(transport.rawValue.uppercased())>" }
}

/// Result of one SIPp run.
struct SIPpResult: CustomStringConvertible {
    let name: String
    let exitCode: Int32
    let timedOut: Bool
    let command: String
    /// `-trace_msg` log: every SIP message sent/received.
    let messages: String
    /// `-trace_err` log: unexpected messages, errors.
    let errors: String
    /// `-trace_logs` log: <log> actions.
    let logs: String
    let stderr: String

    /// SIPp exits 0 only when every call passed the scenario.
    var passed: Bool { exitCode == 0 && !timedOut }

    /// Received SIP messages (start line + headers + body), in order.
    var received: [String] { Self.split(messages, marker: "message received") }
    var sent: [String] { Self.split(messages, marker: "message sent") }

    func receivedRequests(_ method: String) -> [String] {
        received.filter { $0.hasPrefix("\(method) ") }
    }
    func receivedResponses(_ code: Int) -> [String] {
        received.filter { $0.hasPrefix("SIP/2.0 \(code) ") }
    }
    func sentRequests(_ method: String) -> [String] {
        sent.filter { $0.hasPrefix("\(method) ") }
    }

    private static func split(_ log: String, marker: String) -> [String] {
        // Entries: "----- <date>\n<TRANSPORT> message received [N] bytes :\n\n<message>"
        var out: [String] = []
        for entry in log.components(separatedBy: "----------------------------------------------- ") {
            let lines = entry.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
            guard lines.count >= 3, lines[1].contains(marker) else { continue }
            out.append(String(lines[2]).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return out
    }

    var description: String {
        """
        SIPp '\(name)' exit=\(exitCode)\(timedOut ? " (killed: test timeout)" : "")
        $ \(command)
        --- stderr ---
        \(tail(stderr, maxLines: 30))
        --- errors ---
        \(tail(errors, maxLines: 60))
        --- messages ---
        \(tail(messages, maxLines: 150))
        """
    }
}

/// A SIPp process started in the background (e.g. the callee UAS while the caller runs).
final class SIPpProcess {
    let name: String
    let phone: Phone
    private let process = Process()
    private let directory: URL
    private let command: String
    private var result: SIPpResult?
    private let hardTimeout: Duration

    var messageURL: URL { directory.appendingPathComponent("\(name).messages.log") }
    var errorURL: URL { directory.appendingPathComponent("\(name).errors.log") }
    var logURL: URL { directory.appendingPathComponent("\(name).log") }
    var stderrURL: URL { directory.appendingPathComponent("\(name).stderr") }

    /// - Parameters:
    ///   - remote: `ip:port` the UAC sends to (the proxy); nil for a UAS.
    ///   - service: `-s` (callee user in the Request-URI).
    ///   - keys: `-key k v` (text keywords [k] in the scenario).
    ///   - sets: `-set k v` (global variables [$k]).
    ///   - calls: `-m`.
    ///   - timeout: SIPp `-timeout` (with `-timeout_error`); the process is killed 3 s later.
    init(
        name: String,
        scenario: String,
        phone: Phone,
        remote: String?,
        directory: URL,
        service: String? = nil,
        keys: [String: String] = [:],
        sets: [String: String] = [:],
        calls: Int = 1,
        timeout: Int = 15,
        extraArguments: [String] = []
    ) throws {
        let sipp = try TestEnvironment.requireSIPp()
        self.name = name
        self.phone = phone
        self.directory = directory
        self.hardTimeout = .seconds(timeout + 3)
        var args: [String] = []
        if let remote { args.append(remote) }
        args += [
            "-sf", TestEnvironment.scenario(scenario),
            "-t", phone.transport.sippMode,
            "-i", phone.ip, "-p", String(phone.port), "-bind_local",
            "-mi", phone.ip, "-mp", String(phone.port + 2),
            "-ci", phone.ip, "-cp", String(phone.port + 1),
            "-m", String(calls),
            "-nostdin",
            "-timeout", "\(timeout)s", "-timeout_error",
            "-trace_msg", "-message_file", directory.appendingPathComponent("\(name).messages.log").path,
            "-trace_err", "-error_file", directory.appendingPathComponent("\(name).errors.log").path,
            "-trace_logs", "-log_file", directory.appendingPathComponent("\(name).log").path,
        ]
        if let service { args += ["-s", service] }
        for (k, v) in keys.sorted(by: { $0.key < $1.key }) { args += ["-key", k, v] }
        for (k, v) in sets.sorted(by: { $0.key < $1.key }) { args += ["-set", k, v] }
        args += extraArguments
        self.command = ([sipp] + args).map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        process.executableURL = URL(fileURLWithPath: sipp)
        process.arguments = args
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    /// The result of `wait()`, once it returned.
    var lastResult: SIPpResult? { result }

    /// Set by `stop()`: the test ended this SIPp on purpose (its exit code means nothing).
    private(set) var stoppedByTest = false

    /// Ends a SIPp the test no longer needs (e.g. a UAS that must receive nothing).
    func stop() {
        stoppedByTest = true
        terminate()
    }

    /// Waits until this SIPp (as a server) has bound its SIP port, so requests sent to it
    /// are not lost. Returns false when it did not within the timeout (or died).
    func waitListening(timeout: Duration = .seconds(5)) async -> Bool {
        let udp = phone.transport == .udp
        let bound = await waitUntil(timeout: timeout) {
            !PortProbe.isFree(ip: phone.ip, port: phone.port, udp: udp) || !process.isRunning
        }
        return bound && process.isRunning
    }

    /// Waits for SIPp to exit (killing it after its own timeout + 3 s) and collects logs.
    func wait() async -> SIPpResult {
        if let result { return result }
        let exited = await waitUntil(timeout: hardTimeout) { !process.isRunning }
        if !exited { terminate() }
        let r = SIPpResult(
            name: name,
            exitCode: process.isRunning ? -1 : process.terminationStatus,
            timedOut: !exited,
            command: command,
            messages: readText(messageURL).replacingOccurrences(of: "\r\n", with: "\n"),
            errors: readText(errorURL),
            logs: readText(logURL),
            stderr: readText(stderrURL)
        )
        result = r
        return r
    }

    /// SIGTERM then SIGKILL. Idempotent.
    func terminate() {
        guard process.processIdentifier > 0, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(1)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            let killDeadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < killDeadline { usleep(10_000) }
        }
    }

    deinit { terminate() }
}
