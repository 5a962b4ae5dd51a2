// SIPResponse: a response with its validated core headers (RFC 3261 §7.2).

/// A SIP response.
public struct SIPResponse: Sendable, Equatable {
    /// 100...699 (RFC 3261 §7.2).
    public var statusCode: Int
    /// The reason phrase as received; the proxy relays it unchanged unless a phrase table rewrites it.
    public var reason: String
    public var headers: SIPHeaders
    public var body: [UInt8]

    public let callID: String
    public let cseq: CSeq
    public let from: NameAddress
    public let to: NameAddress

    public init(statusCode: Int, reason: String, headers: SIPHeaders, body: [UInt8] = []) throws(SIPParseError) {
        guard (100...699).contains(statusCode) else {
            throw SIPParseError(.invalidStatusCode, String(statusCode), isRequest: false)
        }
        let core: SIPMessageCore
        do {
            core = try SIPMessageCore.validate(headers)
        } catch {
            var e = error
            e.isRequest = false
            throw e
        }
        self.statusCode = statusCode
        self.reason = reason
        self.headers = headers
        self.body = body
        self.callID = core.callID
        self.cseq = core.cseq
        self.from = core.from
        self.to = core.to
    }

    public var topVia: Via? { self.headers.values("via").first.flatMap(Via.parse) }

    public var vias: [Via] { self.headers.values("via").compactMap(Via.parse) }

    public var contacts: [NameAddress] {
        NameAddress.parseList(self.headers.values("contact").filter { $0 != "*" }) ?? []
    }

    public var isProvisional: Bool { self.statusCode < 200 }
    public var isSuccess: Bool { (200..<300).contains(self.statusCode) }
    public var isFinal: Bool { self.statusCode >= 200 }
}
