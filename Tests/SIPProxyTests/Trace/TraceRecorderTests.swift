// TraceRecorder: the bounded queue and drop counting, the filter, start/stop/restart/shutdown, status counters and
// the writer thread's own flushing.

import Foundation
import Logging
import Testing

@testable import SIPProxy

@Suite struct TraceRecorderTests {
    let proxy = TraceTest.address("127.0.0.10", 5060)
    let phone = TraceTest.address("127.0.0.11", 5061)

    func recorder() -> TraceRecorder {
        var logger = Logger(label: "trace-test")
        logger.logLevel = .critical
        return TraceRecorder(logger: logger)
    }

    func event(_ method: String = "OPTIONS", size: Int? = nil, summary: TraceSummary? = nil) -> TraceEvent {
        let payload = size.map { [UInt8](repeating: 0x41, count: $0) } ?? TraceTest.sipRequest(method)
        return TraceEvent(
            direction: .received, transport: .udp, source: self.phone, destination: self.proxy, payload: payload,
            summary: summary ?? TraceSummary(method: method, cseqMethod: method)
        )
    }

    func totalRecords(_ directory: String) throws -> Int {
        try TraceFiles.list(directory: directory).reduce(0) { $0 + $1.records }
    }

    @Test func dropsAndCountsWhenTheQueueIsFull() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        let recorder = self.recorder()
        defer { recorder.shutdown() }
        try recorder.start(TraceSettings(directory: dir, flushInterval: 0, queueCapacity: 10))
        recorder.setWriterPausedForTesting(true)
        for _ in 0..<25 { recorder.record(self.event()) }
        var status = recorder.status()
        #expect(status.drops == 15)
        #expect(status.records == 0)
        recorder.setWriterPausedForTesting(false)
        recorder.stop()
        status = recorder.status()
        #expect(status.records == 10)
        #expect(status.drops == 15)
        #expect(!status.recording)
        #expect(try self.totalRecords(dir) == 10)
    }

    @Test func dropsWhenThePayloadBudgetIsSpent() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        let recorder = self.recorder()
        defer { recorder.shutdown() }
        try recorder.start(TraceSettings(directory: dir, queueCapacity: 100, queueByteBudget: 1_000))
        recorder.setWriterPausedForTesting(true)
        for _ in 0..<5 { recorder.record(self.event(size: 400)) }
        #expect(recorder.status().drops == 3)
        recorder.stop()
        #expect(recorder.status().records == 2)
    }

    @Test func appliesTheFilterBeforeQueueing() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        let recorder = self.recorder()
        defer { recorder.shutdown() }
        let filter = try TraceFilter.parse("method=INVITE")
        try recorder.start(TraceSettings(directory: dir, queueCapacity: 2, filter: filter))
        recorder.setWriterPausedForTesting(true)
        recorder.record(self.event("INVITE"))
        for _ in 0..<10 { recorder.record(self.event("REGISTER")) }  // filtered out: neither queued nor dropped
        recorder.record(self.event("SIP/2.0 200 OK", summary: TraceSummary(statusCode: 200, cseqMethod: "INVITE")))
        recorder.stop()
        let status = recorder.status()
        #expect(status.records == 2)
        #expect(status.drops == 0)
        #expect(status.settings.filter == filter)
    }

    @Test func recordIsANoOpWhenNotRecording() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        let recorder = self.recorder()
        defer { recorder.shutdown() }
        recorder.record(self.event())
        #expect(recorder.status() == TraceStatus(
            recording: false, currentFile: nil, bytes: 0, records: 0, drops: 0, filesKept: 0, settings: TraceSettings()
        ))
        try recorder.start(TraceSettings(directory: dir))
        recorder.stop()
        recorder.record(self.event())
        recorder.stop()  // twice is harmless
        #expect(recorder.status().records == 0)
        #expect(try self.totalRecords(dir) == 0)
    }

    @Test func statusCountersWhileAndAfterRecording() throws {
        let dir = TraceTest.temporaryDirectory() + "/nested/traces"
        defer { TraceTest.remove(dir) }
        let recorder = self.recorder()
        defer { recorder.shutdown() }
        try recorder.start(TraceSettings(directory: dir, flushInterval: 0))
        var status = recorder.status()
        #expect(status.recording)
        let current = try #require(status.currentFile)
        #expect(current.hasPrefix(dir + "/sip-") && current.hasSuffix(".pcap"))
        #expect(status.filesKept == 1)
        for _ in 0..<3 { recorder.record(self.event()) }
        // The writer publishes after each batch: wait for it.
        let deadline = Date().addingTimeInterval(5)
        while recorder.status().records < 3 && Date() < deadline { usleep(5_000) }
        status = recorder.status()
        #expect(status.records == 3)
        #expect(status.bytes == TraceFileSystem.size(current))
        recorder.stop()
        status = recorder.status()
        #expect(status.currentFile == nil)
        #expect(status.records == 3)
        #expect(try TraceFiles.list(directory: dir).map(\.records) == [3])
    }

    @Test func theWriterThreadFlushesWithinTheInterval() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        let recorder = self.recorder()
        defer { recorder.shutdown() }
        try recorder.start(TraceSettings(directory: dir, flushInterval: 200))
        let file = try #require(recorder.status().currentFile)
        let started = Date()
        recorder.record(self.event())
        while TraceFiles.info(path: file).records == 0 && Date().timeIntervalSince(started) < 3 { usleep(10_000) }
        let elapsed = Date().timeIntervalSince(started)
        #expect(TraceFiles.info(path: file).records == 1)
        // 200 ms interval, plus generous scheduling slack for a loaded CI machine; well within the 1 s default.
        #expect(elapsed < 1.5, "flushed after \(elapsed) s")
    }

    @Test func restartSwitchesToTheNewSettings() throws {
        let a = TraceTest.temporaryDirectory("restartA")
        let b = TraceTest.temporaryDirectory("restartB")
        defer {
            TraceTest.remove(a)
            TraceTest.remove(b)
        }
        let recorder = self.recorder()
        defer { recorder.shutdown() }
        try recorder.start(TraceSettings(directory: a))
        recorder.record(self.event())
        try recorder.start(TraceSettings(directory: b, maxFiles: 7))
        recorder.record(self.event())
        recorder.record(self.event())
        #expect(recorder.status().settings.maxFiles == 7)
        recorder.stop()
        #expect(try self.totalRecords(a) == 1)
        #expect(try self.totalRecords(b) == 2)
        #expect(recorder.status().records == 2)
    }

    @Test func startRejectsBadSettingsAndUnwritableDirectories() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        _ = FileManager.default.createFile(atPath: dir + "/file", contents: Data())
        let recorder = self.recorder()
        defer { recorder.shutdown() }
        #expect(throws: TraceError(.invalidSettings, "maxFiles 0 is below 1")) {
            try recorder.start(TraceSettings(directory: dir, maxFiles: 0))
        }
        do {
            try recorder.start(TraceSettings(directory: dir + "/file/traces"))
            Issue.record("started in a path below a file")
        } catch {
            #expect(error.kind == .directory)
        }
        #expect(!recorder.status().recording)
        // Still usable afterwards.
        try recorder.start(TraceSettings(directory: dir))
        #expect(recorder.status().recording)
    }

    @Test func shutdownEndsTheWriterAndIsFinal() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        let recorder = self.recorder()
        try recorder.start(TraceSettings(directory: dir))
        for _ in 0..<100 { recorder.record(self.event()) }
        recorder.shutdown()
        recorder.shutdown()
        #expect(!recorder.status().recording)
        #expect(try self.totalRecords(dir) == 100)
        #expect(throws: TraceError.self) { try recorder.start(TraceSettings(directory: dir)) }
        recorder.record(self.event())
        // A recorder that never started shuts down at once.
        self.recorder().shutdown()
    }

    @Test func concurrentRecordingLosesNothingBelowCapacity() async throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        let recorder = self.recorder()
        defer { recorder.shutdown() }
        try recorder.start(TraceSettings(directory: dir, maxFileSize: 200_000, queueCapacity: 100_000))
        let event = self.event()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<1_000 { recorder.record(event) }
                }
            }
        }
        recorder.stop()
        let status = recorder.status()
        #expect(status.records + status.drops == 4_000)
        #expect(status.drops == 0)
        #expect(try self.totalRecords(dir) == 4_000)
    }

    @Test func rotatedFilesEachHoldCompleteTCPStreams() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        let recorder = self.recorder()
        defer { recorder.shutdown() }
        try recorder.start(TraceSettings(directory: dir, maxFileSize: 20_000, flushInterval: 0))
        let phones = [TraceTest.address("127.0.0.21", 40_001), TraceTest.address("127.0.0.22", 40_002)]
        var sent = 0
        for n in 0..<60 {
            let phone = phones[n % 2]
            let connection = ConnectionID(rawValue: UInt64(n % 2 + 1))
            let request = n % 4 < 2
            recorder.record(TraceEvent(
                direction: request ? .received : .sent, transport: .tcp,
                source: request ? phone : self.proxy, destination: request ? self.proxy : phone,
                connection: connection,
                payload: request
                    ? TraceTest.sipRequest("MESSAGE", callID: "m\(n)", bodyLength: 1_500)
                    : TraceTest.sipResponse(200, "OK", method: "MESSAGE", callID: "m\(n)")
            ))
            sent += 1
        }
        recorder.stop()
        #expect(recorder.status().records == Int64(sent))
        let files = try TraceFiles.list(directory: dir)
        #expect(files.count > 3)
        guard TraceTest.tsharkPath != nil else {
            print("tshark not installed: skipping the per-file stream checks")
            return
        }
        var messages = 0
        for file in files {
            let sip = try TraceTest.tsharkFields(file.path, ["sip.Call-ID"], filter: "sip")
            messages += sip.count
            let bad = try TraceTest.tsharkFields(file.path, ["frame.number"], filter: "tcp.analysis.flags")
            #expect(bad.isEmpty, "\(file.path): \(bad)")
            let (_, expert, _) = try TraceTest.tshark(["-r", file.path, "-q", "-z", "expert,warn"])
            #expect(!expert.contains("Warns (") && !expert.contains("Errors ("), "\(file.path): \(expert)")
        }
        #expect(messages == sent)
    }

    @Test func typesEncodeToJSON() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let timestamp = String(
            decoding: try encoder.encode(TraceTimestamp(microseconds: 1_700_000_000_000_001)), as: UTF8.self
        )
        #expect(timestamp == "1700000000000001")
        let partial = Data(#"{"maxFiles":3,"directory":"/tmp/t"}"#.utf8)
        let settings = try JSONDecoder().decode(TraceSettings.self, from: partial)
        #expect(settings == TraceSettings(directory: "/tmp/t", maxFiles: 3))
        let status = TraceStatus(
            recording: true, currentFile: "traces/sip-20231114-221320-0001.pcap", bytes: 10, records: 1, drops: 2,
            filesKept: 1, settings: TraceSettings(filter: try TraceFilter.parse("user=alice"))
        )
        let json = try encoder.encode(status)
        #expect(try JSONDecoder().decode(TraceStatus.self, from: json) == status)
        let info = TraceFileInfo(path: "p", size: 24, first: TraceTimestamp(microseconds: 5), last: nil, records: 0)
        let infoJSON = String(decoding: try encoder.encode(info), as: UTF8.self)
        #expect(infoJSON == #"{"first":5,"path":"p","records":0,"size":24}"#)
    }
}
