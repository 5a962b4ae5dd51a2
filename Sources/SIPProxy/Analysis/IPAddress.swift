// IPAddress and Endpoint: compact, hashable addresses for stream keys, formatted only for display.

/// An IPv4 or IPv6 address stored as two 64-bit words (IPv4 in the low 32 bits of `low`).
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public var isIPv6: Bool

    init(_ bytes: [UInt8], at offset: Int, length: Int) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<length {
            let byte = UInt64(bytes[offset + i])
            if length == 16 && i < 8 { high = high << 8 | byte } else { low = low << 8 | byte }
        }
        self.high = high
        self.low = low
        self.isIPv6 = length == 16
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        (a.isIPv6 ? 1 : 0, a.high, a.low) < (b.isIPv6 ? 1 : 0, b.high, b.low)
    }

    /// Dotted quad, or RFC 5952 text (lower case, longest run of zero groups as `::`).
    public var description: String {
        if !self.isIPv6 {
            return (0..<4).map { String((self.low >> (24 - 8 * UInt64($0))) & 0xFF) }.joined(separator: ".")
        }
        let groups = (0..<8).map { i -> UInt16 in
            let word = i < 4 ? self.high : self.low
            return UInt16((word >> (48 - 16 * UInt64(i % 4))) & 0xFFFF)
        }
        var bestStart = -1
        var bestLength = 1
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else {
                i += 1
                continue
            }
            var j = i
            while j < 8, groups[j] == 0 { j += 1 }
            if j - i > bestLength {
                bestStart = i
                bestLength = j - i
            }
            i = j
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestStart >= 0 else { return hex.joined(separator: ":") }
        let head = hex[..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
        return head + "::" + tail
    }
}

/// A transport address: IP and port.
public struct Endpoint: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public static func < (a: Endpoint, b: Endpoint) -> Bool { (a.address, a.port) < (b.address, b.port) }

    /// `192.0.2.1:5060` or `[2001:db8::1]:5060`.
    public var description: String {
        self.address.isIPv6 ? "[\(self.address)]:\(self.port)" : "\(self.address):\(self.port)"
    }
}

extension Endpoint {
    /// Reads `192.0.2.1:5060` or `[2001:db8::1]:5060` (the proxy's `hostPort` text); nil for anything else.
    public init?(text: String) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard let number = UInt16(port), let address = IPAddress(text: host) else { return nil }
        self.init(address: address, port: number)
    }
}

extension IPAddress {
    /// Reads a dotted quad or RFC 4291 IPv6 text (with `::`; no embedded IPv4, no zone); nil for anything else.
    init?(text: Substring) {
        if !text.contains(":") {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var bytes: [UInt8] = []
            for part in parts {
                guard part.count <= 3, let byte = UInt8(part) else { return nil }
                bytes.append(byte)
            }
            self.init(bytes, at: 0, length: 4)
            return
        }
        // Split at the one `::` (a second one is ambiguous).
        var halves: [Substring] = [text]
        var i = text.startIndex
        while i < text.endIndex, text.index(after: i) < text.endIndex {
            if text[i] == ":" && text[text.index(after: i)] == ":" {
                guard halves.count == 1 else { return nil }
                halves = [text[..<i], text[text.index(i, offsetBy: 2)...]]
                i = text.index(i, offsetBy: 2)
                continue
            }
            i = text.index(after: i)
        }
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard group.count <= 4, let value = UInt16(group, radix: 16) else { return nil }
                out.append(value)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        self.init(all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }, at: 0, length: 16)
    }
}
