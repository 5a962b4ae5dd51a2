// SIPHeaders: the ordered header list of a SIP message.
//
// RFC 3261 §7.3: header names are case-insensitive, several header lines of one name may be combined with commas
// (and split again), and §7.3.3 defines compact forms. Phones rely on the proxy keeping every header it does not
// understand verbatim and in order (§16.6), so this type stores each line as it came and only normalises the key.

/// One header line: the name as written on the wire and its (unfolded, trimmed) value.
public struct SIPHeaderField: Sendable, Equatable {
    /// The name exactly as received (or as added by the proxy).
    public var name: String
    /// The value with line folding replaced by a single space and outer whitespace trimmed.
    public var value: String
    /// Lower-cased long form of the name, used for every lookup (`v` and `Via` both give `via`).
    public let key: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
        self.key = SIPHeaders.canonicalKey(name)
    }

    /// A field whose key is already known (the parser's table of common names).
    init(name: String, value: String, key: String) {
        self.name = name
        self.value = value
        self.key = key
    }
}

/// Ordered, case-insensitive header list that keeps unknown headers verbatim.
public struct SIPHeaders: Sendable, Equatable, Sequence {
    public private(set) var fields: [SIPHeaderField]

    public init() { self.fields = [] }

    public init(_ pairs: [(String, String)]) {
        self.fields = pairs.map { SIPHeaderField(name: $0.0, value: $0.1) }
    }

    public func makeIterator() -> IndexingIterator<[SIPHeaderField]> { self.fields.makeIterator() }

    public var count: Int { self.fields.count }

    /// RFC 3261 §7.3.3 compact forms, plus those registered later (RFC 3515 `r`/`b`, RFC 3265 `o`/`u`,
    /// RFC 4028 `x`, RFC 3841 `a`/`j`/`d`, RFC 4474 `y`/`n`).
    static let compactForms: [String: String] = [
        "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length", "c": "content-type",
        "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via", "o": "event", "r": "refer-to",
        "b": "referred-by", "u": "allow-events", "x": "session-expires", "a": "accept-contact",
        "j": "reject-contact", "d": "request-disposition", "y": "identity", "n": "identity-info",
    ]

    /// Keys of the names phones write most, as they write them: a dictionary hit avoids lower-casing.
    static let commonKeys: [String: String] = {
        var map: [String: String] = [:]
        for name in [
            "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length", "Content-Type",
            "Route", "Record-Route", "Expires", "User-Agent", "Allow", "Supported", "Subject", "Server",
            "Accept", "Date", "Call-Id", "Cseq", "Event", "Require", "Proxy-Require", "Accept-Language",
        ] {
            map[name] = name.lowercased()
            map[name.lowercased()] = name.lowercased()
        }
        for (short, long) in compactForms { map[short] = long; map[short.uppercased()] = long }
        return map
    }()

    /// The lookup key for a header name: lower-cased, compact forms expanded.
    public static func canonicalKey(_ name: String) -> String {
        // The proxy's own lookups name headers in lower case ("via", "record-route"): already their key, with no
        // hashing (a dictionary lookup per header access was 1 % of the CPU per call).
        let utf8 = name.utf8
        if utf8.count > 1, utf8.allSatisfy({ ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0 == UInt8(ascii: "-") }) {
            return name
        }
        if let known = commonKeys[name] { return known }
        let lower = name.lowercased()
        if lower.utf8.count == 1, let long = compactForms[lower] { return long }
        return lower
    }

    /// The first value of a header, if present.
    public subscript(_ name: String) -> String? {
        let key = Self.canonicalKey(name)
        return self.fields.first { $0.key == key }?.value
    }

    /// Whether at least one line of this header is present.
    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// Every line of a header, in order (not split at commas).
    public func lines(_ name: String) -> [String] {
        let key = Self.canonicalKey(name)
        return self.fields.compactMap { $0.key == key ? $0.value : nil }
    }

    /// Every comma-separated value of a header across all its lines (RFC 3261 §7.3.1), in order. Commas inside
    /// quoted strings and `<...>` are not separators.
    public func values(_ name: String) -> [String] {
        self.lines(name).flatMap { SIPHeaders.splitCommaList($0) }
    }

    /// Appends a header line at the end.
    public mutating func add(_ name: String, _ value: String) {
        self.fields.append(SIPHeaderField(name: name, value: value))
    }

    /// Appends a parsed field (its key already computed).
    mutating func append(_ field: SIPHeaderField) {
        self.fields.append(field)
    }

    /// Room for this many fields without regrowing.
    mutating func reserveCapacity(_ count: Int) {
        self.fields.reserveCapacity(count)
    }

    /// Inserts a header line before the first line of the same header, or at the top when absent. This is where
    /// a proxy puts its Via and Record-Route values (RFC 3261 §16.6 steps 4 and 8).
    public mutating func prepend(_ name: String, _ value: String) {
        let key = Self.canonicalKey(name)
        let index = self.fields.firstIndex { $0.key == key } ?? 0
        self.fields.insert(SIPHeaderField(name: name, value: value), at: index)
    }

    /// Replaces every line of a header with a single line (appended where the first one stood).
    public mutating func set(_ name: String, _ value: String) {
        let key = Self.canonicalKey(name)
        if let index = self.fields.firstIndex(where: { $0.key == key }) {
            self.fields[index] = SIPHeaderField(name: self.fields[index].name, value: value)
            var i = self.fields.count - 1
            while i > index {
                if self.fields[i].key == key { self.fields.remove(at: i) }
                i -= 1
            }
        } else {
            self.add(name, value)
        }
    }

    /// Removes the lines of a header whose value matches `predicate`.
    public mutating func removeLines(_ name: String, where predicate: (String) -> Bool) {
        let key = Self.canonicalKey(name)
        self.fields.removeAll { $0.key == key && predicate($0.value) }
    }

    /// Removes every line of a header.
    public mutating func remove(_ name: String) {
        let key = Self.canonicalKey(name)
        self.fields.removeAll { $0.key == key }
    }

    /// Removes the first comma-separated value of a header and returns it. When that line held several values
    /// the rest stay on it, so `Via: a, b` becomes `Via: b` (RFC 3261 §16.7 step 3 strips only the top Via).
    @discardableResult
    public mutating func removeFirstValue(_ name: String) -> String? {
        let key = Self.canonicalKey(name)
        guard let index = self.fields.firstIndex(where: { $0.key == key }) else { return nil }
        var parts = SIPHeaders.splitCommaList(self.fields[index].value)
        guard !parts.isEmpty else {
            self.fields.remove(at: index)
            return nil
        }
        let first = parts.removeFirst()
        if parts.isEmpty {
            self.fields.remove(at: index)
        } else {
            self.fields[index] = SIPHeaderField(name: self.fields[index].name, value: parts.joined(separator: ", "))
        }
        return first
    }

    /// Replaces the first comma-separated value of a header in place (the rest of its line stays), in one
    /// mutation: used to stamp `received`/`rport` on the top Via (RFC 3581 §4).
    public mutating func replaceFirstValue(_ name: String, with value: String) {
        let key = Self.canonicalKey(name)
        guard let index = self.fields.firstIndex(where: { $0.key == key }) else {
            self.add(name, value)
            return
        }
        var parts = SIPHeaders.splitCommaList(self.fields[index].value)
        if parts.isEmpty { parts = [value] } else { parts[0] = value }
        self.fields[index] = SIPHeaderField(name: self.fields[index].name, value: parts.joined(separator: ", "))
    }

    /// Splits a header value at top-level commas: commas inside `"..."` (with `\` escapes) and `<...>` do not
    /// separate values. Empty elements are kept so that validators can reject `a,,b` (RFC 4475 §3.1.2.1).
    public static func splitCommaList(_ value: String) -> [String] {
        // Byte scan: every delimiter is ASCII and UTF-8 continuation bytes never equal an ASCII byte, so slicing
        // at these positions is slicing at scalar boundaries. Most values hold no comma at all.
        let u = value.utf8
        guard u.contains(UInt8(ascii: ",")) else {
            let trimmed = value.trimmingSIPWhitespace()
            return trimmed.isEmpty ? [] : [trimmed]
        }
        var result: [String] = []
        var inQuotes = false
        var escaped = false
        var angle = 0
        var start = u.startIndex
        var i = u.startIndex
        while i != u.endIndex {
            let c = u[i]
            if inQuotes {
                if escaped {
                    escaped = false
                } else if c == UInt8(ascii: "\\") {
                    escaped = true
                } else if c == UInt8(ascii: "\"") {
                    inQuotes = false
                }
            } else {
                switch c {
                case UInt8(ascii: "\""): inQuotes = true
                case UInt8(ascii: "<"): angle += 1
                case UInt8(ascii: ">"): angle = Swift.max(0, angle - 1)
                case UInt8(ascii: ",") where angle == 0:
                    result.append(value[start..<i].trimmingSIPWhitespace())
                    start = u.index(after: i)
                default: break
                }
            }
            i = u.index(after: i)
        }
        result.append(value[start..<u.endIndex].trimmingSIPWhitespace())
        if result.count == 1 && result[0].isEmpty { return [] }
        return result
    }

    /// The first comma-separated value of a header, without splitting the rest.
    public func firstValue(_ name: String) -> String? {
        let key = Self.canonicalKey(name)
        guard let line = self.fields.first(where: { $0.key == key })?.value else { return nil }
        return line.utf8.contains(UInt8(ascii: ",")) ? SIPHeaders.splitCommaList(line).first : line
    }
}

extension StringProtocol {
    /// Trims SP, HTAB, CR and LF (RFC 3261 §25.1 LWS) from both ends.
    public func trimmingSIPWhitespace() -> String {
        Substring(self).trimmingSIPWhitespace()
    }

    static func isSIPWhitespaceByte(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 13 || c == 10 }
}

extension String {
    /// Trims SP, HTAB, CR and LF from both ends; returns the string itself when there is nothing to trim.
    public func trimmingSIPWhitespace() -> String {
        guard let first = self.utf8.first, let last = self.utf8.last else { return self }
        if !Self.isSIPWhitespaceByte(first) && !Self.isSIPWhitespaceByte(last) { return self }
        return self[...].trimmingSIPWhitespace()
    }
}

extension Substring {
    public func trimmingSIPWhitespace() -> String {
        let u = self.utf8
        var start = u.startIndex
        var end = u.endIndex
        while start != end, Self.isSIPWhitespaceByte(u[start]) { start = u.index(after: start) }
        while end != start, Self.isSIPWhitespaceByte(u[u.index(before: end)]) { end = u.index(before: end) }
        return String(self[start..<end])
    }
}

extension Unicode.Scalar {
    var isSIPWhitespace: Bool { self == " " || self == "\t" || self == "\r" || self == "\n" }
}
