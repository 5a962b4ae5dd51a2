// JSONObjectBuilder: one JSON object written directly, byte for byte as `JSONEncoder` with
// `[.sortedKeys, .withoutEscapingSlashes]` writes it, when members are added in sorted order.
//
// The journal writes one line per call and rewrites the snapshot of calls in progress: through `JSONEncoder` that
// was 5 % of the proxy's CPU per call (a keyed container, boxing and a dictionary per record). The output is the
// same text, so readers, `sipctl calls` and the PostgreSQL jsonb copy see no difference (JSONObjectBuilderTests
// compare it with `JSONEncoder`'s).

/// Writes one JSON object (RFC 8259 §4) member by member. Callers add members in the order of their keys' UTF-8
/// bytes, the order `.sortedKeys` gives (checked in debug builds), so nothing is collected or sorted.
struct JSONObjectBuilder {
    // Bytes, not a String: appending to a String checks and re-validates on every piece, which made one journal
    // line cost more than everything else the journal thread does for the call.
    private var out: [UInt8]
    private var lastKey: String?

    init(capacity: Int = 512) {
        self.out = []
        self.out.reserveCapacity(capacity)
        self.out.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ key: String) {
        assert(self.lastKey.map { $0.utf8.lexicographicallyPrecedes(key.utf8) } ?? true, "\(key) out of order")
        if self.lastKey != nil { self.out.append(UInt8(ascii: ",")) }
        self.lastKey = key
        self.out.append(UInt8(ascii: "\""))
        self.out.append(contentsOf: key.utf8)
        self.out.append(UInt8(ascii: "\""))
        self.out.append(UInt8(ascii: ":"))
    }

    mutating func add(_ key: String, _ value: String?) {
        guard let value else { return }
        self.key(key)
        Self.appendQuoted(value, to: &self.out)
    }

    mutating func add<T: FixedWidthInteger>(_ key: String, _ value: T?) {
        guard let value else { return }
        self.key(key)
        self.out.append(contentsOf: String(value).utf8)
    }

    mutating func add(_ key: String, _ value: Double?) {
        guard let value else { return }
        self.key(key)
        self.out.append(contentsOf: Self.number(value).utf8)
    }

    mutating func add(_ key: String, _ value: Bool) {
        self.key(key)
        self.out.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// A value that is already JSON text (a nested object or array).
    mutating func add(_ key: String, json: String?) {
        guard let json else { return }
        self.key(key)
        self.out.append(contentsOf: json.utf8)
    }

    /// `{"a":1,"b":"x"}`.
    func build() -> String {
        var bytes = self.out
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `[a,b]` from already encoded elements.
    static func array(_ elements: [String]) -> String {
        "[" + elements.joined(separator: ",") + "]"
    }

    static func array(strings: [String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (i, string) in strings.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            Self.appendQuoted(string, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// A JSON number as `JSONEncoder` writes a `Double`: the shortest representation that reads back the same,
    /// without a trailing `.0` for integral values. Non-finite values have no JSON form; they are written as 0.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }

    /// A JSON string (RFC 8259 §7): quote, backslash and control characters escaped, `/` and non-ASCII as they are.
    static func quoted(_ value: String) -> String {
        var out: [UInt8] = []
        Self.appendQuoted(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendQuoted(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")]
                out += [Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static let hex = Array("0123456789abcdef".utf8)
}
