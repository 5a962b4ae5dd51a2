// Ladder labels that explain: a response names its request when that is not the INVITE, and a re-INVITE says what
// its SDP changes (RFC 3264 §8: hold is sendonly/inactive, a removed stream has port 0).

import Testing

@testable import SIPProxy

@Suite("Ladder labels")
struct LadderLabelTests {
    static func message(_ startLine: String, cseq: String, toTag: String? = nil, media: [String] = [],
                        extra: [String] = []) -> SIPMessageInfo {
        var sdp = ""
        if !media.isEmpty {
            sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.11\r\ns=-\r\nc=IN IP4 127.0.0.11\r\nt=0 0\r\n" + media.map { $0 + "\r\n" }.joined()
        }
        let text = [
            startLine,
            "Via: SIP/2.0/UDP 127.0.0.11:5060;branch=z9hG4bK-1",
            "From: <sip:alice@lab>;tag=a",
            "To: <sip:bob@lab>" + (toTag.map { ";tag=\($0)" } ?? ""),
            "Call-ID: label-test",
            "CSeq: \(cseq)",
        ].joined(separator: "\r\n") + extra.map { "\r\n" + $0 }.joined() + (sdp.isEmpty ? "" : "\r\nContent-Type: application/sdp")
            + "\r\nContent-Length: \(sdp.utf8.count)\r\n\r\n" + sdp
        return SIPMessageInfo.scan(Array(text.utf8))!
    }

    static let audio = ["m=audio 4000 RTP/AVP 0"]
    static let audioVideo = ["m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 96", "a=rtpmap:96 H264/90000"]

    @Test("responses to CANCEL and BYE say so; responses to the INVITE do not")
    func responses() {
        #expect(Ladder.label(Self.message("SIP/2.0 200 OK", cseq: "1 CANCEL"), previousMedia: nil) == "200 OK (CANCEL)")
        #expect(Ladder.label(Self.message("SIP/2.0 200 OK", cseq: "2 BYE"), previousMedia: nil) == "200 OK (BYE)")
        #expect(Ladder.label(Self.message("SIP/2.0 487 Request Terminated", cseq: "1 INVITE"), previousMedia: nil)
            == "487 Request Terminated")
        #expect(Ladder.label(Self.message("INVITE sip:bob@lab SIP/2.0", cseq: "1 INVITE", media: Self.audio), previousMedia: nil)
            == "INVITE", "the first INVITE has no To tag")
    }

    @Test("a REFER names whom the call is transferred to; NOTIFY and SUBSCRIBE name their event")
    func transferLabels() {
        let refer = Self.message("REFER sip:bob@127.0.0.12 SIP/2.0", cseq: "3 REFER", toTag: "b",
                                 extra: ["Refer-To: <sip:carol@lab.example>"])
        #expect(Ladder.label(refer, previousMedia: nil) == "REFER (Refer-To: carol)")
        let notify = Self.message("NOTIFY sip:alice@127.0.0.11 SIP/2.0", cseq: "1 NOTIFY", toTag: "a",
                                  extra: ["Event: refer;id=3", "Subscription-State: active"])
        #expect(Ladder.label(notify, previousMedia: nil) == "NOTIFY (Event: refer)")
        #expect(Ladder.label(Self.message("SIP/2.0 202 Accepted", cseq: "3 REFER"), previousMedia: nil)
            == "202 Accepted (REFER)")
    }

    @Test("a re-INVITE names hold, resume, and added or removed video")
    func reInvite() {
        func reInvite(_ media: [String]) -> SIPMessageInfo {
            Self.message("INVITE sip:bob@127.0.0.12 SIP/2.0", cseq: "2 INVITE", toTag: "b", media: media)
        }
        let held = Self.audio + ["a=sendonly"]
        #expect(Ladder.label(reInvite(held), previousMedia: ["audio 4000 PCMU/8000"]) == "re-INVITE (hold)")
        #expect(Ladder.label(reInvite(Self.audio), previousMedia: ["audio 4000 PCMU/8000 sendonly"]) == "re-INVITE (resume)")
        #expect(Ladder.label(reInvite(Self.audioVideo), previousMedia: ["audio 4000 PCMU/8000"]) == "re-INVITE (+video)")
        #expect(Ladder.label(reInvite(["m=audio 4000 RTP/AVP 0", "m=video 0 RTP/AVP 96"]),
                             previousMedia: ["audio 4000 PCMU/8000", "video 4002 H264/90000"]) == "re-INVITE (-video)")
        #expect(Ladder.label(reInvite(Self.audio), previousMedia: ["audio 4000 PCMU/8000"]) == "re-INVITE",
                "a session refresh changes nothing")
        #expect(Ladder.label(reInvite([]), previousMedia: nil) == "re-INVITE", "an offerless re-INVITE")
    }
}
