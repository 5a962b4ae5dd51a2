// SIPHeaders edits the proxy makes on the way through: the top Via stamped in place.

import Testing

@testable import SIPProxy

@Suite struct SIPHeadersEditTests {
    @Test func replaceFirstValueKeepsTheRestOfTheLineAndOrder() {
        var headers = SIPHeaders([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"), ("To", "<sip:x@y>"),
            ("Via", "SIP/2.0/UDP c;branch=z9hG4bK3")])
        headers.replaceFirstValue("v", with: "SIP/2.0/UDP a;branch=z9hG4bK1;received=127.0.0.11")
        #expect(headers.fields.map(\.name) == ["Via", "To", "Via"])
        #expect(
            headers.values("via") == [
                "SIP/2.0/UDP a;branch=z9hG4bK1;received=127.0.0.11", "SIP/2.0/UDP b;branch=z9hG4bK2",
                "SIP/2.0/UDP c;branch=z9hG4bK3",
            ])
    }

    @Test func stampedRequestUpdatesItsCachedTopVia() throws {
        let text = [
            "INVITE sip:bob@127.0.0.10 SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.11:5060;branch=z9hG4bKa;rport",
            "From: <sip:alice@127.0.0.10>;tag=1", "To: <sip:bob@127.0.0.10>", "Call-ID: c1", "CSeq: 1 INVITE",
            "Content-Length: 0",
        ].joined(separator: "\r\n") + "\r\n\r\n"
        guard case .request(var request) = try SIPParser().parse(Array(text.utf8)) else {
            Issue.record("not a request")
            return
        }
        var via = try #require(request.topVia)
        via.parameters.set("rport", "40000")
        request.headers.replaceFirstValue("via", with: via.serialized)
        #expect(request.topVia?.rport == "40000")
        #expect(request.headers.lines("via").count == 1)
    }
}
