// NameAddress: the value of From, To, Contact, Route, Record-Route, Refer-To (RFC 3261 §20, §25.1).
//
//     ( name-addr / addr-spec ) *( SEMI header-param )
//     name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
//
// Without angle brackets, everything after the first ";" belongs to the header, not the URI (RFC 3261 §20.10,
// RFC 4475 §3.3.12); and such a URI may not contain ",", ";" or "?" (RFC 4475 §3.1.2.13).

/// A display name, URI and header parameters.
public struct NameAddress: Sendable, Hashable, CustomStringConvertible {
    /// Display name as written: a quoted string keeps its quotes and escapes; tokens are kept with single spaces.
    public var displayName: String?
    public var uri: SIPURI
    public var parameters: SIPParameters
    /// Whether the URI was written inside `<...>`; serialization always uses brackets.
    public var bracketed: Bool

    public init(displayName: String? = nil, uri: SIPURI, parameters: SIPParameters = SIPParameters()) {
        self.displayName = displayName
        self.uri = uri
        self.parameters = parameters
        self.bracketed = true
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    public var tag: String? { self.parameters["tag"] }

    /// The display name without quotes and with `\` escapes resolved, for logs and the call journal.
    public var displayText: String? {
        guard var name = self.displayName else { return nil }
        if name.hasPrefix("\"") && name.hasSuffix("\"") && name.count >= 2 {
            name = String(name.dropFirst().dropLast())
            var out = ""
            var escaped = false
            for ch in name {
                if escaped {
                    out.append(ch)
                    escaped = false
                } else if ch == "\\" {
                    escaped = true
                } else {
                    out.append(ch)
                }
            }
            return out
        }
        return name
    }

    public var description: String { self.serialized }

    public var serialized: String {
        var out = ""
        if let displayName = self.displayName, !displayName.isEmpty {
            out += displayName + " "
        }
        out += "<" + self.uri.serialized + ">"
        out += self.parameters.serialized
        return out
    }

    /// Parses one value (not a comma list).
    public static func parse<S: StringProtocol>(_ text: S) -> NameAddress? {
        var rest = Substring(text).trimmingLWSSubstring()
        guard !rest.isEmpty else { return nil }
        var displayName: String?
        // Delimiters are looked up as scalars: a combining mark after `"` or `<` would merge with it into one
        // Character and hide it.
        if rest.unicodeScalars.first == "\"" {
            guard let end = SIPGrammar.endOfQuotedString(rest) else { return nil }
            displayName = String(rest[..<end])
            rest = rest[end...]
            while let f = rest.unicodeScalars.first, f == " " || f == "\t" {
                rest = rest[rest.utf8.index(after: rest.startIndex)...]
            }
            guard rest.unicodeScalars.first == "<" else { return nil }
        } else if let lt = rest.utf8.firstIndex(of: UInt8(ascii: "<")) {
            // Unquoted display name: *(token LWS); RFC 4475 §3.1.1.6 allows no LWS before "<".
            let name = rest[..<lt].trimmingSIPWhitespace()
            if !name.isEmpty {
                let words = name.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard words.allSatisfy({ SIPGrammar.isToken($0) }) else { return nil }
                displayName = words.joined(separator: " ")
            }
            rest = rest[lt...]
        }
        var address = NameAddress(displayName: displayName, uri: SIPURI(host: ""))
        if rest.unicodeScalars.first == "<" {
            guard let gt = rest.utf8.firstIndex(of: UInt8(ascii: ">")) else { return nil }
            let uriText = rest[rest.utf8.index(after: rest.startIndex)..<gt]
            // No LWS inside the brackets (RFC 4475 §3.1.2.14).
            guard let uri = SIPURI.parse(uriText) else { return nil }
            address.uri = uri
            rest = rest[rest.utf8.index(after: gt)...].trimmingSIPWhitespaceSubstring()
        } else {
            // addr-spec: the URI ends at the first ";" and may not contain "," ";" "?" (RFC 3261 §20).
            let end = rest.utf8.firstIndex(of: UInt8(ascii: ";")) ?? rest.endIndex
            let uriText = rest[..<end].trimmingSIPWhitespace()
            guard !uriText.utf8.contains(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: ",") || $0 == 32 }),
                let uri = SIPURI.parse(uriText)
            else { return nil }
            address.uri = uri
            address.bracketed = false
            rest = rest[end...]
        }
        if !rest.isEmpty {
            let paramText = rest[rest.utf8.index(after: rest.startIndex)...]
            guard rest.unicodeScalars.first == ";", let params = SIPParameters.parseHeaderParameters(paramText) else {
                return nil
            }
            address.parameters = params
        }
        return address
    }

    /// Parses a comma list of name-addrs (Contact, Route, Record-Route). Nil when any element is malformed or
    /// empty (RFC 4475 §3.1.2.1).
    public static func parseList(_ values: [String]) -> [NameAddress]? {
        var out: [NameAddress] = []
        out.reserveCapacity(values.count)
        for value in values {
            guard let address = NameAddress.parse(value) else { return nil }
            out.append(address)
        }
        return out
    }
}

extension Substring {
    /// Trims SP and HTAB from both ends, by bytes: asking for `first` and `last` Characters would run grapheme
    /// breaking on every header value (issue 12 profile).
    func trimmingSIPWhitespaceSubstring() -> Substring {
        let u = self.utf8
        var start = u.startIndex
        var end = u.endIndex
        while start != end, u[start] == 32 || u[start] == 9 { start = u.index(after: start) }
        while end != start, u[u.index(before: end)] == 32 || u[u.index(before: end)] == 9 { end = u.index(before: end) }
        return self[start..<end]
    }

    /// Trims SP, HTAB, CR and LF (RFC 3261 §25.1 LWS) from both ends, by bytes, without copying.
    func trimmingLWSSubstring() -> Substring {
        let u = self.utf8
        var start = u.startIndex
        var end = u.endIndex
        while start != end, Self.isSIPWhitespaceByte(u[start]) { start = u.index(after: start) }
        while end != start, Self.isSIPWhitespaceByte(u[u.index(before: end)]) { end = u.index(before: end) }
        return self[start..<end]
    }
}
