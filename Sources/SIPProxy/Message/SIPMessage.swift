// SIPMessage: a request or a response (RFC 3261 §7).

/// Either kind of SIP message.
public enum SIPMessage: Sendable, Equatable {
    case request(SIPRequest)
    case response(SIPResponse)

    public var headers: SIPHeaders {
        switch self {
        case .request(let r): return r.headers
        case .response(let r): return r.headers
        }
    }

    public var callID: String {
        switch self {
        case .request(let r): return r.callID
        case .response(let r): return r.callID
        }
    }

    public var cseq: CSeq {
        switch self {
        case .request(let r): return r.cseq
        case .response(let r): return r.cseq
        }
    }

    /// One-line summary for logs: `INVITE sip:bob@h` or `180 Ringing (INVITE)`.
    public var summary: String {
        switch self {
        case .request(let r): return "\(r.method) \(r.uri)"
        case .response(let r): return "\(r.statusCode) \(r.reason) (\(r.cseq.method))"
        }
    }
}

/// The validated core headers shared by requests and responses.
struct SIPMessageCore {
    var callID: String
    var cseq: CSeq
    var from: NameAddress
    var to: NameAddress

    /// Headers that may appear at most once (RFC 3261 §20, RFC 4475 §3.3.8).
    static let singletons = ["call-id", "cseq", "from", "to", "max-forwards", "content-type", "expires"]

    /// Checks the headers every SIP message must have and the grammar of those the proxy relies on (RFC 3261
    /// §8.1.1, §20). Unknown headers are not checked: the proxy relays them verbatim.
    static func validate(_ headers: SIPHeaders) throws(SIPParseError) -> SIPMessageCore {
        // Bound once, so no force unwrap depends on the check above it staying in step (bad input must never trap).
        guard let callIDText = headers["call-id"], let cseqText = headers["cseq"], let fromText = headers["from"],
            let toText = headers["to"], headers.contains("via")
        else {
            let missing = ["from", "to", "call-id", "cseq", "via"].first { !headers.contains($0) } ?? "via"
            throw SIPParseError(.missingHeader(missing))
        }
        for name in singletons {
            let values = headers.values(name)
            if values.count > 1 {
                // Several Call-IDs, From, To: RFC 4475 §3.3.8. From/To with commas inside quotes stay one value.
                throw SIPParseError(.duplicateHeader(name), values.joined(separator: " | "))
            }
        }
        let callID = callIDText
        // Call-ID = word [ "@" word ] (RFC 3261 §25.1).
        guard !callID.isEmpty, callID.utf8.allSatisfy({ SIPGrammar.isWordChar($0) || $0 == UInt8(ascii: "@") })
        else { throw SIPParseError(.malformedHeader("call-id"), callID) }
        guard let cseq = CSeq.parse(cseqText) else { throw SIPParseError(.malformedHeader("cseq"), cseqText) }
        guard let from = NameAddress.parse(fromText) else { throw SIPParseError(.malformedHeader("from"), fromText) }
        guard let to = NameAddress.parse(toText) else { throw SIPParseError(.malformedHeader("to"), toText) }
        let vias = headers.values("via")
        guard !vias.isEmpty else { throw SIPParseError(.missingHeader("via")) }
        for via in vias where Via.parse(via) == nil {
            throw SIPParseError(.malformedHeader("via"), via)
        }
        if let maxForwards = headers["max-forwards"], !SIPGrammar.isDigits(maxForwards) {
            throw SIPParseError(.malformedHeader("max-forwards"), maxForwards)
        }
        for name in ["contact", "route", "record-route"] {
            for value in headers.values(name) {
                if name == "contact" && value == "*" { continue }
                if NameAddress.parse(value) == nil { throw SIPParseError(.malformedHeader(name), value) }
            }
        }
        if let date = headers["date"], !date.hasSuffix("GMT") {
            // RFC 3261 §20.17: rfc1123-date, always in GMT (RFC 4475 §3.1.2.12).
            throw SIPParseError(.malformedHeader("date"), date)
        }
        return SIPMessageCore(callID: callID, cseq: cseq, from: from, to: to)
    }
}
