// SIPRequest: a request with its validated core headers (RFC 3261 §7.1, §8.1.1).

/// A SIP request. `callID`, `cseq`, `from` and `to` are validated when the value is made; a proxy never rewrites
/// them (RFC 3261 §16.6), so they are stored rather than parsed again on every look-up.
public struct SIPRequest: Sendable, Equatable {
    public var method: SIPMethod
    public var uri: SIPURI
    /// A mutation marks the parsed top Via stale (no `oldValue` in the observer, so edits stay in place): it is
    /// parsed again only if someone asks for it (issue 12: parse on demand, keep what was parsed).
    public var headers: SIPHeaders {
        didSet { self.topViaIsStale = true; self.contactsAreStale = true }
    }
    /// The body, byte-exact (RFC 3261 §7.4).
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
    private var parsedContacts: [NameAddress] = []
    private var contactsAreStale = false

    /// Builds a request and validates its headers, the same checks the parser applies to received bytes.
    public init(method: SIPMethod, uri: SIPURI, headers: SIPHeaders, body: [UInt8] = []) throws(SIPParseError) {
        var memo = NameAddressMemo.disabled
        try self.init(method: method, uri: uri, headers: headers, body: body, memo: &memo)
    }

    /// The parser's way in: From and To come from the shard's `memo` when their text was seen before.
    init(
        method: SIPMethod, uri: SIPURI, headers: SIPHeaders, body: [UInt8], memo: inout NameAddressMemo
    ) throws(SIPParseError) {
        let core: SIPMessageCore
        do {
            core = try SIPMessageCore.validate(headers, isRequest: true, memo: &memo)
        } catch {
            var e = error
            e.isRequest = true
            e.method = method
            throw e
        }
        // RFC 3261 §8.1.1.5: the CSeq method MUST match the request method (RFC 4475 §3.1.2.17/18).
        guard core.cseq.method == method else {
            throw SIPParseError(.cseqMethodMismatch, "\(method) vs CSeq \(core.cseq)", isRequest: true, method: method)
        }
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.callID = core.callID
        self.cseq = core.cseq
        self.from = core.from
        self.to = core.to
        self.parsedTopVia = core.topVia
        self.parsedContacts = core.contacts
    }

    /// Puts a Via on top (RFC 3261 §16.6 step 8: the proxy's own), keeping it parsed.
    public mutating func prependVia(_ via: Via) {
        let contactsAreStale = self.contactsAreStale
        self.headers.prepend("Via", via.serialized)
        self.parsedTopVia = via
        self.topViaIsStale = false
        self.contactsAreStale = contactsAreStale  // a Via changes no Contact
    }

    /// Every Via value, top first.
    public var vias: [Via] { self.headers.values("via").compactMap(Via.parse) }

    /// Max-Forwards, nil when absent (RFC 2543 requests have none, RFC 4475 §3.4.1).
    public var maxForwards: Int? {
        self.headers["max-forwards"].flatMap { SIPGrammar.parseNumber($0, limit: 1 << 31) }.map { Int($0) }
    }

    /// Route values, top first.
    public var routes: [NameAddress] { NameAddress.parseList(self.headers.values("route")) ?? [] }

    /// Contact values (not `*`).
    public var contacts: [NameAddress] {
        if !self.contactsAreStale { return self.parsedContacts }
        return NameAddress.parseList(self.headers.values("contact").filter { $0 != "*" }) ?? []
    }

    /// Whether the To header has a tag: an in-dialog request (RFC 3261 §12.2).
    public var isInDialog: Bool { self.to.tag != nil }
}

extension SIPRequest {
    /// Equal when the wire content is: the parsed fields follow from it, and a cached parse is not content.
    public static func == (lhs: SIPRequest, rhs: SIPRequest) -> Bool {
        lhs.method == rhs.method && lhs.uri == rhs.uri && lhs.headers == rhs.headers && lhs.body == rhs.body
    }
}
