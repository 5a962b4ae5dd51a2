// The live ladder of `sipctl trace follow`: arrows appended once, titles and ends of calls, fresh pictures.

import Foundation
import Testing

@testable import SIPProxy

@Suite("Analysis: live ladder (trace follow)")
struct LiveLadderTests {
    /// A capture's messages as the proxy hands them to a follower.
    static func followed(_ name: String, shift: Int64 = 0, callIDSuffix: String = "") throws -> [FollowedMessage] {
        var out: [FollowedMessage] = []
        try TraceTimeline(paths: [AnalysisFixtures.path(name)]).forEachMessage { message in
            var text = message.text
            if !callIDSuffix.isEmpty {
                text = text.replacingOccurrences(of: message.info.callID, with: message.info.callID + callIDSuffix)
            }
            out.append(FollowedMessage(
                seq: UInt64(out.count + 1), timeUs: (message.time + shift) / 1000, transport: message.transport.rawValue,
                source: message.source.description, destination: message.destination.description, text: text
            ))
        }
        return out
    }

    static func renderer() -> LadderTextRenderer { LadderTextRenderer(width: 100, ascii: true) }

    @Test("messages one at a time draw what one batch draws, each arrow once, with the call's title and end")
    func incrementalEqualsBatch() throws {
        let messages = try Self.followed("proxy-recorder-udp.pcap")
        var batch = LiveLadder(renderer: Self.renderer())
        let all = batch.add(messages, proxyAddresses: ["127.0.0.90:5060"])
        var single = LiveLadder(renderer: Self.renderer())
        var pieces: [String] = []
        for message in messages { pieces += single.add([message], proxyAddresses: ["127.0.0.90:5060"]) }
        // Names are learned as messages come, so the header may be printed again one at a time; the arrows are
        // the same.
        func arrows(_ lines: [String]) -> [String] { lines.filter { $0.contains("[1] ") && !$0.hasPrefix("[1]") } }
        #expect(arrows(all) == arrows(pieces))
        #expect(all.first?.hasPrefix("[1] ") == true && all.first?.contains("Call-ID: 1-24919@127.0.0.91") == true, "\(all)")
        // Two legs (alice → proxy → bob): two BYE arrows, each drawn once.
        #expect(all.filter { $0.contains("[1] BYE") }.count == 2, "\(all.joined(separator: "\n"))")
        #expect(all.filter { $0.hasPrefix("[1] completed · talked ") }.count == 1, "\(all.joined(separator: "\n"))")
        let header = all.last { $0.hasPrefix("time") } ?? ""
        #expect(header.split(separator: " ").dropFirst(2).map(String.init) == ["alice", "proxy", "bob"], "\(header)")
        #expect(all.allSatisfy { $0.count <= 100 })
    }

    @Test("a user filter leaves other calls out; registrations are left out unless asked for")
    func filters() throws {
        let messages = try Self.followed("proxy-recorder-udp.pcap")
        var carol = LiveLadder(user: "carol", renderer: Self.renderer())
        #expect(carol.add(messages).isEmpty)
        var bob = LiveLadder(user: "BOB", renderer: Self.renderer())
        #expect(bob.add(messages).contains { $0.contains("INVITE") })
        let register = FollowedMessage(
            seq: 1, timeUs: 1, transport: "UDP", source: "127.0.0.12:5060", destination: "127.0.0.10:5060",
            text: "REGISTER sip:127.0.0.10 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.12:5060;branch=z9hG4bK1\r\n"
                + "From: <sip:bob@127.0.0.10>;tag=1\r\nTo: <sip:bob@127.0.0.10>\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\n"
                + "Content-Length: 0\r\n\r\n"
        )
        var plain = LiveLadder(renderer: Self.renderer())
        #expect(plain.add([register]).isEmpty)
        var all = LiveLadder(everything: true, renderer: Self.renderer())
        #expect(all.add([register]).contains { $0.contains("[1] REGISTER") })
    }

    @Test("a call after a quiet spell starts a fresh picture; two calls at once share one, marked [1] and [2]")
    func pictures() throws {
        let first = try Self.followed("proxy-recorder-udp.pcap")
        let later = try Self.followed("proxy-recorder-udp.pcap", shift: 60_000_000_000, callIDSuffix: "-later")
        var live = LiveLadder(renderer: Self.renderer())
        _ = live.add(first)
        let fresh = live.add(later)
        #expect(fresh.contains { $0.hasPrefix("[1] ") && $0.contains("-later") }, "numbering starts again\n\(fresh)")
        #expect(fresh.contains { $0.hasPrefix("time") }, "a new header\n\(fresh)")

        let overlapping = try Self.followed("proxy-recorder-udp.pcap", shift: 1_000_000, callIDSuffix: "-two")
        var both = LiveLadder(renderer: Self.renderer())
        var interleaved: [FollowedMessage] = []
        for (a, b) in zip(first, overlapping) { interleaved += [a, b] }
        let lines = both.add(interleaved)
        #expect(lines.contains { $0.contains("[2] INVITE") } && lines.contains { $0.hasPrefix("[2] completed") },
                "\(lines.joined(separator: "\n"))")
    }

    @Test("endpoints as the proxy writes them parse back, IPv4 and IPv6")
    func endpoints() {
        #expect(Endpoint(text: "127.0.0.1:5060")?.description == "127.0.0.1:5060")
        #expect(Endpoint(text: "[2001:db8::1]:5061")?.description == "[2001:db8::1]:5061")
        #expect(Endpoint(text: "[::1]:5060")?.description == "[::1]:5060")
        #expect(Endpoint(text: "[1:2:3:4:5:6:7:8]:1")?.description == "[1:2:3:4:5:6:7:8]:1")
        for bad in ["", "1.2.3:5060", "1.2.3.4", "1.2.3.256:1", "[1::2::3]:5", "[12345::]:5", "1.2.3.4:70000", "x:1"] {
            #expect(Endpoint(text: bad) == nil, "\(bad)")
        }
    }
}
