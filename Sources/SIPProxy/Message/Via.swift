// Via: one value of the Via header (RFC 3261 §20.42, §18.2.1, RFC 3581).
//
//     SIP / 2.0 / UDP host[:port] *( SEMI via-params )
//
// LWS is allowed around the slashes (RFC 4475 §3.1.1.1).

/// One Via value.
public struct Via: Sendable, Hashable, CustomStringConvertible {
    /// Upper-cased transport: UDP, TCP, TLS, SCTP, WS, WSS or an extension token.
    public var transport: String
    public var host: String
    public var port: Int?
    public var parameters: SIPParameters

    public init(transport: String, host: String, port: Int?, parameters: SIPParameters = SIPParameters()) {
        self.transport = transport
        self.host = host
        self.port = port
        self.parameters = parameters
    }

    /// The magic cookie that marks an RFC 3261 branch (§8.1.1.7).
    public static let magicCookie = "z9hG4bK"

    public var branch: String? { self.parameters["branch"] }
    public var received: String? { self.parameters["received"] }
    /// `rport` value: nil when absent, "" when present without a value (RFC 3581 §3).
    public var rport: String? { self.parameters["rport"] }
    public var maddr: String? { self.parameters["maddr"] }

    /// Whether the branch is an RFC 3261 branch (starts with the magic cookie and has more than the cookie).
    public var hasRFC3261Branch: Bool {
        guard let branch = self.branch else { return false }
        return branch.hasPrefix(Via.magicCookie) && branch.utf8.count > Via.magicCookie.utf8.count
    }

    /// `host:port` as written, the sent-by part (RFC 3261 §17.2.3 uses it in transaction matching).
    public var sentBy: String {
        if let port = self.port { return "\(self.host.lowercased()):\(port)" }
        return self.host.lowercased()
    }

    public var description: String { self.serialized }

    public var serialized: String {
        var out = "SIP/2.0/" + self.transport + " " + self.host
        if let port = self.port { out += ":\(port)" }
        out += self.parameters.serialized
        return out
    }

    public static func parse<S: StringProtocol>(_ text: S) -> Via? {
        var s = Substring(text).trimmingSIPWhitespaceSubstring()
        // sent-protocol = protocol-name SLASH protocol-version SLASH transport, compared in place.
        guard let slash1 = s.utf8.firstIndex(of: UInt8(ascii: "/")),
            s[..<slash1].trimmingSIPWhitespaceSubstring().utf8.elementsEqualCaseInsensitive("SIP".utf8)
        else { return nil }
        s = s[s.utf8.index(after: slash1)...].trimmingSIPWhitespaceSubstring()
        guard let slash2 = s.utf8.firstIndex(of: UInt8(ascii: "/")),
            s[..<slash2].trimmingSIPWhitespaceSubstring().utf8.elementsEqual("2.0".utf8)
        else { return nil }
        s = s[s.utf8.index(after: slash2)...].trimmingSIPWhitespaceSubstring()
        guard let space = s.utf8.firstIndex(where: { $0 == 32 || $0 == 9 }) else { return nil }
        let transport = s[..<space]
        guard SIPGrammar.isToken(transport) else { return nil }
        s = s[space...].trimmingSIPWhitespaceSubstring()
        let semi = s.utf8.firstIndex(of: UInt8(ascii: ";")) ?? s.endIndex
        let sentBy = s[..<semi].trimmingSIPWhitespaceSubstring()
        guard let (host, port) = SIPGrammar.splitHostPort(sentBy) else { return nil }
        var via = Via(transport: transport.uppercased(), host: host, port: port)
        if semi < s.endIndex {
            guard let params = SIPParameters.parseHeaderParameters(s[s.utf8.index(after: semi)...]) else { return nil }
            via.parameters = params
        }
        return via
    }
}

extension Sequence<UInt8> {
    /// ASCII case-insensitive equality of two byte sequences.
    func elementsEqualCaseInsensitive(_ other: some Sequence<UInt8>) -> Bool {
        self.elementsEqual(other) { a, b in
            a == b || ((a | 0x20) == (b | 0x20) && (a | 0x20) >= UInt8(ascii: "a") && (a | 0x20) <= UInt8(ascii: "z"))
        }
    }
}
