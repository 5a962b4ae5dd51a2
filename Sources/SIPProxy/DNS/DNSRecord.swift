// DNSRecord: the resource records the RFC 3263 procedure needs: A (RFC 1035 §3.4.1), AAAA (RFC 3596),
// SRV (RFC 2782), NAPTR (RFC 3403 §4.1), CNAME (RFC 1035 §3.3.1) and SOA (RFC 1035 §3.3.13, for negative caching,
// RFC 2308 §5).

/// A query type / record type (RFC 1035 §3.2.2).
public struct DNSRecordType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = DNSRecordType(rawValue: 1)
    public static let cname = DNSRecordType(rawValue: 5)
    public static let soa = DNSRecordType(rawValue: 6)
    public static let aaaa = DNSRecordType(rawValue: 28)
    public static let srv = DNSRecordType(rawValue: 33)
    public static let naptr = DNSRecordType(rawValue: 35)

    public var description: String {
        switch self {
        case .a: return "A"
        case .cname: return "CNAME"
        case .soa: return "SOA"
        case .aaaa: return "AAAA"
        case .srv: return "SRV"
        case .naptr: return "NAPTR"
        default: return "TYPE\(self.rawValue)"
        }
    }
}

/// One question (RFC 1035 §4.1.2); class IN only. Names are kept lowercased without the final dot, so two
/// questions compare the way DNS compares names (case-insensitively, RFC 4343).
public struct DNSQuestion: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var type: DNSRecordType

    public init(_ name: String, _ type: DNSRecordType) {
        self.name = DNSQuestion.canonical(name)
        self.type = type
    }

    static func canonical(_ name: String) -> String {
        var lower = name.lowercased()
        if lower.hasSuffix(".") { lower.removeLast() }
        return lower
    }

    public var description: String { "\(self.name) \(self.type)" }
}

/// An SRV record (RFC 2782).
public struct SRVRecord: Hashable, Sendable {
    public var priority: UInt16
    public var weight: UInt16
    public var port: UInt16
    /// "." (stored as "") means the service is decidedly not available at this domain (RFC 2782).
    public var target: String
}

/// A NAPTR record (RFC 3403 §4.1).
public struct NAPTRRecord: Hashable, Sendable {
    public var order: UInt16
    public var preference: UInt16
    public var flags: String
    public var services: String
    public var regexp: String
    public var replacement: String
}

/// An SOA record's fields that matter here: the negative-caching TTL is min(SOA TTL, MINIMUM) (RFC 2308 §5).
public struct SOARecord: Hashable, Sendable {
    public var minimum: UInt32
}

/// Record data, decoded for the types above and kept opaque for any other.
public enum DNSRecordData: Hashable, Sendable {
    /// Dotted IPv4 text.
    case a(String)
    /// IPv6 text.
    case aaaa(String)
    case srv(SRVRecord)
    case naptr(NAPTRRecord)
    case cname(String)
    case soa(SOARecord)
    case other
}

/// One resource record (RFC 1035 §4.1.3).
public struct DNSRecord: Hashable, Sendable {
    /// Owner name, canonical (lowercase, no final dot).
    public var name: String
    public var type: DNSRecordType
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: String, type: DNSRecordType, ttl: UInt32, data: DNSRecordData) {
        self.name = DNSQuestion.canonical(name)
        self.type = type
        self.ttl = ttl
        self.data = data
    }
}
