import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The result of one external tool run (tshark, tcpdump, sngrep, sipctl).
struct ToolResult: CustomStringConvertible {
    let command: String
    let exitCode: Int32
    let timedOut: Bool
    let stdout: String
    let stderr: String

    var succeeded: Bool { exitCode == 0 && !timedOut }

    var description: String {
        """
        $ \(command)
        exit=\(exitCode)\(timedOut ? " (killed: timeout)" : "")
        --- stdout ---
        \(tail(stdout, maxLines: 60))
        --- stderr ---
        \(tail(stderr, maxLines: 30))
        """
    }
}

enum Tool {
    /// Path of `name` on `$PATH` (or /usr/bin, /usr/sbin), nil if not installed.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/sbin"] {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func require(_ name: String) throws -> String {
        guard let path = which(name) else {
            throw TestSupportError("\(name) is not installed (Debian/Ubuntu: apt-get install tshark tcpdump sngrep)")
        }
        return path
    }

    /// Runs `executable args` with `cwd`, output to temporary files (no pipe can fill up), killing it (its pid
    /// only) after `timeout`. `SIPPROXY_SOCKET` is removed from the environment so that sipctl never finds a
    /// proxy other than the one of `cwd` (or `--socket`).
    static func run(
        _ executable: String, _ args: [String], cwd: URL? = nil, timeout: Duration = .seconds(30),
        environment extra: [String: String] = [:]
    ) async throws -> ToolResult {
        let path = executable.hasPrefix("/") ? executable : try require(executable)
        let scratch = try TestEnvironment.makeTemporaryDirectory("tool")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("stdout")
        let err = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = args
        if let cwd { process.currentDirectoryURL = cwd }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "SIPPROXY_SOCKET")
        env.removeValue(forKey: "DISPLAY")
        env.removeValue(forKey: "WAYLAND_DISPLAY")
        env.merge(extra) { _, new in new }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        let outHandle = try FileHandle(forWritingTo: out)
        let errHandle = try FileHandle(forWritingTo: err)
        defer {
            try? outHandle.close()
            try? errHandle.close()
        }
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
        let exited = await waitUntil(timeout: timeout, interval: .milliseconds(10)) { !process.isRunning }
        if !exited {
            kill(process.processIdentifier, SIGKILL)
            _ = await waitUntil(timeout: .seconds(3)) { !process.isRunning }
        }
        let command = ([path] + args).map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        return ToolResult(
            command: (cwd.map { "(cd \($0.path)) " } ?? "") + command,
            exitCode: process.isRunning ? -1 : process.terminationStatus,
            timedOut: !exited,
            stdout: readText(out),
            stderr: readText(err)
        )
    }
}

/// One SIP message of a capture as tshark decodes it (with TCP reassembly: the frame completing it).
struct CapturedSIP: CustomStringConvertible, Equatable {
    let frame: Int
    let time: Double
    let source: String
    let destination: String
    let sourcePort: Int
    let destinationPort: Int
    let transport: SIPTransport
    /// Request method, or nil for a response.
    let method: String?
    let statusCode: Int?
    let cseqMethod: String
    let callID: String

    /// `INVITE` for a request, `200 INVITE` for a response.
    var key: String { method ?? "\(statusCode ?? 0) \(cseqMethod)" }
    var sourceAddress: String { "\(source):\(sourcePort)" }
    var destinationAddress: String { "\(destination):\(destinationPort)" }

    var description: String {
        "#\(frame) \(transport) \(sourceAddress) -> \(destinationAddress) \(key) \(callID)"
    }
}

enum TShark {
    static let fields = [
        "frame.number", "frame.time_epoch", "ip.src", "ip.dst", "udp.srcport", "udp.dstport", "tcp.srcport",
        "tcp.dstport", "sip.Method", "sip.Status-Code", "sip.CSeq.method", "sip.Call-ID",
    ]

    /// `tshark -r FILE -Y sip -T fields ...` with TCP reassembly; one entry per SIP message.
    static func messages(_ file: String) async throws -> (messages: [CapturedSIP], result: ToolResult) {
        var args = ["-n", "-r", file, "-o", "tcp.desegment_tcp_streams:TRUE", "-Y", "sip", "-T", "fields",
                    "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"]
        for f in fields { args += ["-e", f] }
        let r = try await Tool.run("tshark", args)
        var out: [CapturedSIP] = []
        for line in r.stdout.split(separator: "\n") {
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard c.count >= fields.count, let number = Int(c[0]) else { continue }
            let tcp = !c[6].isEmpty
            // A frame may complete several SIP messages (not expected from the proxy's framer): one entry each.
            let methods = c[8].split(separator: "|").map(String.init)
            let codes = c[9].split(separator: "|").compactMap { Int($0) }
            let cseqs = c[10].split(separator: "|").map(String.init)
            let callIDs = c[11].split(separator: "|").map(String.init)
            let count = max(cseqs.count, callIDs.count)
            // One message per frame is what the proxy's framer produces; should a frame complete several,
            // tshark's columns lose their interleaving: requests are listed first, then responses.
            let kinds: [(String?, Int?)] = methods.map { ($0, nil) } + codes.map { (nil, $0) }
            for i in 0..<count {
                let cseq = i < cseqs.count ? cseqs[i] : ""
                let (method, code) = i < kinds.count ? kinds[i] : (nil, nil)
                out.append(CapturedSIP(
                    frame: number, time: Double(c[1]) ?? 0,
                    source: c[2], destination: c[3],
                    sourcePort: Int(tcp ? c[6] : c[4]) ?? 0, destinationPort: Int(tcp ? c[7] : c[5]) ?? 0,
                    transport: tcp ? .tcp : .udp,
                    method: method, statusCode: code, cseqMethod: cseq,
                    callID: i < callIDs.count ? callIDs[i] : ""
                ))
            }
        }
        return (out, r)
    }

    /// All frames of the file (`frame.number` per record), for comparing with record counts.
    static func frameCount(_ file: String) async throws -> (count: Int, result: ToolResult) {
        let r = try await Tool.run("tshark", ["-n", "-r", file, "-T", "fields", "-e", "frame.number"])
        return (r.stdout.split(separator: "\n").count, r)
    }

    /// Frames matching a display filter.
    static func count(_ file: String, filter: String) async throws -> (count: Int, result: ToolResult) {
        let r = try await Tool.run("tshark", ["-n", "-r", file, "-o", "tcp.desegment_tcp_streams:TRUE",
                                              "-Y", filter, "-T", "fields", "-e", "frame.number"])
        return (r.stdout.split(separator: "\n").count, r)
    }

    /// Whether tshark's stderr reports a damaged file (a record cut short, a bad header...).
    static func reportsDamage(_ r: ToolResult) -> Bool {
        let e = r.stderr.lowercased()
        return e.contains("cut short") || e.contains("appears to be damaged") || e.contains("corrupt")
            || e.contains("isn't a capture file") || e.contains("error")
    }
}

/// One `in  ...` / `out ...` line of the proxy log (`--log-level info`).
struct LoggedSIP: CustomStringConvertible, Equatable {
    enum Direction: String { case received = "in", sent = "out" }
    let direction: Direction
    let transport: SIPTransport
    /// The phone's (remote) address.
    let peer: String
    /// `INVITE` for a request, `200 INVITE` for a response (as `CapturedSIP.key`).
    let key: String
    let callID: String
    /// Local time of day of the log line in seconds (`HH:MM:SS.mmm`), nil if the line has no timestamp.
    var timeOfDay: Double? = nil

    var description: String { "\(direction.rawValue) \(transport) \(peer) \(key) \(callID)" }

    static func == (a: LoggedSIP, b: LoggedSIP) -> Bool {
        a.direction == b.direction && a.transport == b.transport && a.peer == b.peer && a.key == b.key
            && a.callID == b.callID
    }
}

/// The local time of day in seconds, as the proxy log stamps its lines.
func localTimeOfDay(_ date: Date = Date()) -> Double {
    let t = date.timeIntervalSince1970
    var seconds = time_t(t)
    var parts = tm()
    localtime_r(&seconds, &parts)
    return Double(parts.tm_hour * 3600 + parts.tm_min * 60 + parts.tm_sec) + (t - t.rounded(.down))
}

enum ProxyLog {
    /// Parses the proxy's SIP message log lines, in order:
    /// `... in  INVITE sip:bob@h from udp:127.0.0.11:20000 sip.call_id=X`,
    /// `... out 180 Ringing (INVITE) to tcp:127.0.0.11:20000 sip.call_id=X`.
    static func messages(_ text: String) -> [LoggedSIP] {
        var out: [LoggedSIP] = []
        for raw in text.split(separator: "\n") {
            // Strip ANSI colours, if any.
            let line = String(raw).replacingOccurrences(of: "\u{1B}[2m", with: "").replacingOccurrences(of: "\u{1B}[0m", with: "")
            let direction: LoggedSIP.Direction
            let rest: Substring
            if let r = line.range(of: " in  ") {
                direction = .received
                rest = line[r.upperBound...]
            } else if let r = line.range(of: " out ") {
                direction = .sent
                rest = line[r.upperBound...]
            } else {
                continue
            }
            let separator = direction == .received ? " from " : " to "
            guard let sep = rest.range(of: separator, options: .backwards) else { continue }
            let summary = rest[..<sep.lowerBound]
            let after = rest[sep.upperBound...].split(separator: " ")
            guard let peerText = after.first else { continue }
            let transport: SIPTransport
            if peerText.hasPrefix("udp:") { transport = .udp } else if peerText.hasPrefix("tcp:") { transport = .tcp } else { continue }
            let peer = String(peerText.dropFirst(4))
            let callID = after.first { $0.hasPrefix("sip.call_id=") }.map { String($0.dropFirst("sip.call_id=".count)) } ?? ""
            let key: String
            let words = summary.split(separator: " ")
            guard let first = words.first else { continue }
            if let code = Int(first), let last = words.last, last.hasPrefix("("), last.hasSuffix(")") {
                key = "\(code) \(last.dropFirst().dropLast())"
            } else {
                key = String(first)
            }
            var time: Double?
            let stamp = line.prefix(while: { $0 != " " }).split(separator: ":")
            if stamp.count == 3, let h = Double(stamp[0]), let m = Double(stamp[1]), let s = Double(stamp[2]) {
                time = h * 3600 + m * 60 + s
            }
            out.append(LoggedSIP(direction: direction, transport: transport, peer: peer, key: key, callID: callID,
                                 timeOfDay: time))
        }
        return out
    }
}

/// Runs `sipctl` (the binary under test) in `cwd`.
func sipctl(_ args: [String], cwd: URL, timeout: Duration = .seconds(20)) async throws -> ToolResult {
    try await Tool.run(try TestEnvironment.sipctlBinary(), args, cwd: cwd, timeout: timeout)
}

/// Our capture files in `directory`, by name (= by time).
func traceFiles(in directory: URL) -> [URL] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasPrefix("sip-") && $0.hasSuffix(".pcap") }.sorted().map { directory.appendingPathComponent($0) }
}
