// TraceError: the one error type of the SIP trace recorder layer.

/// An error of the trace layer: a bad filter expression or settings, a directory or capture file that cannot be
/// created, written or read, an address that cannot be put in a synthesized IP header.
public struct TraceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable, Codable {
        /// A `TraceFilter` expression could not be parsed.
        case invalidFilter
        /// A `TraceSettings` value is out of range.
        case invalidSettings
        /// The trace directory cannot be created, listed or written.
        case directory
        /// libpcap could not open or write a capture file.
        case file
        /// An event's addresses cannot be framed (e.g. a UNIX domain socket address).
        case unsupportedAddress
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { self.detail }
}
