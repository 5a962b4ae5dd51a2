// TransportError: the one error type of the transport layer.

/// Failures to bind or send.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A `--listen` address could not be bound (in use, not local, bad permission).
        case bindFailed
        /// A message could not be delivered: no listener for that transport or the connection failed.
        case sendFailed
        /// A `--listen` value is not `IP:PORT`.
        case invalidAddress
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { self.detail }
}
