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
    private var out = "{"
    private var lastKey: String?

    init(capacity: Int = 512) {
        self.out.reserveCapacity(capacity)
    }

    private mutating func key(_ key: String) {
        assert(self.lastKey.map { $0.utf8.lexicographicallyPrecedes(key.utf8) } ?? true, "\(key) out of order")
        if self.lastKey != nil { self.out += "," }
        self.lastKey = key
        self.out += "\""
        self.out += key
        self.out += "\":"
    }

    mutating func add(_ key: String, _ value: String?) {
        guard let value else { return }
        self.key(key)
        self.out += Self.quoted(value)
    }

    mutating func add<T: FixedWidthInteger>(_ key: String, _ value: T?) {
        guard let value else { return }
        self.key(key)
        self.out += String(value)
    }

    mutating func add(_ key: String, _ value: Double?) {
        guard let value else { return }
        self.key(key)
        self.out += Self.number(value)
    }

    mutating func add(_ key: String, _ value: Bool) {
        self.key(key)
        self.out += value ? "true" : "false"
    }

    /// A value that is already JSON text (a nested object or array).
    mutating func add(_ key: String, json: String?) {
        guard let json else { return }
        self.key(key)
        self.out += json
    }

    /// `{"a":1,"b":"x"}`.
    func build() -> String {
        self.out + "}"
    }

    /// `[a,b]` from already encoded elements.
    static func array(_ elements: [String]) -> String {
        "[" + elements.joined(separator: ",") + "]"
    }

    static func array(strings: [String]) -> String {
        Self.array(strings.map(Self.quoted))
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
        // Most values (URIs, tags, addresses) need no escape: copy them whole.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + value + "\""
        }
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(value.utf8.count + 8)
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
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }
}
