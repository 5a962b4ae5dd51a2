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
    var topVia: Via
    /// A request's Contact values, parsed while validating them (not `*`); empty for a response.
    var contacts: [NameAddress] = []

    /// Checks the headers every SIP message must have and the grammar of those the proxy relies on (RFC 3261
    /// §8.1.1, §20), in one pass over the header list. Unknown headers are not checked: the proxy relays them
    /// verbatim.
    ///
    /// A request is checked in full: the proxy acts on its Vias, Contacts (registrar), Routes and Record-Routes,
    /// and RFC 4475 expects a malformed one answered with 400. A response (`isRequest` false) is checked for what
    /// the proxy uses: the core headers and the top Via (transaction matching, §17.1.3). Its other Vias, Contacts
    /// and Record-Routes are the UAs' business and travel verbatim; what the proxy needs of them later (a 3xx
    /// Contact to recurse on) is parsed when asked for. Parsing each Contact of every 180 and 200 only to throw the
    /// result away was a tenth of the proxy's CPU per call (issue 12).
    static func validate(_ headers: SIPHeaders, isRequest: Bool = true) throws(SIPParseError) -> SIPMessageCore {
        var memo = NameAddressMemo.disabled
        return try Self.validate(headers, isRequest: isRequest, memo: &memo)
    }

    /// `validate`, with From and To taken from `memo` when their text was seen before (a shard's parser).
    static func validate(
        _ headers: SIPHeaders, isRequest: Bool, memo: inout NameAddressMemo
    ) throws(SIPParseError) -> SIPMessageCore {
        var callIDText: String?
        var cseqText: String?
        var fromText: String?
        var toText: String?
        var topVia: Via?
        var contacts: [NameAddress] = []
        // Headers that may appear at most once (RFC 3261 §20, RFC 4475 §3.3.8): values seen so far.
        var counts = (callID: 0, cseq: 0, from: 0, to: 0, maxForwards: 0, contentType: 0, expires: 0)
        func count(_ value: String) -> Int {
            // From/To with commas inside quotes or <> stay one value.
            value.isEmpty ? 0 : (value.utf8.contains(UInt8(ascii: ",")) ? SIPHeaders.splitCommaList(value).count : 1)
        }
        func values(_ value: String) -> [String] {
            value.utf8.contains(UInt8(ascii: ",")) ? SIPHeaders.splitCommaList(value) : (value.isEmpty ? [] : [value])
        }
        for field in headers.fields {
            switch field.key {
            case "call-id":
                counts.callID += count(field.value)
                if callIDText == nil { callIDText = field.value }
            case "cseq":
                counts.cseq += count(field.value)
                if cseqText == nil { cseqText = field.value }
            case "from":
                counts.from += count(field.value)
                if fromText == nil { fromText = field.value }
            case "to":
                counts.to += count(field.value)
                if toText == nil { toText = field.value }
            case "max-forwards":
                counts.maxForwards += count(field.value)
                if !SIPGrammar.isDigits(field.value) {
                    throw SIPParseError(.malformedHeader("max-forwards"), field.value)
                }
            case "content-type":
                counts.contentType += count(field.value)
            case "expires":
                counts.expires += count(field.value)
            case "via":
                if !isRequest && topVia != nil { continue }
                for value in values(field.value) {
                    guard let via = Via.parse(value) else { throw SIPParseError(.malformedHeader("via"), value) }
                    if topVia == nil { topVia = via }
                    if !isRequest { break }
                }
                if field.value.isEmpty { throw SIPParseError(.malformedHeader("via"), field.value) }
            case "contact", "route", "record-route":
                guard isRequest else { continue }
                for value in values(field.value) {
                    if field.key == "contact" && value == "*" { continue }
                    guard let address = NameAddress.parse(value) else {
                        throw SIPParseError(.malformedHeader(field.key), value)
                    }
                    // Kept: the registrar and the media relay read the Contacts again.
                    if field.key == "contact" { contacts.append(address) }
                }
            case "date":
                // RFC 3261 §20.17: rfc1123-date, always in GMT (RFC 4475 §3.1.2.12).
                if !field.value.hasSuffix("GMT") { throw SIPParseError(.malformedHeader("date"), field.value) }
            default:
                break
            }
        }
        guard let callID = callIDText, let cseqValue = cseqText, let fromValue = fromText, let toValue = toText,
            let topVia
        else {
            let missing: String
            if fromText == nil {
                missing = "from"
            } else if toText == nil {
                missing = "to"
            } else if callIDText == nil {
                missing = "call-id"
            } else if cseqText == nil {
                missing = "cseq"
            } else {
                missing = "via"
            }
            throw SIPParseError(.missingHeader(missing))
        }
        let singletonCounts = [
            ("call-id", counts.callID), ("cseq", counts.cseq), ("from", counts.from), ("to", counts.to),
            ("max-forwards", counts.maxForwards), ("content-type", counts.contentType), ("expires", counts.expires),
        ]
        for (name, n) in singletonCounts where n > 1 {
            throw SIPParseError(.duplicateHeader(name), headers.values(name).joined(separator: " | "))
        }
        // Call-ID = word [ "@" word ] (RFC 3261 §25.1).
        guard !callID.isEmpty, callID.utf8.allSatisfy({ SIPGrammar.isWordChar($0) || $0 == UInt8(ascii: "@") })
        else { throw SIPParseError(.malformedHeader("call-id"), callID) }
        guard let cseq = CSeq.parse(cseqValue) else { throw SIPParseError(.malformedHeader("cseq"), cseqValue) }
        // A REGISTER's From and To name one phone and come back only at its next refresh, minutes later: a burst
        // of them would only churn the memo (RFC 3261 §10.2).
        let register = cseq.method == .register
        guard let from = register ? NameAddress.parse(fromValue) : memo.parse(fromValue) else {
            throw SIPParseError(.malformedHeader("from"), fromValue)
        }
        guard let to = register ? NameAddress.parse(toValue) : memo.parse(toValue) else {
            throw SIPParseError(.malformedHeader("to"), toValue)
        }
        return SIPMessageCore(callID: callID, cseq: cseq, from: from, to: to, topVia: topVia, contacts: contacts)
    }
}
