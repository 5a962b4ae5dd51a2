// IPKey: a socket address's IP as a small hashable value, read from the raw sockaddr without formatting text
// (per-message checks must not pay for inet_ntop and a String).

import NIOCore

/// An IPv4 or IPv6 address as two integers (IPv4 in the low word, as ::ffff:a.b.c.d would be).
struct IPKey: Hashable, Sendable {
    var high: UInt64
    var low: UInt64

    /// The IPv4 address in host byte order, when this is one (or an IPv4-mapped IPv6 address).
    var ipv4: UInt32? {
        guard self.high == 0, self.low >> 32 == 0xffff else { return nil }
        return UInt32(truncatingIfNeeded: self.low)
    }

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(ipv4: UInt32) {
        self.init(high: 0, low: 0xffff << 32 | UInt64(ipv4))
    }

    /// Dotted quad for IPv4, otherwise the IPv6 address as eight hex groups (for status only).
    var description: String {
        if let v4 = self.ipv4 { return "\(v4 >> 24).\(v4 >> 16 & 0xff).\(v4 >> 8 & 0xff).\(v4 & 0xff)" }
        let groups = (0..<4).map { String(self.high >> (48 - 16 * UInt64($0)) & 0xffff, radix: 16) }
            + (0..<4).map { String(self.low >> (48 - 16 * UInt64($0)) & 0xffff, radix: 16) }
        return groups.joined(separator: ":")
    }

    init?(_ address: SocketAddress) {
        switch address {
        case .v4(let a):
            self.init(ipv4: UInt32(bigEndian: a.address.sin_addr.s_addr))
        case .v6(let a):
            var bytes = a.address.sin6_addr
            let (high, low) = withUnsafeBytes(of: &bytes) { raw -> (UInt64, UInt64) in
                var h: UInt64 = 0
                var l: UInt64 = 0
                for i in 0..<8 { h = h << 8 | UInt64(raw[i]) }
                for i in 8..<16 { l = l << 8 | UInt64(raw[i]) }
                return (h, l)
            }
            self.init(high: high, low: low)
        default:
            return nil
        }
    }
}
