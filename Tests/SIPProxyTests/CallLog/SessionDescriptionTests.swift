// SessionDescription.media: what the call tracker reads of an offer or answer (RFC 4566 §5.14, §6).

import Testing

@testable import SIPProxy

@Suite("Call log: SDP media summary")
struct SessionDescriptionTests {
    @Test("m= lines with rtpmap names and static payload types, CRLF, bare LF and indented lines alike")
    func mediaLines() {
        for end in ["\r\n", "\n"] {
            let sdp = ["v=0", "o=- 1 1 IN IP4 127.0.0.11", "s=-", "c=IN IP4 127.0.0.11", "t=0 0",
                       "m=audio 4000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=sendrecv",
                       "  m=video 4002/2 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=fmtp:96 profile-level-id=42e01f",
                       "m=audio 0 RTP/AVP 9"].joined(separator: end) + end
            let media = SessionDescription.media(of: Array(sdp.utf8))
            #expect(media == [
                CallMedia(type: "audio", port: 4000, codecs: ["PCMU", "PCMA", "telephone-event"]),
                CallMedia(type: "video", port: 4002, codecs: ["H264"]),
                CallMedia(type: "audio", port: 0, codecs: ["G722"]),
            ], "line end \(end == "\n" ? "LF" : "CRLF")")
        }
    }

    @Test("rtpmap before any m= line, short m= lines, odd ports and spacing, a name that is not UTF-8")
    func oddLines() {
        let sdp = ["v=0", "a=rtpmap:0 NOTPCMU/8000", "m=audio", "m=audio 4000", "m=audio x RTP/AVP 0 96  97 ",
                   "a=rtpmap:96   opus/48000/2", "a=rtpmap:97", "a=rtpmap:", "a=rtpmapx:97 bogus/1",
                   "m=video 5000/2 RTP/AVP\t96 98", "a=rtpmap:98 VP8/90000"].joined(separator: "\r\n")
        #expect(SessionDescription.media(of: Array(sdp.utf8)) == [
            CallMedia(type: "audio", port: 0, codecs: ["PCMU", "opus", "97"]),
            CallMedia(type: "video", port: 5000, codecs: ["VP8"]),
        ])
        // A raw 0xFF in a name is decoded with a replacement character, never a crash.
        let raw = Array("v=0\r\nm=audio 1 RTP/AVP 96\r\na=rtpmap:96 X".utf8) + [0xFF] + Array("Y/8000\r\n".utf8)
        #expect(SessionDescription.media(of: raw) == [CallMedia(type: "audio", port: 1, codecs: ["X\u{FFFD}Y"])])
    }

    @Test("a body that is not SDP, or SDP without media, gives nil")
    func notSDP() {
        #expect(SessionDescription.media(of: []) == nil)
        #expect(SessionDescription.media(of: Array("hello=world\r\nm=audio 1 RTP/AVP 0\r\n".utf8)) == nil)
        #expect(SessionDescription.media(of: Array("v=0\r\ns=-\r\n".utf8)) == nil)
        #expect(SessionDescription.media(of: [0xFF, 0xFE, 0x0A, 0x3D]) == nil)
    }
}
