// Shared helpers for the call journal tests: SIP messages built from text, peers, a fixed clock.

import Foundation
import NIOCore
import Testing

@testable import SIPProxy

/// Namespace of the call journal suites, so `swift test --filter CallLog` selects exactly them.
enum CallLogTests {}

enum CallFixtures {
    /// A fixed zone (+01:00, no DST) so golden strings do not depend on the machine.
    static let zone = TimeZone(secondsFromGMT: 3600)!
    /// 2026-12-01T10:33:18.412+01:00
    static let t0 = WallClock.local(
        year: 2026, month: 12, day: 1, hour: 10, minute: 33, second: 18, millisecond: 412, in: zone
    )

    static func at(_ seconds: Double) -> WallClock { t0.adding(seconds: seconds) }

    static let local = try! SocketAddress(ipAddress: "192.0.2.1", port: 5060)
    static func peer(_ ip: String, _ port: Int = 5060) -> Peer {
        Peer(transport: .udp, remote: try! SocketAddress(ipAddress: ip, port: port), local: local)
    }

    static let alice = peer("192.0.2.10")
    static let bob = peer("192.0.2.20")
    static let bob2 = peer("192.0.2.21")
    static let carol = peer("192.0.2.30")

    static func parse(_ lines: [String], body: String = "") -> SIPMessage {
        var all = lines
        if !body.isEmpty { all.append("Content-Type: application/sdp") }
        all.append("Content-Length: \(body.utf8.count)")
        let text = all.joined(separator: "\r\n") + "\r\n\r\n" + body
        do {
            return try SIPParser().parse(Array(text.utf8))
        } catch {
            fatalError("fixture does not parse: \(error)\n\(text)")
        }
    }

    static func sdp(audioPort: Int = 49170, videoPort: Int? = nil) -> String {
        var lines = [
            "v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
            "m=audio \(audioPort) RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000",
        ]
        if let videoPort { lines += ["m=video \(videoPort) RTP/AVP 96", "a=rtpmap:96 H264/90000"] }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}

/// One call's headers: Call-ID, caller and callee, the caller's tag.
struct TestCall {
    var callID: String
    var fromTag: String
    var caller = "alice"
    var callee = "bob"

    /// The Call-ID reduced to token characters, for Via branches.
    var branchID: String { String(self.callID.filter { $0.isLetter || $0.isNumber }) }

    var callerHeader: String { "\"\(self.caller.capitalized)\" <sip:\(self.caller)@example.com>;tag=\(self.fromTag)" }
    func calleeHeader(_ tag: String?) -> String {
        "<sip:\(self.callee)@example.com>" + (tag.map { ";tag=\($0)" } ?? "")
    }

    func invite(cseq: Int = 1, body: String = "", extra: [String] = []) -> SIPMessage {
        CallFixtures.parse(
            [
                "INVITE sip:\(self.callee)@example.com SIP/2.0",
                "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-\(self.branchID)-\(cseq)",
                "Max-Forwards: 70",
                "From: \(self.callerHeader)",
                "To: \(self.calleeHeader(nil))",
                "Call-ID: \(self.callID)",
                "CSeq: \(cseq) INVITE",
                "Contact: <sip:\(self.caller)@192.0.2.10:5060>",
            ] + extra,
            body: body
        )
    }

    func response(
        _ code: Int, _ reason: String, toTag: String?, cseq: Int = 1, method: String = "INVITE",
        contact: String? = nil, body: String = ""
    ) -> SIPMessage {
        var lines = [
            "SIP/2.0 \(code) \(reason)",
            "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-\(self.branchID)-\(cseq)",
            "From: \(self.callerHeader)",
            "To: \(self.calleeHeader(toTag))",
            "Call-ID: \(self.callID)",
            "CSeq: \(cseq) \(method)",
        ]
        if let contact { lines.append("Contact: <\(contact)>") }
        return CallFixtures.parse(lines, body: body)
    }

    func cancel(cseq: Int = 1) -> SIPMessage {
        CallFixtures.parse([
            "CANCEL sip:\(self.callee)@example.com SIP/2.0",
            "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-\(self.branchID)-\(cseq)",
            "Max-Forwards: 70",
            "From: \(self.callerHeader)",
            "To: \(self.calleeHeader(nil))",
            "Call-ID: \(self.callID)",
            "CSeq: \(cseq) CANCEL",
        ])
    }

    /// An in-dialog request from the caller (`fromCaller`) or the callee (then From/To are swapped, RFC 3261 §12.2).
    func inDialog(
        _ method: String, fromCaller: Bool, toTag: String, cseq: Int, extra: [String] = [], body: String = ""
    ) -> SIPMessage {
        let from = fromCaller ? self.callerHeader : self.calleeHeader(toTag)
        let to = fromCaller ? self.calleeHeader(toTag) : self.callerHeader
        let target = fromCaller ? "sip:\(self.callee)@192.0.2.20:5060" : "sip:\(self.caller)@192.0.2.10:5060"
        return CallFixtures.parse(
            [
                "\(method) \(target) SIP/2.0",
                "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-\(self.branchID)-\(method)-\(cseq)",
                "Max-Forwards: 70",
                "From: \(from)",
                "To: \(to)",
                "Call-ID: \(self.callID)",
                "CSeq: \(cseq) \(method)",
            ] + extra,
            body: body
        )
    }

    /// A response to an in-dialog request sent by the caller or the callee.
    func inDialogResponse(
        _ code: Int, method: String, fromCaller: Bool, toTag: String, cseq: Int, body: String = ""
    ) -> SIPMessage {
        let from = fromCaller ? self.callerHeader : self.calleeHeader(toTag)
        let to = fromCaller ? self.calleeHeader(toTag) : self.callerHeader
        return CallFixtures.parse(
            [
                "SIP/2.0 \(code) \(SIPStatus.defaultReason(code))",
                "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-\(self.branchID)-\(method)-\(cseq)",
                "From: \(from)",
                "To: \(to)",
                "Call-ID: \(self.callID)",
                "CSeq: \(cseq) \(method)",
            ],
            body: body
        )
    }
}

/// Drives a tracker the way the proxy does: each relayed message is observed as received, then as sent.
struct TrackerScript {
    var tracker: CallTracker
    var events: [CallEvent] = []

    init(configure: (inout CallTracker.Configuration) -> Void = { _ in }) {
        var configuration = CallTracker.Configuration()
        configuration.timeZone = CallFixtures.zone
        configure(&configuration)
        self.tracker = CallTracker(configuration: configuration)
    }

    /// Received from `from`, then sent to `to`, at `t` seconds after t0.
    mutating func relay(_ message: SIPMessage, from: Peer, to: Peer, at t: Double) {
        self.events += self.tracker.observe(message, direction: .received, peer: from, at: CallFixtures.at(t))
        self.events += self.tracker.observe(message, direction: .sent, peer: to, at: CallFixtures.at(t))
    }

    /// Received only (absorbed by the proxy, e.g. a branch's 487 after another branch answered).
    mutating func receive(_ message: SIPMessage, from: Peer, at t: Double) {
        self.events += self.tracker.observe(message, direction: .received, peer: from, at: CallFixtures.at(t))
    }

    /// Sent only (made by the proxy, e.g. 100 Trying or a 404).
    mutating func send(_ message: SIPMessage, to: Peer, at t: Double) {
        self.events += self.tracker.observe(message, direction: .sent, peer: to, at: CallFixtures.at(t))
    }

    var names: [String] { self.events.map(\.name) }

    var ended: [CallRecord] {
        self.events.compactMap { if case .ended(let r) = $0 { return r } else { return nil } }
    }
}
