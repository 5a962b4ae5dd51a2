// SIPParseError: the one error type of the message layer.
//
// Every malformed input becomes a typed error naming the problem. The proxy answers a request with `status` and the
// error's `reason` when it could read enough of the request to answer (RFC 3261 §16.3 step 1, §8.2.2); otherwise it
// drops the datagram with a log line (malformed responses are always dropped, RFC 4475 §3.1.2.5 and §3.1.2.19).

/// A message could not be parsed or failed the syntax checks of RFC 3261 §25.
public struct SIPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong; `Equatable` so tests can assert on it.
    public enum Kind: Sendable, Equatable {
        /// The bytes do not start with a request line or status line.
        case malformedStartLine
        /// The request line or status line uses a SIP version other than 2.0 (answered 505, RFC 3261 §21.5.6).
        case unsupportedVersion
        /// The Request-URI is not a valid URI, or carries something a Request-URI may not (§19.1.1 headers).
        case malformedRequestURI
        /// A status code that is not three digits between 100 and 699 (§7.2).
        case invalidStatusCode
        /// A header line with no colon or a name that is not a token (§7.3.1).
        case malformedHeaderLine
        /// A header whose value does not follow its grammar; the associated value is the header's long name.
        case malformedHeader(String)
        /// A mandatory header is missing (§8.1.1: To, From, CSeq, Call-ID, Via).
        case missingHeader(String)
        /// A header that may appear once appears with several values (RFC 4475 §3.3.8).
        case duplicateHeader(String)
        /// Content-Length is not a non-negative number, or several differ (RFC 4475 §3.1.2.3, §3.3.9).
        case invalidContentLength
        /// Content-Length announces more bytes than the datagram holds (RFC 4475 §3.1.2.2).
        case truncatedBody
        /// The CSeq method differs from the request method (§8.1.1.5, RFC 4475 §3.1.2.17).
        case cseqMethodMismatch
        /// The message exceeds the configured maximum size.
        case messageTooLarge
        /// The header section is not valid UTF-8 (§7.3.1 text is UTF-8).
        case invalidEncoding
    }

    public var kind: Kind
    /// A short human-readable diagnostic, e.g. the offending header value.
    public var detail: String
    /// Whether the message was a request (`true`), a response (`false`) or unknown (`nil`).
    public var isRequest: Bool?
    /// The request method, when the start line could be read; decides 501 versus 400 (RFC 4475 §3.1.2.18).
    public var method: SIPMethod?

    public init(_ kind: Kind, _ detail: String = "", isRequest: Bool? = nil, method: SIPMethod? = nil) {
        self.kind = kind
        self.detail = detail
        self.isRequest = isRequest
        self.method = method
    }

    /// The status code a server answers with (RFC 3261 §21.4.1 400, §21.5.7 505, §21.5.2 501).
    public var status: Int {
        switch self.kind {
        case .unsupportedVersion:
            return 505
        case .cseqMethodMismatch:
            // RFC 4475 §3.1.2.18: an unknown method with a mismatching CSeq is best answered 501.
            if let method = self.method, !method.isKnown { return 501 }
            return 400
        case .messageTooLarge:
            return 513
        default:
            return 400
        }
    }

    /// The reason phrase that names the problem, used on the 4xx/5xx the proxy sends back.
    public var reason: String {
        switch self.kind {
        case .malformedStartLine: return "Bad Request Line"
        case .unsupportedVersion: return "Version Not Supported"
        case .malformedRequestURI: return "Bad Request-URI"
        case .invalidStatusCode: return "Bad Status Code"
        case .malformedHeaderLine: return "Bad Header Line"
        case .malformedHeader(let name): return "Bad \(SIPParseError.displayName(name)) Header"
        case .missingHeader(let name): return "Missing \(SIPParseError.displayName(name)) Header"
        case .duplicateHeader(let name): return "Multiple \(SIPParseError.displayName(name)) Headers"
        case .invalidContentLength: return "Bad Content-Length"
        case .truncatedBody: return "Body Shorter Than Content-Length"
        case .cseqMethodMismatch:
            return self.status == 501 ? "Not Implemented" : "CSeq Method Does Not Match"
        case .messageTooLarge: return "Message Too Large"
        case .invalidEncoding: return "Invalid UTF-8"
        }
    }

    public var description: String {
        self.detail.isEmpty ? self.reason : "\(self.reason): \(self.detail)"
    }

    /// `call-id` -> `Call-ID`, `cseq` -> `CSeq`, `max-forwards` -> `Max-Forwards`.
    static func displayName(_ key: String) -> String {
        switch key {
        case "call-id": return "Call-ID"
        case "cseq": return "CSeq"
        case "www-authenticate": return "WWW-Authenticate"
        default:
            return key.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(
                separator: "-"
            )
        }
    }
}
