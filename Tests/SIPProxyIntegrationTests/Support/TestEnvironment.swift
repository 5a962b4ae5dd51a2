import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Locations of the package, the scenarios, and the binaries the integration tests drive.
enum TestEnvironment {
    /// `<package root>`, derived from this source file's path
    /// (`<root>/Tests/SIPProxyIntegrationTests/Support/TestEnvironment.swift`).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // SIPProxyIntegrationTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // root

    static let scenariosDirectory: URL = packageRoot.appendingPathComponent("Scenarios")

    /// A scenario in `Scenarios/`, or an absolute path (a scenario a test generated).
    static func scenario(_ name: String) -> String {
        if name.hasPrefix("/") { return name }
        return scenariosDirectory.appendingPathComponent(name).path
    }

    /// Writes a copy of `Scenarios/<name>` into `directory` with `replacements` applied (e.g. another status
    /// line: SIPp needs response codes at load time, so they cannot be `-key` values); returns its path.
    static func scenarioCopy(_ name: String, in directory: URL, label: String,
                             replacing replacements: [(String, String)]) throws -> String {
        var text = try String(contentsOfFile: scenario(name), encoding: .isoLatin1)
        for (old, new) in replacements {
            guard text.contains(old) else { throw TestSupportError("\(name) has no '\(old)'") }
            text = text.replacingOccurrences(of: old, with: new)
        }
        let url = directory.appendingPathComponent("\(label)-\(name)")
        try text.write(to: url, atomically: true, encoding: .isoLatin1)
        return url.path
    }

    /// The `sipctl` executable: `$SIPCTL_BIN`, else next to the running test bundle
    /// (`.build/debug/`), else `<package root>/.build/debug/sipctl`.
    static func sipctlBinary() throws -> String {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["SIPCTL_BIN"], !env.isEmpty {
            guard fm.isExecutableFile(atPath: env) else {
                throw TestSupportError("SIPCTL_BIN=\(env) is not an executable file")
            }
            return env
        }
        var candidates: [String] = []
        if let argv0 = CommandLine.arguments.first {
            var dir = URL(fileURLWithPath: argv0).deletingLastPathComponent()
            // On macOS the test binary sits inside X.xctest/Contents/MacOS.
            for _ in 0..<4 {
                candidates.append(dir.appendingPathComponent("sipctl").path)
                dir = dir.deletingLastPathComponent()
            }
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/sipctl").path)
        for candidate in candidates where fm.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw TestSupportError("sipctl binary not found (tried \(candidates)); set SIPCTL_BIN")
    }

    /// Path of `sipp` on `$PATH`, if installed.
    static let sippBinary: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/sipp"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        for candidate in ["/usr/bin/sipp", "/usr/local/bin/sipp"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return nil
    }()

    static func requireSIPp() throws -> String {
        guard let sipp = sippBinary else {
            throw TestSupportError("sipp is not installed (Debian/Ubuntu: apt-get install sip-tester)")
        }
        return sipp
    }

    /// A fresh directory for one test's runtime files (proxy cwd, SIPp logs).
    static func makeTemporaryDirectory(_ label: String) throws -> URL {
        let base = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("sipproxy-it-\(getpid())", isDirectory: true)
        let safe = label.map { $0.isLetter || $0.isNumber ? $0 : "-" }
        let dir = base.appendingPathComponent("\(String(safe))-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

struct TestSupportError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` until it is true or `timeout` elapses; returns whether it became true.
func waitUntil(timeout: Duration, interval: Duration = .milliseconds(20), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while true {
        if condition() { return true }
        if clock.now >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
}

func readText(_ url: URL) -> String {
    guard let data = FileManager.default.contents(atPath: url.path) else { return "" }
    return String(decoding: data, as: UTF8.self)
}

/// Last `maxLines` lines of a text, for failure messages.
func tail(_ text: String, maxLines: Int = 80) -> String {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    if lines.count <= maxLines { return text }
    return "… (\(lines.count - maxLines) lines cut)\n" + lines.suffix(maxLines).joined(separator: "\n")
}

/// A self-signed certificate for 127.0.0.10 (`cert.pem`, `key.pem` in `directory`, valid one day), made with
/// openssl, for the TLS listener of a test proxy. Throws when openssl is missing or fails.
func makeSelfSignedCertificate(in directory: URL, ip: String? = nil) async throws -> (certificate: String, key: String) {
    guard let openssl = ToolRunner.which("openssl") else {
        throw TestSupportError("openssl is needed for TLS tests (scripts/setup.sh installs it)")
    }
    // With `ip`, the certificate names that address (subjectAltName), as a TLS client checking names requires.
    let suffix = ip.map { "-\($0)" } ?? ""
    let key = directory.appendingPathComponent("key\(suffix).pem").path
    let certificate = directory.appendingPathComponent("cert\(suffix).pem").path
    let made = try await ToolRunner.run(openssl, [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
        "-subj", "/CN=\(ip ?? "127.0.0.10")",
    ] + (ip.map { ["-addext", "subjectAltName=IP:\($0)"] } ?? []), in: directory, timeout: 30)
    guard made.status == 0 else { throw TestSupportError("openssl could not make a certificate\n\(made)") }
    return (certificate, key)
}
