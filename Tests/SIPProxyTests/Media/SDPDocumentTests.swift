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
}
