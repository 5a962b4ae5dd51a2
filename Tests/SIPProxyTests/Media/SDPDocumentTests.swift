// SDP as the relay reads and rewrites it: only addresses, ports and a=rtcp change; ICE goes; the rest stays.

import Testing

@testable import SIPProxy

@Suite("Media: SDP rewriting")
struct SDPDocumentTests {
    static let offer = """
        v=0\r
        o=alice 2890844526 2890844527 IN IP4 10.0.0.7\r
        s=-\r
        c=IN IP4 10.0.0.7\r
        t=0 0\r
        a=ice-ufrag:F7gI\r
        a=ice-pwd:x9cml/YzichV2+XlhiMu8g\r
        m=audio 49170 RTP/AVP 0 8 101\r
        a=rtpmap:0 PCMU/8000\r
        a=rtpmap:101 telephone-event/8000\r
        a=fmtp:101 0-16\r
        a=rtcp:49171\r
        a=candidate:1 1 UDP 2130706431 10.0.0.7 49170 typ host\r
        a=sendrecv\r
        a=x-vendor-thing:keep me\r
        m=video 51372 RTP/SAVP 96\r
        c=IN IP4 10.0.0.8\r
        a=rtpmap:96 H264/90000\r
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r
        m=application 0 UDP/BFCP *\r

        """

    @Test("a relayed body names the relay everywhere media goes, and keeps every other line in place")
    func relayed() throws {
        let sdp = try #require(SDPDocument(Array(Self.offer.utf8)))
        #expect(sdp.media.count == 3)
        #expect(sdp.destination(of: 0)! == ("10.0.0.7", 49170))
        #expect(sdp.destination(of: 1)! == ("10.0.0.8", 51372))
        #expect(sdp.media[0].clockRates == [0: 8000, 8: 8000, 101: 8000])
        #expect(sdp.media[1].clockRates == [96: 90000] && sdp.media[0].codec == "PCMU" && sdp.media[1].codec == "H264")
        let out = String(decoding: sdp.relayed(address: "192.0.2.1", addressType: "IP4", ports: [20000, 20004, nil]).bytes,
                         as: UTF8.self)
        #expect(out.contains("c=IN IP4 192.0.2.1\r\nt=0 0"))
        #expect(out.contains("m=audio 20000 RTP/AVP 0 8 101\r\n"))
        #expect(out.contains("a=rtcp:20001\r\n"))
        #expect(out.contains("m=video 20004 RTP/SAVP 96\r\nc=IN IP4 192.0.2.1\r\n"))
        #expect(out.contains("m=application 0 UDP/BFCP *\r\n"), "a rejected stream stays rejected")
        #expect(!out.contains("candidate") && !out.contains("ice-"), "ICE lines are dropped")
        for kept in ["o=alice 2890844526 2890844527 IN IP4 10.0.0.7", "a=fmtp:101 0-16", "a=sendrecv",
                     "a=x-vendor-thing:keep me", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"] {
            #expect(out.contains(kept + "\r\n"), "\(kept) is kept")
        }
        #expect(out.hasSuffix("\r\n") && !out.contains("\r\n\r\n"))
    }

    @Test("hold with 0.0.0.0 stays hold; bare LF bodies keep their line ends; non-SDP is refused")
    func edges() throws {
        let hold = try #require(SDPDocument(Array("v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 4000 RTP/AVP 0\n".utf8)))
        let out = String(decoding: hold.relayed(address: "192.0.2.1", addressType: "IP4", ports: [30000]).bytes, as: UTF8.self)
        #expect(out.contains("c=IN IP4 0.0.0.0\n") && out.contains("m=audio 30000 RTP/AVP 0\n") && !out.contains("\r"))
        #expect(MediaSession.target(hold, 0) == nil)
        #expect(SDPDocument(Array("hello".utf8)) == nil)
        #expect(SDPDocument(Array("v=0\r\nm=audio x RTP/AVP 0\r\n".utf8)) == nil)
        #expect(SDPDocument(Array("v=0\r\nm=audio 70000 RTP/AVP 0\r\n".utf8)) == nil)
        let ipv6 = try #require(SDPDocument(Array("v=0\r\nc=IN IP6 2001:db8::1\r\nm=audio 5004 RTP/AVP 0\r\na=rtcp-mux\r\n".utf8)))
        let target = try #require(MediaSession.target(ipv6, 0))
        #expect(target == MediaTarget(address: "2001:db8::1", rtpPort: 5004, rtcpPort: 5004), "rtcp-mux: RTCP on the RTP port")
    }

    @Test("offer, answer, re-INVITE with video, hold, and a stream removed: the actions the relay must take")
    func session() throws {
        func sdp(_ lines: String) throws -> SDPDocument { try #require(SDPDocument(Array(("v=0\r\n" + lines).utf8))) }
        var session = MediaSession(callID: "c1", callerTag: "a")
        #expect(session.side(ofRequestFromTag: "a") == .caller && session.side(ofRequestFromTag: "b") == .callee)
        let offer = try sdp("c=IN IP4 10.0.0.7\r\nm=audio 4000 RTP/AVP 0\r\n")
        let actions = session.receive(offer, from: .caller)
        #expect(actions.first == .open(index: 0))
        #expect(actions.contains(.target(index: 0, side: .caller, MediaTarget(address: "10.0.0.7", rtpPort: 4000, rtcpPort: 4001))))
        session.opened(index: 0, ports: [.caller: 20000, .callee: 20002])
        let toCallee = String(decoding: session.relayed(offer, from: .caller, address: "192.0.2.1").bytes, as: UTF8.self)
        #expect(toCallee.contains("m=audio 20002 "), "the callee is sent the port facing it")

        let answer = try sdp("c=IN IP4 10.0.0.9\r\nm=audio 5000 RTP/AVP 0\r\n")
        #expect(session.receive(answer, from: .callee) == [.target(index: 0, side: .callee, MediaTarget(address: "10.0.0.9", rtpPort: 5000, rtcpPort: 5001))])
        let toCaller = String(decoding: session.relayed(answer, from: .callee, address: "192.0.2.1").bytes, as: UTF8.self)
        #expect(toCaller.contains("m=audio 20000 "))
        #expect(session.receive(answer, from: .callee).isEmpty, "the same answer again changes nothing")

        let video = try sdp("c=IN IP4 10.0.0.7\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\nm=video 4002 RTP/AVP 96\r\n")
        let reinvite = session.receive(video, from: .caller)
        #expect(reinvite.contains(.open(index: 1)) && !reinvite.contains(.open(index: 0)))
        #expect(session.streams[0].directions[.caller] == "sendonly")
        session.opened(index: 1, ports: [.caller: 20004, .callee: 20006])
        let removed = try sdp("c=IN IP4 10.0.0.7\r\nm=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n")
        #expect(session.receive(removed, from: .caller) == [.close(index: 1, ports: [.caller: 20004, .callee: 20006])])
        #expect(session.allPorts.count == 1)
        let toCallee2 = String(decoding: session.relayed(removed, from: .caller, address: "192.0.2.1").bytes, as: UTF8.self)
        #expect(toCallee2.contains("m=video 0 RTP/AVP 96"))
    }

    @Test("RTP statistics: loss from sequence gaps and wraps, RFC 3550 jitter, RTCP not counted as RTP")
    func statistics() {
        var stats = RTPStreamStats()
        func packet(_ seq: UInt16, _ ts: UInt32, pt: UInt8 = 0) -> [UInt8] {
            [0x80, pt, UInt8(seq >> 8), UInt8(seq & 0xFF), UInt8(ts >> 24), UInt8((ts >> 16) & 0xFF), UInt8((ts >> 8) & 0xFF),
             UInt8(ts & 0xFF), 0, 0, 0x12, 0x34] + Array(repeating: 0xFF, count: 160)
        }
        var arrival: Int64 = 0
        // 65530...65535, then 0...9 with 3 lost: 16 sent, 13 received; perfectly paced (20 ms, 160 samples).
        let sequence: [UInt16] = Array(65530...65535) + [0, 1, 2, 6, 7, 8, 9]
        for seq in sequence {
            let n = Int64(seq >= 65530 ? Int(seq) - 65530 : Int(seq) + 6)
            arrival = n * 20_000_000
            packet(seq, UInt32(n * 160)).withUnsafeBytes { stats.record(RTPHeader($0), octets: $0.count, arrivalNanos: arrival, clockRates: [0: 8000]) }
        }
        #expect(stats.packets == 13 && stats.lost == 3)
        #expect(stats.jitterMs < 0.01, "perfect pacing has no jitter: \(stats.jitterMs)")
        // One packet 10 ms late adds |D|/16 = 80/16 samples = 0.625 ms.
        packet(10, 16 * 160).withUnsafeBytes { stats.record(RTPHeader($0), octets: $0.count, arrivalNanos: 16 * 20_000_000 + 10_000_000, clockRates: [0: 8000]) }
        #expect(abs(stats.jitterMs - 0.625) < 0.01, "\(stats.jitterMs)")
        // An RTCP sender report (PT 200 = 72 with the marker bit) is not RTP.
        ([0x80, 200, 0, 6] + Array(repeating: 0, count: 24) as [UInt8]).withUnsafeBytes { #expect(RTPHeader($0) == nil) }
        (packet(1, 1, pt: 72 | 0x80)).withUnsafeBytes { #expect(RTPHeader($0) == nil) }
    }

    @Test("the port pool binds real pairs, skips ports in use, and says when it is empty")
    func pool() throws {
        let pool = MediaPortPool(range: 39001...39008, address: try .init(ipAddress: "127.0.0.1", port: 0))
        #expect(pool.range == 39002...39008 && pool.capacity == 3)
        var pairs: [MediaPortPool.Pair] = []
        while let pair = pool.allocate() { pairs.append(pair) }
        #expect(pairs.map(\.port) == [39002, 39004, 39006] && pool.inUse == 3)
        pool.release(39004)
        for pair in pairs where pair.port == 39004 {
            MediaPortPool.closeSocket(pair.rtp)
            MediaPortPool.closeSocket(pair.rtcp)
        }
        #expect(pool.allocate()?.port == 39004)
        for pair in pairs where pair.port != 39004 {
            MediaPortPool.closeSocket(pair.rtp)
            MediaPortPool.closeSocket(pair.rtcp)
        }
    }
}
