// The call state function, the call filter, CSV/JSON output and the clock.

import Foundation
import Testing

@testable import SIPProxy

@Suite("Analysis: call state, filters and formats")
struct AnalysisCallStateTests {
    static func message(_ label: String, cseq: UInt32 = 1, method: String = "INVITE") -> SIPMessageInfo {
        let code = Int(label)
        return SIPMessageInfo(
            isRequest: code == nil, method: code == nil ? label : method, statusCode: code ?? 0, reason: "",
            requestURI: "", callID: "c", cseqNumber: cseq, from: "", to: "", fromTag: nil, toTag: nil, branch: nil,
            linkedCallID: nil, hasSDP: false, media: []
        )
    }

    static func state(_ labels: [(String, UInt32)]) -> DialogState? {
        CallProgress.derive(labels.enumerated().map { (Self.message($1.0, cseq: $1.1), CaptureTime($0)) }).state
    }

    @Test("states follow the INVITE transaction and the BYE")
    func states() {
        #expect(Self.state([("INVITE", 1), ("100", 1)]) == .setup)
        #expect(Self.state([("INVITE", 1), ("200", 1), ("ACK", 1)]) == .inCall)
        #expect(Self.state([("INVITE", 1), ("200", 1), ("ACK", 1), ("BYE", 2)]) == .completed)
        let cancelled = CallProgress.derive([
            (Self.message("INVITE"), 0), (Self.message("180"), 1), (Self.message("CANCEL"), 2),
            (Self.message("200", method: "CANCEL"), 3), (Self.message("487"), 4),
        ])
        #expect(cancelled.state == .cancelled)
        #expect(Self.state([("INVITE", 1), ("486", 1), ("ACK", 1)]) == .busy)
        #expect(Self.state([("INVITE", 1), ("302", 1)]) == .diverted)
        #expect(Self.state([("INVITE", 1), ("407", 1), ("ACK", 1), ("INVITE", 2), ("403", 2)]) == .failed)
        // The journal's words (CallOutcome): 603 declined, 404 unreachable, 480 unreachable unless a phone rang.
        #expect(Self.state([("INVITE", 1), ("603", 1)]) == .declined)
        #expect(Self.state([("INVITE", 1), ("404", 1)]) == .unreachable)
        #expect(Self.state([("INVITE", 1), ("480", 1)]) == .unreachable)
        #expect(Self.state([("INVITE", 1), ("180", 1), ("480", 1)]) == .noAnswer)
        #expect(Self.state([("INVITE", 1), ("180", 1), ("487", 1)]) == .noAnswer, "487 without a CANCEL: Timer C")
        #expect(Self.state([("INVITE", 1), ("408", 1)]) == .noAnswer)
        #expect(Self.state([("INVITE", 1), ("407", 1), ("ACK", 1), ("INVITE", 2), ("100", 2)]) == .setup)
        #expect(Self.state([("REGISTER", 1), ("200", 1)]) == nil)
        let progress = CallProgress.derive([
            (Self.message("INVITE"), 0), (Self.message("200"), 2_000_000_000),
            (Self.message("BYE", cseq: 2), 7_000_000_000),
        ])
        #expect(progress.answered == 2_000_000_000)
        #expect(progress.ended == 7_000_000_000)
    }

    @Test("filters by time, user and method; CSV quotes; JSON parses")
    func filtersAndFormats() throws {
        let (calls, _) = try CallCollector.collect([
            AnalysisFixtures.path("sipp-tcp-lo.pcap"), AnalysisFixtures.path("tcp-split-coalesced.pcap"),
        ])
        #expect(calls.count == 2)
        #expect(calls.filter(CallFilter(user: "ALICE").matches).map(\.callID) == ["split-coalesced-1@10.0.0.1"])
        #expect(calls.filter(CallFilter(method: "register").matches).isEmpty)
        let since = try #require(CaptureClock.parse("2024-01-01 00:00"))
        #expect(calls.filter(CallFilter(since: since).matches).count == 1)
        #expect(calls.filter(CallFilter(until: since).matches).count == 1)
        let csv = CallList.csv(calls)
        #expect(csv.hasPrefix("index,start,call_id,from,to,method,messages,state,duration\r\n"))
        let json = try JSONSerialization.jsonObject(with: Data(CallList.json(calls).utf8)) as? [[String: Any]]
        #expect(json?.count == 2)
        #expect(json?.first?["state"] as? String == "completed")
    }

    @Test("the clock formats and parses UTC")
    func clock() {
        let time: CaptureTime = 1_700_000_000_123_456_000
        #expect(CaptureClock.dateTime(time) == "2023-11-14 22:13:20.123456")
        #expect(CaptureClock.parse("2023-11-14T22:13:20.123456Z") == time)
        #expect(CaptureClock.parse("1700000000") == 1_700_000_000_000_000_000)
        #expect(CaptureClock.parse("yesterday") == nil)
        #expect(CaptureClock.delta(1_500_000) == "+0.001500")
        #expect(CaptureClock.seconds(8_499_249_000) == "8.499")
    }

    @Test("IPv6 addresses are written as RFC 5952 text")
    func ipv6Text() {
        let bytes: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1]
        #expect(IPAddress(bytes, at: 0, length: 16).description == "2001:db8::1")
        #expect(IPAddress([127, 0, 0, 1], at: 0, length: 4).description == "127.0.0.1")
    }

    @Test("grouping links dialogs by X-Call-ID and by a shared Call-ID prefix")
    func grouping() {
        #expect(CallSelection.sharesPrefix("abc123@host", "abc123-b2b@other"))
        #expect(!CallSelection.sharesPrefix("abc123@host", "abc1234@host"))
    }
}
