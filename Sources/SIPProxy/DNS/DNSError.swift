// DNSError: the one error type of the DNS layer (wire format, transport, resolution).

/// Why a DNS message could not be read or a lookup failed.
public struct DNSError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The message ends before a field it announces (RFC 1035 §4.1).
        case truncatedMessage
        /// A name breaks RFC 1035 §3.1 / §4.1.4: a label over 63 octets, a name over 255, a pointer loop or a
        /// pointer out of the message, a reserved label type.
        case badName
        /// A record's RDATA does not fit its type or its RDLENGTH.
        case badRecord
        /// A name given to a query is not a valid domain name.
        case badQuery
        /// No answer from any server in time.
        case timeout
        /// The server answered with an error code other than NXDOMAIN (SERVFAIL, REFUSED...).
        case serverFailure(rcode: UInt8)
        /// The answer was truncated and the TCP retry failed too.
        case truncated
        /// Socket errors (no route, connection refused).
        case transport
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String = "") {
        self.kind = kind
        self.detail = detail
    }

    public static func == (a: DNSError, b: DNSError) -> Bool { a.kind == b.kind }

    public var description: String { self.detail.isEmpty ? "\(self.kind)" : "\(self.kind): \(self.detail)" }
}
