// The messages the micro-benchmarks parse and forward, written out as the wire carries them (CRLF line ends).
//
// The INVITE is RFC 3261 §24.2 F1 (Alice -> atlanta.com proxy) octet for octet. The RFC leaves the SDP out
// ("Alice's SDP not shown") but declares its length, 142; the body below is an ordinary G.711 offer of exactly that
// length, so Content-Length is the RFC's. The 200 OK is §24.2 F9 (Bob -> biloxi.com proxy: three Vias, both
// Record-Routes, Contact) with a 131-octet answer for the same reason. The REGISTER is what Linphone (desktop 5.x)
// sends: long Contact with instance id and feature tags, Supported, Accept, User-Agent.

enum Messages {
    /// Alice's offer: 142 octets, the length F1 declares.
    static let aliceSDP = lines(
        "v=0",
        "o=alice 2890844526 2890844527 IN IP4 pc33.atlanta.com",
        "s=Call",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 49172 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000"
    )

    /// Bob's answer: 131 octets, the length F9 declares.
    static let bobSDP = lines(
        "v=0",
        "o=bob 2808844564 2808844564 IN IP4 biloxi.com",
        "s=-",
        "c=IN IP4 192.0.2.4",
        "t=0 0",
        "m=audio 49174 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000"
    )

    /// RFC 3261 §24.2 F1 INVITE Alice -> atlanta.com proxy.
    static let invite = message(
        [
            "INVITE sip:bob@biloxi.com SIP/2.0",
            "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8",
            "Max-Forwards: 70",
            "To: Bob <sip:bob@biloxi.com>",
            "From: Alice <sip:alice@atlanta.com>;tag=1928301774",
            "Call-ID: a84b4c76e66710",
            "CSeq: 314159 INVITE",
            "Contact: <sip:alice@pc33.atlanta.com>",
            "Content-Type: application/sdp",
            "Content-Length: 142",
        ],
        body: aliceSDP
    )

    /// RFC 3261 §24.2 F9 200 OK Bob -> biloxi.com proxy.
    static let ok = message(
        [
            "SIP/2.0 200 OK",
            "Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bK4b43c2ff8.1;received=192.0.2.3",
            "Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2",
            "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1",
            "Record-Route: <sip:server10.biloxi.com;lr>",
            "Record-Route: <sip:bigbox3.site3.atlanta.com;lr>",
            "To: Bob <sip:bob@biloxi.com>;tag=a6c85cf",
            "From: Alice <sip:alice@atlanta.com>;tag=1928301774",
            "Call-ID: a84b4c76e66710",
            "CSeq: 314159 INVITE",
            "Contact: <sip:bob@192.0.2.4>",
            "Content-Type: application/sdp",
            "Content-Length: 131",
        ],
        body: bobSDP
    )

    /// A REGISTER as Linphone sends it, for bob at biloxi.com from its loopback test address: the forward
    /// benchmark registers bob with it, so the INVITE finds a binding (RFC 3261 §10.3).
    static let register = message([
        "REGISTER sip:biloxi.com SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.12:5060;branch=z9hG4bK.GyPjw3xXg;rport",
        "From: <sip:bob@biloxi.com>;tag=wA8CTRxoq",
        "To: sip:bob@biloxi.com",
        "CSeq: 20 REGISTER",
        "Call-ID: 6OAbc3nQ-F",
        "Max-Forwards: 70",
        "Supported: replaces, outbound, gruu, path, record-aware",
        "Accept: application/sdp",
        "Accept: text/plain",
        "Accept: application/vnd.gsma.rcs-ft-http+xml",
        "Contact: <sip:bob@127.0.0.12:5060;transport=udp>;+sip.instance=\"<urn:uuid:9f3c2b1e-5a7d-4e0f-8c6b-2d1a0e9f7c44>\""
            + ";+org.linphone.specs=\"conference/1.0,ephemeral/1.1,groupchat/1.2,lime\"",
        "Expires: 3600",
        "User-Agent: Linphone-Desktop/5.2.6 (bob-laptop) debian/12 Qt/5.15.2 LinphoneSDK/5.3.72",
        "Content-Length: 0",
    ])

    /// The header lines and body of a message on the wire.
    static func message(_ header: [String], body: String = "") -> [UInt8] {
        Array((header.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8)
    }

    private static func lines(_ lines: String...) -> String {
        lines.joined(separator: "\r\n") + "\r\n"
    }
}
