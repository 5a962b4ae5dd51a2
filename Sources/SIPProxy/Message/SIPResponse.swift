// SIPResponse: a response with its validated core headers (RFC 3261 §7.2).

/// A SIP response.
public struct SIPResponse: Sendable, Equatable {
    /// 100...699 (RFC 3261 §7.2).
    public var statusCode: Int
    /// The reason phrase as received; the proxy relays it unchanged unless a phrase table rewrites it.
    public var reason: String
    /// A mutation marks the parsed top Via stale (no `oldValue` in the observer, so edits stay in place): it is
    /// parsed again only if someone asks for it (issue 12: parse on demand, keep what was parsed).
    public var headers: SIPHeaders {
        didSet { self.topViaIsStale = true }
    }
    public var body: [UInt8]

    public let callID: String
    public let cseq: CSeq
    public let from: NameAddress
    public let to: NameAddress
    /// The topmost Via value, parsed once; validation guarantees one.
    public var topVia: Via? {
        self.topViaIsStale ? self.headers.firstValue("via").flatMap(Via.parse) : self.parsedTopVia
    }
    private var parsedTopVia: Via?
    private var topViaIsStale = false

    public init(statusCode: Int, reason: String, headers: SIPHeaders, body: [UInt8] = []) throws(SIPParseError) {
        var memo = NameAddressMemo.disabled
        try self.init(statusCode: statusCode, reason: reason, headers: headers, body: body, memo: &memo)
    }

    /// The parser's way in: From and To come from the shard's `memo` when their text was seen before.
    init(
        statusCode: Int, reason: String, headers: SIPHeaders, body: [UInt8], memo: inout NameAddressMemo
    ) throws(SIPParseError) {
        guard (100...699).contains(statusCode) else {
            throw SIPParseError(.invalidStatusCode, String(statusCode), isRequest: false)
        }
        let core: SIPMessageCore
        do {
            core = try SIPMessageCore.validate(headers, isRequest: false, memo: &memo)
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
        self.parsedTopVia = core.topVia
    }

    public var vias: [Via] { self.headers.values("via").compactMap(Via.parse) }

    public var contacts: [NameAddress] {
        NameAddress.parseList(self.headers.values("contact").filter { $0 != "*" }) ?? []
    }

    /// A response built from a request's validated fields (the proxy's own replies): skips validating what
    /// was validated when the request was parsed.
    init(
        statusCode: Int,
        reason: String,
        headers: SIPHeaders,
        callID: String,
        cseq: CSeq,
        from: NameAddress,
        to: NameAddress,
        topVia: Via?
    ) {
        self.statusCode = statusCode
        self.reason = reason
        self.headers = headers
        self.body = []
        self.callID = callID
        self.cseq = cseq
        self.from = from
        self.to = to
        self.parsedTopVia = topVia
    }

    public var isProvisional: Bool { self.statusCode < 200 }
    public var isSuccess: Bool { (200..<300).contains(self.statusCode) }
    public var isFinal: Bool { self.statusCode >= 200 }
}

extension SIPResponse {
    /// Equal when the wire content is: the parsed fields follow from it, and a cached parse is not content.
    public static func == (lhs: SIPResponse, rhs: SIPResponse) -> Bool {
        lhs.statusCode == rhs.statusCode && lhs.reason == rhs.reason && lhs.headers == rhs.headers && lhs.body == rhs.body
    }
}
