// TraceSink: the recorder hands every event to its sinks whether or not files are recorded, and relayed RTCP a
// phone sent (once, with its Call-ID) whatever `--trace-rtp` says.

import Logging
import NIOCore
import Synchronization
import Testing

@testable import SIPProxy

@Suite struct TraceSinkTests {
    final class CollectingSink: TraceSink {
        let events = Mutex<[TraceEvent]>([])
        let rtcp = Mutex<[(TraceEvent, String)]>([])
        var isActive: Bool { true }
        func consume(_ event: TraceEvent) { self.events.withLock { $0.append(event) } }
        func consumeRTCP(_ event: TraceEvent, callID: String) { self.rtcp.withLock { $0.append((event, callID)) } }
    }

    let proxy = TraceTest.address("127.0.0.10", 5060)
    let phone = TraceTest.address("127.0.0.11", 5061)

    func recorder(_ sink: CollectingSink?) -> TraceRecorder {
        var logger = Logger(label: "trace-test")
        logger.logLevel = .critical
        return TraceRecorder(logger: logger, sinks: sink.map { [$0] } ?? [])
    }

    @Test func sinksGetEveryEventWithoutRecording() {
        let sink = CollectingSink()
        let recorder = self.recorder(sink)
        defer { recorder.shutdown() }
        #expect(!recorder.isRecording)
        #expect(recorder.isTapped)
        recorder.record(TraceTest.event(.received, from: self.phone, to: self.proxy, payload: TraceTest.sipRequest("INVITE")))
        recorder.record(TraceTest.event(.sent, from: self.proxy, to: self.phone, payload: TraceTest.sipResponse(100, "Trying", method: "INVITE")))
        #expect(sink.events.withLock { $0.map(\.direction) } == [.received, .sent])
        #expect(self.recorder(nil).isTapped == false)
    }

    @Test func rtcpFromAPhoneReachesSinksOnceWithItsCallID() {
        let sink = CollectingSink()
        let recorder = self.recorder(sink)
        defer { recorder.shutdown() }
        let report = ByteBuffer(bytes: [0x81, 0xC9, 0x00, 0x01, 0, 0, 0, 1])
        // The relay reads the report, then sends it on: only the first reaches the sinks, even with --trace-rtp off.
        recorder.recordMedia(report, .received, from: self.phone, to: self.proxy, mode: .off, rtp: false, callID: "c1")
        recorder.recordMedia(report, .sent, from: self.proxy, to: self.phone, mode: .off, rtp: false, callID: "c1")
        // RTP is not RTCP.
        recorder.recordMedia(ByteBuffer(bytes: [0x80, 0, 0, 1]), .received, from: self.phone, to: self.proxy,
                             mode: .on, rtp: true, callID: "c1")
        let got = sink.rtcp.withLock { $0 }
        #expect(got.count == 1)
        #expect(got.first?.1 == "c1")
        #expect(got.first?.0.payload == [0x81, 0xC9, 0x00, 0x01, 0, 0, 0, 1])
        #expect(sink.events.withLock { $0.isEmpty })
    }
}
