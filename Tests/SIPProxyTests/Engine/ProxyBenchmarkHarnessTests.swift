// ProxyBenchmarkHarness through its public face only, as Benchmarks/Micro uses it: a registration and a call go
// through the real core, and what comes out is what a proxy puts on the wire (RFC 3261 §16.6, §16.7).

import NIOCore
import SIPProxy
import Testing

@Suite("Benchmark harness")
struct ProxyBenchmarkHarnessTests {
    static let proxy = try! SocketAddress(ipAddress: "127.0.0.10", port: 5060)
    static let alice = try! SocketAddress(ipAddress: "127.0.0.11", port: 5060)
    static let bob = try! SocketAddress(ipAddress: "127.0.0.12", port: 5060)

    static func text(_ lines: [String], body: String = "") -> [UInt8] {
        Array((lines.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8)
    }

    /// What the harness sent since the last look, parsed, with the destination.
    static func take(_ harness: ProxyBenchmarkHarness) throws -> [(message: SIPMessage, to: SocketAddress)] {
        defer { harness.removeAllSent() }
        return try harness.sent.map { (try SIPParser().parse(Array($0.bytes.readableBytesView)), $0.destination) }
    }

    @Test("a registration and a call through the real core: 200 to REGISTER, 100 + forwarded INVITE, relayed 180/200")
    func callThroughCore() throws {
        let harness = try ProxyBenchmarkHarness(address: Self.proxy) { $0.domains = ["biloxi.example"] }
        harness.receive(
            Self.text([
                "REGISTER sip:biloxi.example SIP/2.0",
                "Via: SIP/2.0/UDP 127.0.0.12:5060;branch=z9hG4bKreg1;rport",
                "Max-Forwards: 70",
                "From: <sip:bob@biloxi.example>;tag=r1",
                "To: <sip:bob@biloxi.example>",
                "Call-ID: reg-bob",
                "CSeq: 1 REGISTER",
                "Contact: <sip:bob@127.0.0.12:5060>",
                "Expires: 3600",
                "Content-Length: 0",
            ]),
            from: Self.bob
        )
        let registered = try Self.take(harness)
        #expect(registered.map { $0.message.response?.statusCode } == [200])
        #expect(registered.first?.to == Self.bob)

        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.11\r\ns=-\r\nc=IN IP4 127.0.0.11\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
        harness.receive(
            Self.text([
                "INVITE sip:bob@biloxi.example SIP/2.0",
                "Via: SIP/2.0/UDP 127.0.0.11:5060;branch=z9hG4bKinv1",
                "Max-Forwards: 70",
                "To: Bob <sip:bob@biloxi.example>",
                "From: Alice <sip:alice@atlanta.example>;tag=1928301774",
                "Call-ID: harness-call-1",
                "CSeq: 314159 INVITE",
                "Contact: <sip:alice@127.0.0.11:5060>",
                "Content-Type: application/sdp",
                "Content-Length: \(sdp.utf8.count)",
            ], body: sdp),
            from: Self.alice
        )
        let out = try Self.take(harness)
        #expect(out.map { $0.message.response?.statusCode } == [100, nil])
        #expect(out.first?.to == Self.alice)
        let forwarded = try #require(out.last?.message.request)
        #expect(out.last?.to == Self.bob)
        // §16.6: Request-URI retargeted to the contact, Max-Forwards decremented, own Via on top, Record-Route added.
        #expect(forwarded.uri.description == "sip:bob@127.0.0.12:5060")
        #expect(forwarded.headers["max-forwards"] == "69")
        let vias = forwarded.headers.values("via")
        #expect(vias.count == 2)
        #expect(vias.first?.hasPrefix("SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bK") == true)
        #expect(forwarded.headers.values("record-route").first?.contains("127.0.0.10") == true)
        #expect(forwarded.body == Array(sdp.utf8), "the SDP passes untouched")

        // bob answers: 180 then 200, each relayed to alice with the proxy's Via removed (§16.7 step 3).
        for (status, reason) in [(180, "Ringing"), (200, "OK")] {
            var lines = ["SIP/2.0 \(status) \(reason)"]
            lines += vias.map { "Via: \($0)" }
            lines += [
                "To: Bob <sip:bob@biloxi.example>;tag=b1",
                "From: Alice <sip:alice@atlanta.example>;tag=1928301774",
                "Call-ID: harness-call-1",
                "CSeq: 314159 INVITE",
                "Contact: <sip:bob@127.0.0.12:5060>",
                "Content-Length: 0",
            ]
            harness.receive(Self.text(lines), from: Self.bob)
            let relayed = try Self.take(harness)
            #expect(relayed.map { $0.message.response?.statusCode } == [status])
            #expect(relayed.first?.to == Self.alice)
            #expect(relayed.first?.message.headers.values("via").count == 1)
        }
        // Time passing ends the transactions without sending anything further to anyone (the 200 was relayed).
        harness.advance(by: .seconds(64))
        #expect(try Self.take(harness).isEmpty)
    }

    @Test("only an IPv4 loopback address is accepted")
    func loopbackOnly() throws {
        #expect(throws: ConfigurationError.self) {
            _ = try ProxyBenchmarkHarness(address: try SocketAddress(ipAddress: "192.0.2.1", port: 5060))
        }
        #expect(throws: ConfigurationError.self) {
            _ = try ProxyBenchmarkHarness(address: try SocketAddress(ipAddress: "::1", port: 5060))
        }
    }
}
