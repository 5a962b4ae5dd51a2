// Crash safety: a process writing a trace is killed with SIGKILL; its file must still be readable by libpcap and
// tshark up to the last record the process had reported written.
//
// The child is this test binary itself, re-run with `--filter crashSafetyChild` and the environment variable
// SIPPROXY_TRACE_CRASH_CHILD set to the trace directory: `crashSafetyChild` then records SIP messages forever
// (flushInterval 0) and prints `RECORDED n` after the writer thread has written the n-th. Without the variable it
// does nothing. Linux only: elsewhere the test runner is not a directly runnable binary.

import Foundation
import Testing

@testable import SIPProxy

@Suite struct TraceCrashSafetyTests {
    static let childVariable = "SIPPROXY_TRACE_CRASH_CHILD"

    @Test func crashSafetyChild() throws {
        guard let dir = ProcessInfo.processInfo.environment[Self.childVariable] else { return }
        let recorder = TraceRecorder(logger: .init(label: "crash-child"))
        try recorder.start(TraceSettings(directory: dir, flushInterval: 0))
        let proxy = TraceTest.address("127.0.0.10", 5060)
        let phone = TraceTest.address("127.0.0.11", 5061)
        let deadline = Date().addingTimeInterval(60)  // never outlive a parent that failed to kill us
        var n: Int64 = 0
        while Date() < deadline {
            let tcp = n % 2 == 1
            recorder.record(TraceEvent(
                direction: .received, transport: tcp ? .tcp : .udp, source: phone, destination: proxy,
                connection: tcp ? ConnectionID(rawValue: 1) : nil,
                payload: TraceTest.sipRequest("MESSAGE", callID: "crash-\(n)", bodyLength: 3_000)
            ))
            n += 1
            while recorder.status().records < n { usleep(200) }
            FileHandle.standardOutput.write(Data("RECORDED \(n)\n".utf8))  // unbuffered
        }
    }

    @Test func sigkillLeavesFilesReadableUpToTheLastRecord() throws {
        #if os(Linux)
        let executable = CommandLine.arguments[0]
        guard executable.hasSuffix(".xctest"), FileManager.default.isExecutableFile(atPath: executable) else {
            print("test binary \(executable) cannot be re-run: skipping the SIGKILL test")
            return
        }
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = ["--testing-library", "swift-testing", "--filter", "crashSafetyChild"]
        var environment = ProcessInfo.processInfo.environment
        environment[Self.childVariable] = dir
        child.environment = environment
        let out = Pipe()
        child.standardOutput = out
        child.standardError = FileHandle.nullDevice
        try child.run()

        // Read until the child reports 40 records written, then kill it mid-stream.
        var buffer = ""
        var reported = 0
        let deadline = Date().addingTimeInterval(30)
        while reported < 40 && Date() < deadline {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            buffer += String(decoding: data, as: UTF8.self)
            for line in buffer.split(separator: "\n") where line.hasPrefix("RECORDED ") {
                reported = max(reported, Int(line.dropFirst("RECORDED ".count)) ?? 0)
            }
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        #expect(child.terminationReason == .uncaughtSignal)
        #expect(reported >= 40, "child reported \(reported) records")

        let files = try TraceFiles.list(directory: dir)
        #expect(files.count == 1)
        let file = try #require(files.first)
        // Each event is at least one pcap record (UDP: one; TCP: handshake, segments, ACK).
        #expect(file.records >= reported)
        guard TraceTest.tsharkPath != nil else {
            print("tshark not installed: skipping the tshark half of the check")
            return
        }
        let messages = try TraceTest.tsharkFields(file.path, ["sip.Call-ID"], filter: "sip.Method == \"MESSAGE\"")
        #expect(messages.count >= reported)
        let callIDs = Set(messages.compactMap(\.first))
        for n in 0..<reported { #expect(callIDs.contains("crash-\(n)"), "crash-\(n) missing") }
        #else
        print("SIGKILL test runs on Linux only")
        #endif
    }
}
