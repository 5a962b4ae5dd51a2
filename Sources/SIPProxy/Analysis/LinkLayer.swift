// LinkLayer: finds the IP packet inside a frame of any supported link type.

/// Strips link-layer headers: Ethernet (802.1Q/802.1ad VLAN tags, PPPoE session frames), Linux cooked SLL and
/// SLL2, raw IP, BSD NULL and LOOP.
enum LinkLayer {
    static let null: Int32 = 0
    static let ethernet: Int32 = 1
    static let rawIPv4v6: Set<Int32> = [12, 14, 101]
    static let loop: Int32 = 108
    static let linuxSLL: Int32 = 113
    static let ipv4Only: Int32 = 228
    static let ipv6Only: Int32 = 229
    static let linuxSLL2: Int32 = 276

    /// The offset of the IP header in `bytes`, or nil when the frame carries no IPv4/IPv6 packet.
    static func ipOffset(linkType: Int32, _ bytes: [UInt8]) -> Int? {
        switch linkType {
        case Self.ethernet:
            guard bytes.count >= 14 else { return nil }
            return Self.afterEtherType(bytes, typeAt: 12)
        case Self.linuxSLL:
            guard bytes.count >= 16 else { return nil }
            return Self.afterEtherType(bytes, typeAt: 14)
        case Self.linuxSLL2:
            guard bytes.count >= 20 else { return nil }
            return Self.ipByEtherType(Self.u16(bytes, 0), at: 20, bytes)
        case Self.null, Self.loop:
            // The 4-byte address family is in host or network order depending on the capturing machine and on
            // the link type; the IP version nibble that follows says more reliably what comes next.
            return Self.ipByVersion(bytes, at: 4)
        case Self.ipv4Only, Self.ipv6Only:
            return Self.ipByVersion(bytes, at: 0)
        default:
            return Self.rawIPv4v6.contains(linkType) ? Self.ipByVersion(bytes, at: 0) : nil
        }
    }

    /// Follows an EtherType at `typeAt` through VLAN tags and PPPoE to the IP header.
    private static func afterEtherType(_ bytes: [UInt8], typeAt start: Int) -> Int? {
        var typeAt = start
        while typeAt + 2 <= bytes.count {
            let type = Self.u16(bytes, typeAt)
            switch type {
            case 0x8100, 0x88A8, 0x9100:
                typeAt += 4
            case 0x8864:
                // PPPoE session: ver/type, code, session id, length (6 octets), then the 2-octet PPP protocol.
                let ppp = typeAt + 2 + 6
                guard ppp + 2 <= bytes.count else { return nil }
                switch Self.u16(bytes, ppp) {
                case 0x0021, 0x0057: return Self.ipByVersion(bytes, at: ppp + 2)
                default: return nil
                }
            default:
                return Self.ipByEtherType(type, at: typeAt + 2, bytes)
            }
        }
        return nil
    }

    private static func ipByEtherType(_ type: UInt16, at offset: Int, _ bytes: [UInt8]) -> Int? {
        guard type == 0x0800 || type == 0x86DD else { return nil }
        return Self.ipByVersion(bytes, at: offset)
    }

    private static func ipByVersion(_ bytes: [UInt8], at offset: Int) -> Int? {
        guard offset < bytes.count else { return nil }
        let version = bytes[offset] >> 4
        return version == 4 || version == 6 ? offset : nil
    }

    static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
        UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
    }

    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }
}
