// TransactionFixtures: requests and responses for the transaction state machine tests, parsed from text.

@testable import SIPProxy

/// Builders for the messages the transaction tests feed to the machines.
enum TransactionFixtures {
    /// Parses a message from header lines joined with CRLF, the empty line that ends them, and a body.
    static func parse(_ lines: [String], body: String = "") -> SIPMessage {
        let text = lines.joined(separator: "\r\n") + "\r\n\r\n" + body
        do {
            return try SIPParser().parse(Array(text.utf8))
        } catch {
            fatalError("fixture does not parse: \(error)\n\(text)")
        }
    }

    static func parseRequest(_ lines: [String], body: String = "") -> SIPRequest {
        guard case .request(let request) = self.parse(lines, body: body) else {
            fatalError("fixture is not a request")
        }
        return request
    }

    static func parseResponse(_ lines: [String]) -> SIPResponse {
        guard case .response(let response) = self.parse(lines) else {
            fatalError("fixture is not a response")
        }
        return response
    }

    static let proxyVia = "SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKproxy1"
    static let phoneVia = "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport"

    /// An INVITE as the proxy forwards it: two Vias, two Route headers, a body.
    static func invite(
        method: String = "INVITE",
        branch: String = "z9hG4bKproxy1",
        topVia: String? = nil
    ) -> SIPRequest {
        let via = topVia ?? "SIP/2.0/UDP proxy.example.com:5060;branch=\(branch)"
        let sdp = "v=0\r\n"
        return self.parseRequest([
            "\(method) sip:bob@192.0.2.4:5062;transport=udp SIP/2.0",
            "Via: \(via)",
            "Via: \(self.phoneVia)",
            "Max-Forwards: 69",
            "Route: <sip:p1.example.com;lr>",
            "Route: <sip:p2.example.com;lr>",
            "To: Bob <sip:bob@biloxi.com>",
            "From: \"Alice\" <sip:alice@atlanta.com>;tag=1928301774",
            "Call-ID: a84b4c76e66710@pc33.atlanta.com",
            "CSeq: 314159 \(method)",
            "Contact: <sip:alice@pc33.atlanta.com>",
            "Content-Type: application/sdp",
            "Content-Length: \(sdp.utf8.count)",
        ], body: sdp)
    }

    /// A non-INVITE request (OPTIONS by default).
    static func nonInvite(method: String = "OPTIONS", branch: String = "z9hG4bKproxy2") -> SIPRequest {
        self.parseRequest([
            "\(method) sip:bob@biloxi.com SIP/2.0",
            "Via: SIP/2.0/UDP proxy.example.com:5060;branch=\(branch)",
            "Max-Forwards: 70",
            "To: <sip:bob@biloxi.com>",
            "From: <sip:alice@atlanta.com>;tag=88",
            "Call-ID: nict-1@pc33.atlanta.com",
            "CSeq: 7 \(method)",
            "Content-Length: 0",
        ])
    }

    /// A response to `request` with the request's Vias, From, Call-ID and CSeq; `toTag` goes on the To header.
    static func response(
        _ status: Int,
        _ reason: String,
        to request: SIPRequest,
        toTag: String? = "a6c85cf"
    ) -> SIPResponse {
        var lines = ["SIP/2.0 \(status) \(reason)"]
        for via in request.headers.lines("via") {
            lines.append("Via: \(via)")
        }
        let to = request.headers["to"] ?? ""
        lines.append("To: " + (toTag.map { "\(to);tag=\($0)" } ?? to))
        lines.append("From: \(request.headers["from"] ?? "")")
        lines.append("Call-ID: \(request.callID)")
        lines.append("CSeq: \(request.cseq)")
        lines.append("Content-Length: 0")
        return self.parseResponse(lines)
    }

    /// The ACK the UAC sends for a non-2xx final response to `request` (same branch, RFC 3261 §17.1.1.3).
    static func ack(for request: SIPRequest, toTag: String = "a6c85cf") -> SIPRequest {
        var lines = ["ACK \(request.uri) SIP/2.0"]
        if let via = request.headers.values("via").first {
            lines.append("Via: \(via)")
        }
        lines.append("Max-Forwards: 70")
        lines.append("To: \(request.headers["to"] ?? "");tag=\(toTag)")
        lines.append("From: \(request.headers["from"] ?? "")")
        lines.append("Call-ID: \(request.callID)")
        lines.append("CSeq: \(request.cseq.number) ACK")
        lines.append("Content-Length: 0")
        return self.parseRequest(lines)
    }
}
