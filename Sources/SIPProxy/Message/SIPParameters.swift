// SIPParameters: `;name[=value]` lists of URIs (RFC 3261 §19.1.1) and headers (§7.3.1, generic-param §25.1).

/// One parameter; `value` is nil for a flag such as `lr` or `rport`.
public struct SIPParameter: Sendable, Hashable {
    public var name: String
    public var value: String?

    public init(_ name: String, _ value: String? = nil) {
        self.name = name
        self.value = value
    }
}

/// An ordered parameter list with case-insensitive names, kept as written so it serializes back unchanged.
public struct SIPParameters: Sendable, Hashable, Sequence {
    public var items: [SIPParameter]

    public init(_ items: [SIPParameter] = []) { self.items = items }

    public func makeIterator() -> IndexingIterator<[SIPParameter]> { self.items.makeIterator() }

    public var isEmpty: Bool { self.items.isEmpty }

    /// Whether a parameter (flag or valued) is present.
    public func contains(_ name: String) -> Bool {
        self.items.contains { $0.name.caseInsensitiveEquals(name) }
    }

    /// The value of a parameter: `nil` when absent, `""` for a flag.
    public subscript(_ name: String) -> String? {
        get {
            guard let item = self.items.first(where: { $0.name.caseInsensitiveEquals(name) }) else { return nil }
            return item.value ?? ""
        }
    }

    /// Sets or replaces a parameter (nil value = flag).
    public mutating func set(_ name: String, _ value: String?) {
        if let index = self.items.firstIndex(where: { $0.name.caseInsensitiveEquals(name) }) {
            self.items[index].value = value
        } else {
            self.items.append(SIPParameter(name, value))
        }
    }

    public mutating func remove(_ name: String) {
        self.items.removeAll { $0.name.caseInsensitiveEquals(name) }
    }

    /// `;a=b;c` as written (empty when there are none).
    public var serialized: String {
        var out = ""
        for item in self.items {
            out += ";"
            out += item.name
            if let value = item.value {
                out += "="
                out += value
            }
        }
        return out
    }

    /// Parses the text after a leading `;` of a header's parameter section: `a = b ; c` with LWS around `=` and
    /// `;` (RFC 3261 §25.1 SEMI and EQUAL allow it). Quoted values keep their quotes. Returns nil when a name is
    /// empty or not a token (`;;` in RFC 4475 §3.1.2.1) or a value is malformed.
    static func parseHeaderParameters(_ text: Substring) -> SIPParameters? {
        var result: [SIPParameter] = []
        for raw in SIPGrammar.splitOutsideQuotes(text, separator: ";") {
            let part = raw.trimmingLWSSubstring()
            guard !part.isEmpty else { return nil }
            if let eq = part.utf8.firstIndex(of: UInt8(ascii: "=")) {
                let name = part[..<eq].trimmingSIPWhitespace()
                let value = part[part.utf8.index(after: eq)...].trimmingSIPWhitespace()
                guard SIPGrammar.isToken(name), !value.isEmpty else { return nil }
                if value.utf8.first == UInt8(ascii: "\"") {
                    guard let end = SIPGrammar.endOfQuotedString(Substring(value)), end == value.endIndex else {
                        return nil
                    }
                } else {
                    // gen-value = token / host / quoted-string; IPv6 references appear in received= (RFC 5118 §4.5).
                    guard
                        value.utf8.allSatisfy({
                            SIPGrammar.isTokenChar($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "[")
                                || $0 == UInt8(ascii: "]")
                        })
                    else { return nil }
                }
                result.append(SIPParameter(name, value))
            } else {
                guard SIPGrammar.isToken(part) else { return nil }
                result.append(SIPParameter(String(part), nil))
            }
        }
        return SIPParameters(result)
    }

    /// Parses URI parameters (`;transport=tcp;lr`): no LWS allowed, names and values are paramchars.
    static func parseURIParameters(_ text: Substring) -> SIPParameters? {
        var result: [SIPParameter] = []
        // Split on the byte: Character-wise splitting runs grapheme breaking over every URI.
        for bytes in text.utf8.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false) {
            let part = Substring(bytes)
            guard !part.isEmpty else { return nil }
            guard part.utf8.allSatisfy(SIPURI.isParamChar) else { return nil }
            if let eq = part.utf8.firstIndex(of: UInt8(ascii: "=")) {
                result.append(SIPParameter(String(part[..<eq]), String(part[part.utf8.index(after: eq)...])))
            } else {
                result.append(SIPParameter(String(part), nil))
            }
        }
        return SIPParameters(result)
    }
}

extension String {
    /// ASCII case-insensitive comparison, cheaper than lowercasing both sides.
    public func caseInsensitiveEquals(_ other: String) -> Bool {
        let a = self.utf8
        let b = other.utf8
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y {
            let lx = (x >= 65 && x <= 90) ? x + 32 : x
            let ly = (y >= 65 && y <= 90) ? y + 32 : y
            if lx != ly { return false }
        }
        return true
    }
}
