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

    @Test func parsedFieldsFollowEditsAndThePrependedVia() throws {
        let text = [
            "REGISTER sip:127.0.0.10 SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.11:5060;branch=z9hG4bKa",
            "From: <sip:alice@127.0.0.10>;tag=1", "To: <sip:alice@127.0.0.10>", "Call-ID: c2", "CSeq: 1 REGISTER",
            "Contact: <sip:alice@127.0.0.11:5060>, <sip:alice@127.0.0.12:5060>;q=0.5", "Content-Length: 0",
        ].joined(separator: "\r\n") + "\r\n\r\n"
        guard case .request(var request) = try SIPParser().parse(Array(text.utf8)) else {
            Issue.record("not a request")
            return
        }
        #expect(request.contacts.map(\.uri.host) == ["127.0.0.11", "127.0.0.12"])
        // The proxy's own Via on top: kept parsed, and the Contacts stay as they were.
        let own = Via(transport: "UDP", host: "127.0.0.10", port: 5060,
                      parameters: SIPParameters([SIPParameter("branch", "z9hG4bK-own")]))
        request.prependVia(own)
        #expect(request.topVia == own && request.headers.values("via").count == 2)
        #expect(request.contacts.count == 2)
        // Edits by hand are seen on the next look.
        request.headers.removeFirstValue("via")
        #expect(request.topVia?.branch == "z9hG4bKa")
        request.headers.set("Contact", "<sip:alice@127.0.0.13>")
        #expect(request.contacts.map(\.uri.host) == ["127.0.0.13"])
        // Equality is about the message, not what was cached.
        guard case .request(let fresh) = try SIPParser().parse(SIPMessage.request(request).bytes) else {
            Issue.record("not a request")
            return
        }
        #expect(fresh == request)
    }

    @Test func aResponseIsCheckedForWhatTheProxyUses() throws {
        // A malformed Contact or a second Via in a relayed response is the UAs' business; a bad top Via is not.
        let lines = ["SIP/2.0 200 OK", "Via: SIP/2.0/UDP 127.0.0.10;branch=z9hG4bK1", "Via: not a via",
                     "From: <sip:a@h>;tag=1", "To: <sip:b@h>;tag=2", "Call-ID: c3", "CSeq: 1 INVITE",
                     "Contact: <<<", "Content-Length: 0"]
        let ok = try SIPParser().parse(Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8))
        guard case .response(let response) = ok else {
            Issue.record("not a response")
            return
        }
        #expect(response.topVia?.branch == "z9hG4bK1" && response.contacts.isEmpty)
        var bad = lines
        bad[1] = "Via: SIP/2.0/UDP"
        #expect(throws: SIPParseError.self) {
            try SIPParser().parse(Array((bad.joined(separator: "\r\n") + "\r\n\r\n").utf8))
        }
        // The same Contact in a request is refused (the registrar and RFC 4475 need it well formed).
        let request = ["INVITE sip:b@h SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.10;branch=z9hG4bK1", "From: <sip:a@h>;tag=1",
                       "To: <sip:b@h>", "Call-ID: c4", "CSeq: 1 INVITE", "Contact: <<<", "Content-Length: 0"]
        #expect(throws: SIPParseError.self) {
            try SIPParser().parse(Array((request.joined(separator: "\r\n") + "\r\n\r\n").utf8))
        }
    }
}
