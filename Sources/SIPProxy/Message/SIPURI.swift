// SIPURI: SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), and any other absoluteURI kept opaque.
//
//     sip:user:password@host:port;uri-parameters?headers
//
// Users are kept escaped as received: RFC 3261 §19.1.4 compares URIs after unescaping, which `aorKey` does,
// so `sip:%61lice@h` and `sip:alice@h` are one AOR while `sip:%00@h` and `sip:%00%00@h` stay two (RFC 4475 §3.1.1.4).

/// A parsed URI.
public struct SIPURI: Sendable, Hashable, CustomStringConvertible {
    /// Lower-cased scheme: `sip`, `sips`, `tel`, or any other scheme (then only `opaque` is set).
    public var scheme: String
    /// The user part, still %-escaped; for `tel:` the telephone number.
    public var user: String?
    public var password: String?
    /// Host name, IPv4 address or bracketed IPv6 reference; empty for tel and opaque URIs.
    public var host: String
    public var port: Int?
    public var parameters: SIPParameters
    /// Header part after `?`, kept as written (never allowed in a Request-URI, §19.1.1).
    public var headers: String?
    /// Everything after `scheme:` for schemes other than sip, sips and tel.
    public var opaque: String?

    public init(
        scheme: String = "sip",
        user: String? = nil,
        password: String? = nil,
        host: String,
        port: Int? = nil,
        parameters: SIPParameters = SIPParameters(),
        headers: String? = nil
    ) {
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.parameters = parameters
        self.headers = headers
        self.opaque = nil
    }

    /// Whether this is a `sip:` or `sips:` URI, the only ones the proxy routes (others get 416).
    public var isSIP: Bool { self.scheme == "sip" || self.scheme == "sips" }

    /// The `transport` URI parameter, lower-cased (RFC 3261 §19.1.1).
    public var transport: String? { self.parameters["transport"]?.lowercased() }

    /// Whether the URI has the `lr` parameter: the hop is a loose router (RFC 3261 §16.4, §19.1.1).
    public var isLooseRouter: Bool { self.parameters.contains("lr") }

    /// The host without IPv6 brackets, lower-cased.
    public var bareHost: String {
        var h = self.host.lowercased()
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        return h
    }

    /// The address-of-record key for the location service: scheme, unescaped user and lower-cased host, no port
    /// or parameters (RFC 3261 §10.3 step 5). `sips:` and `sip:` AORs are one user here.
    public var aorKey: String {
        let user = SIPURI.normalizeEscapes(self.user ?? "")
        return "sip:\(user)@\(self.bareHost)"
    }

    public var description: String { self.serialized }

    public var serialized: String {
        if let opaque = self.opaque { return "\(self.scheme):\(opaque)" }
        var out = self.scheme + ":"
        if self.scheme == "tel" {
            out += self.user ?? ""
            out += self.parameters.serialized
            return out
        }
        if let user = self.user {
            out += user
            if let password = self.password { out += ":" + password }
            out += "@"
        }
        out += self.host
        if let port = self.port { out += ":\(port)" }
        out += self.parameters.serialized
        if let headers = self.headers { out += "?" + headers }
        return out
    }

    /// Parses a URI. Returns nil when it is not well formed.
    public static func parse<S: StringProtocol>(_ text: S) -> SIPURI? {
        let s = Substring(text)
        // URIs are ASCII (RFC 3986 §2, RFC 3261 §25.1: anything else is %-escaped) without SP or controls; checking
        // this first also makes the Character-based scanning below equal to scanning bytes.
        guard !s.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) else { return nil }
        guard let colon = s.utf8.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let scheme = s[..<colon]
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )  (RFC 3986 §3.1)
        guard let first = scheme.utf8.first, (first | 0x20) >= UInt8(ascii: "a"), (first | 0x20) <= UInt8(ascii: "z"),
            scheme.utf8.allSatisfy({
                SIPGrammar.isAlphaNum($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-")
                    || $0 == UInt8(ascii: ".")
            })
        else { return nil }
        let rest = s[s.utf8.index(after: colon)...]
        guard !rest.isEmpty, !rest.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else { return nil }
        let lowerScheme = scheme.lowercased()
        switch lowerScheme {
        case "sip", "sips":
            return parseSIP(scheme: lowerScheme, rest)
        case "tel":
            // RFC 3966: telephone-subscriber *par; keep the number and its parameters.
            let parts = rest.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
            guard !parts[0].isEmpty else { return nil }
            var uri = SIPURI(scheme: "tel", user: String(parts[0]), host: "")
            if parts.count == 2 {
                guard let params = SIPParameters.parseURIParameters(parts[1]) else { return nil }
                uri.parameters = params
            }
            return uri
        default:
            // Unknown schemes are well formed (RFC 4475 §3.3.2); the proxy answers them 416.
            guard !rest.contains("<"), !rest.contains(">"), !rest.contains("\"") else { return nil }
            var uri = SIPURI(scheme: lowerScheme, host: "")
            uri.opaque = String(rest)
            return uri
        }
    }

    private static func parseSIP(scheme: String, _ rest: Substring) -> SIPURI? {
        var uri = SIPURI(scheme: scheme, host: "")
        var hostPart = rest
        // The first "@" ends the userinfo: "@" cannot appear unescaped in parameters or headers, but ";" and "?"
        // can appear in the user part (RFC 4475 §3.1.1.9 and §3.1.1.2).
        if let at = rest.utf8.firstIndex(of: UInt8(ascii: "@")) {
            let userinfo = rest[..<at]
            hostPart = rest[rest.utf8.index(after: at)...]
            guard !userinfo.isEmpty else { return nil }
            if let pc = userinfo.utf8.firstIndex(of: UInt8(ascii: ":")) {
                uri.user = String(userinfo[..<pc])
                uri.password = String(userinfo[userinfo.utf8.index(after: pc)...])
            } else {
                uri.user = String(userinfo)
            }
            guard let user = uri.user, !user.isEmpty, user.utf8.allSatisfy(isUserChar),
                validEscapes(user)
            else { return nil }
            if let password = uri.password {
                guard password.utf8.allSatisfy(isUserChar), validEscapes(password) else { return nil }
            }
        }
        if let q = hostPart.utf8.firstIndex(of: UInt8(ascii: "?")) {
            uri.headers = String(hostPart[hostPart.utf8.index(after: q)...])
            hostPart = hostPart[..<q]
            guard let headers = uri.headers, !headers.isEmpty, validEscapes(headers) else { return nil }
        }
        // The host may be a bracketed IPv6 reference containing ":"; parameters start at the first ";" after it.
        var hostPortEnd = hostPart.endIndex
        if let close = hostPart.utf8.firstIndex(of: UInt8(ascii: "]")) {
            hostPortEnd = hostPart[close...].utf8.firstIndex(of: UInt8(ascii: ";")) ?? hostPart.endIndex
        } else if let semi = hostPart.utf8.firstIndex(of: UInt8(ascii: ";")) {
            hostPortEnd = semi
        }
        guard let (host, port) = SIPGrammar.splitHostPort(hostPart[..<hostPortEnd]) else { return nil }
        uri.host = host
        uri.port = port
        if hostPortEnd < hostPart.endIndex {
            let paramText = hostPart[hostPart.utf8.index(after: hostPortEnd)...]
            guard let params = SIPParameters.parseURIParameters(paramText), validEscapes(paramText) else {
                return nil
            }
            uri.parameters = params
        }
        return uri
    }

    /// user = 1*( unreserved / escaped / user-unreserved ), user-unreserved = "&" / "=" / "+" / "$" / "," / ";" /
    /// "?" / "/"  (RFC 3261 §25.1); password adds nothing beyond these.
    static func isUserChar(_ c: UInt8) -> Bool {
        if isUnreserved(c) { return true }
        switch c {
        case UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "$"),
            UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "?"), UInt8(ascii: "/"):
            return true
        default:
            return false
        }
    }

    /// unreserved = alphanum / mark; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
    static func isUnreserved(_ c: UInt8) -> Bool {
        if SIPGrammar.isAlphaNum(c) { return true }
        switch c {
        case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "!"), UInt8(ascii: "~"),
            UInt8(ascii: "*"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"):
            return true
        default:
            return false
        }
    }

    /// paramchar = param-unreserved / unreserved / escaped, plus "=" between name and value.
    static func isParamChar(_ c: UInt8) -> Bool {
        if isUnreserved(c) { return true }
        switch c {
        case UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "/"), UInt8(ascii: ":"), UInt8(ascii: "&"),
            UInt8(ascii: "+"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }

    /// Every "%" is followed by two hex digits.
    static func validEscapes<S: StringProtocol>(_ s: S) -> Bool {
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "%") {
                guard i + 2 < u.count else { return false }
                guard SIPGrammar.isHexDigit(u[i + 1]), SIPGrammar.isHexDigit(u[i + 2]) else { return false }
                i += 3
            } else {
                i += 1
            }
        }
        return true
    }

    /// Unescapes %HH and re-escapes every octet that is not unreserved, with upper-case hex, giving one spelling
    /// for equivalent users (RFC 3261 §19.1.4).
    static func normalizeEscapes(_ s: String) -> String {
        let u = Array(s.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(u.count)
        var i = 0
        while i < u.count {
            // Both must be hex digits: `UInt8(_:radix:)` alone would also accept "+1".
            if u[i] == UInt8(ascii: "%"), i + 2 < u.count, SIPGrammar.isHexDigit(u[i + 1]),
                SIPGrammar.isHexDigit(u[i + 2]),
                let v = UInt8(String(decoding: u[(i + 1)...(i + 2)], as: UTF8.self), radix: 16)
            {
                bytes.append(v)
                i += 3
            } else {
                bytes.append(u[i])
                i += 1
            }
        }
        var out = ""
        let hex = Array("0123456789ABCDEF".utf8)
        for b in bytes {
            if isUnreserved(b) || (b != UInt8(ascii: "%") && isUserChar(b)) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out.unicodeScalars.append(Unicode.Scalar(UInt8(ascii: "%")))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b & 0xF)]))
            }
        }
        return out
    }
}
