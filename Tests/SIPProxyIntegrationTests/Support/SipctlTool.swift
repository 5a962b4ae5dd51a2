import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one run of a command-line tool (`sipctl calls`, `sipctl phrases check`, `tshark`) printed.
struct ToolRun: CustomStringConvertible {
    let command: String
    let status: Int32
    let timedOut: Bool
    let stdout: String
    let stderr: String

    var succeeded: Bool { status == 0 && !timedOut }
    /// Non-empty stdout lines.
    var lines: [String] { stdout.split(whereSeparator: \.isNewline).map(String.init) }

    var description: String {
        """
        $ \(command)
        exit \(status)\(timedOut ? " (killed: timeout)" : "")
        --- stdout ---
        \(tail(stdout, maxLines: 60))
        --- stderr ---
        \(tail(stderr, maxLines: 30))
        """
    }
}

/// Runs short-lived tools to completion (killed after `timeout`); output goes through files, so a chatty
/// tool never blocks on a full pipe.
enum ToolRunner {
    /// `sipctl ARGS` in `directory` (where the proxy keeps calls.jsonl and sipproxy.sock).
    static func sipctl(_ arguments: [String], in directory: URL, timeout: TimeInterval = 15) async throws -> ToolRun {
        try await run(TestEnvironment.sipctlBinary(), arguments, in: directory, timeout: timeout)
    }

    static func run(_ executable: String, _ arguments: [String], in directory: URL,
                    timeout: TimeInterval = 15) async throws -> ToolRun {
        let id = UUID().uuidString.prefix(8)
        let out = directory.appendingPathComponent("tool-\(id).stdout")
        let err = directory.appendingPathComponent("tool-\(id).stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        let exited = await waitUntil(timeout: .milliseconds(Int(timeout * 1000))) { !process.isRunning }
        if !exited {
            kill(process.processIdentifier, SIGKILL)
            _ = await waitUntil(timeout: .seconds(2)) { !process.isRunning }
        }
        let command = ([executable] + arguments).map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        return ToolRun(
            command: "(cd \(directory.path) && \(command))",
            status: process.isRunning ? -1 : process.terminationStatus,
            timedOut: !exited,
            stdout: readText(out),
            stderr: readText(err)
        )
    }

    /// Path of an executable on `$PATH` (e.g. tshark), if installed.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
