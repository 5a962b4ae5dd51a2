import Foundation
import SIPProxy
import Testing

/// The control socket and `sipctl` against hostile or careless input: out-of-range numbers, endless lines, too
/// many connections. The proxy answers one error line and keeps running.
@Suite("Control socket hardening", .serialized)
struct ControlHardeningTests {
    /// Starts a proxy in a fresh directory; `stop(_:)` ends it and removes the directory.
    private func start(_ label: String) async throws -> ProxyProcess {
        try await ProxyProcess.start(label: label, logLevel: "info")
    }

    private func stop(_ proxy: ProxyProcess) {
        proxy.stopAndRemoveDirectory()
    }

    private func socketPath(_ proxy: ProxyProcess) -> String {
        proxy.workDirectory.appendingPathComponent("sipproxy.sock").path
    }

    /// Non-empty stderr lines of a run.
    private func errorLines(_ run: ToolRun) -> [Substring] {
        run.stderr.split(whereSeparator: \.isNewline)
    }

    @Test("sipctl trace start with a huge duration: one-line error, non-zero exit, the proxy keeps running")
    func hugeTraceDurationFromSipctl() async throws {
        let proxy = try await self.start("huge-duration-cli")
        defer { self.stop(proxy) }
        let run = try await ToolRunner.sipctl(["trace", "start", "--duration", "9300000000000s"], in: proxy.workDirectory)
        #expect(!run.succeeded, "\(run)")
        #expect(self.errorLines(run) == ["Error: duration too long: at most 365 days (31536000 s)"], "\(run)")
        #expect(proxy.isRunning, "\(proxy.logTail())")
        let status = try await ToolRunner.sipctl(["status"], in: proxy.workDirectory)
        #expect(status.succeeded, "\(status)\n\(proxy.logTail())")
    }

    @Test("raw trace.start requests with huge numbers are refused by the proxy itself, which keeps running",
          arguments: [
            #"{"maxDuration":9300000000000}"#, #"{"flushInterval":9223372036854775807}"#,
            #"{"maxFileSize":9223372036854775807}"#, #"{"maxDuration":-1}"#,
          ])
    func hugeTraceNumbersOverTheSocket(trace: String) async throws {
        let proxy = try await self.start("huge-duration-raw")
        defer { self.stop(proxy) }
        let client = try UnixSocketClient(path: self.socketPath(proxy))
        client.send(#"{"command":"trace.start","trace":"# + trace + "}\n")
        let line = try #require(client.readLine(), "no answer\n\(proxy.logTail())")
        let response = try ControlCoding.decode(ControlResponse.self, from: line)
        #expect(!response.ok, "\(line)")
        #expect(response.error?.hasPrefix("cannot start the trace: ") == true, "\(line)")
        client.close()
        #expect(proxy.isRunning, "\(proxy.logTail())")
        let status = try await ToolRunner.sipctl(["trace", "status"], in: proxy.workDirectory)
        #expect(status.succeeded && status.stdout.contains("recording:  on"), "\(status)\n\(proxy.logTail())")
    }

    @Test("sipctl serve with a huge --trace-flush-ms or --trace-duration: one-line start-up error, non-zero exit",
          arguments: [
            ["--trace-flush-ms", "9223372036854775807"], ["--trace-duration", "99999999999999999999999h"],
            ["--trace-max-size", "1e300gb"],
          ])
    func hugeServeFlags(flags: [String]) async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("huge-serve-flags")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = PortAllocator.block(on: "127.0.0.10")
        let run = try await ToolRunner.sipctl(["serve", "--listen", "127.0.0.10:\(port)"] + flags, in: dir)
        #expect(!run.succeeded && !run.timedOut, "\(run)")
        let lines = self.errorLines(run)
        #expect(lines.count == 1 && lines[0].hasPrefix("Error: invalid trace settings: ")
                    && lines[0].contains("too l"), "\(run)")
    }

    @Test("1 MB without a newline: the connection is closed with a one-line JSON error, sipctl status still works")
    func endlessLine() async throws {
        let proxy = try await self.start("endless-line")
        defer { self.stop(proxy) }
        let client = try UnixSocketClient(path: self.socketPath(proxy), timeout: 10)
        client.send([UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20))
        let (text, closed) = client.readUntilClosed()
        #expect(closed, "the proxy kept the connection open\n\(proxy.logTail())")
        let lines = text.split(separator: "\n")
        #expect(lines.count == 1, "\(text.prefix(500))")
        let response = try ControlCoding.decode(ControlResponse.self, from: String(lines.first ?? ""))
        #expect(!response.ok && response.error == "request line too long (at most 65536 octets)", "\(text.prefix(500))")
        #expect(proxy.isRunning, "\(proxy.logTail())")
        let status = try await ToolRunner.sipctl(["status"], in: proxy.workDirectory)
        #expect(status.succeeded, "\(status)\n\(proxy.logTail())")
    }

    @Test("connections beyond the limit get a one-line error; once they close the proxy serves sipctl again")
    func connectionLimit() async throws {
        let proxy = try await self.start("connection-limit")
        defer { self.stop(proxy) }
        var held: [UnixSocketClient] = []
        defer { for client in held { client.close() } }
        for _ in 0..<ControlServer.maxConnections {
            let client = try UnixSocketClient(path: self.socketPath(proxy))
            // A round trip proves the proxy accepted and counts this connection (it stays open afterwards).
            client.send(#"{"command":"status"}"# + "\n")
            let answer = try #require(client.readLine(), "no answer on a held connection\n\(proxy.logTail())")
            #expect(try ControlCoding.decode(ControlResponse.self, from: answer).ok)
            held.append(client)
        }
        let extra = try UnixSocketClient(path: self.socketPath(proxy))
        extra.send(#"{"command":"status"}"# + "\n")
        let (text, closed) = extra.readUntilClosed()
        #expect(closed, "connection \(ControlServer.maxConnections + 1) was served\n\(proxy.logTail())")
        let response = try ControlCoding.decode(ControlResponse.self, from: String(text.split(separator: "\n").first ?? ""))
        #expect(!response.ok && response.error == "too many control connections (at most 16)", "\(text)")

        for client in held { client.close() }
        held = []
        var status = try await ToolRunner.sipctl(["status"], in: proxy.workDirectory)
        for _ in 0..<50 where !status.succeeded {
            try await Task.sleep(for: .milliseconds(100))
            status = try await ToolRunner.sipctl(["status"], in: proxy.workDirectory)
        }
        #expect(status.succeeded, "\(status)\n\(proxy.logTail())")
        #expect(proxy.isRunning)
    }
}
