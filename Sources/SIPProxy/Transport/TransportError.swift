// TransportError: the one error type of the transport layer.

import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Failures to bind or send.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A `--listen` address could not be bound (in use, not local, bad permission).
        case bindFailed
        /// A message could not be delivered: no listener for that transport or the connection failed.
        case sendFailed
        /// The destination is broadcast, multicast, unspecified or reserved (`DestinationPolicy`): nothing was sent.
        case refusedDestination
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

    /// A readable reason for a socket error: the errno text, with a hint for the usual mistakes.
    static func explain(_ error: Error) -> String {
        guard let io = error as? IOError else { return "\(error)" }
        switch io.errnoCode {
        case EADDRINUSE: return "address already in use (is another proxy or phone using it?)"
        case EADDRNOTAVAIL: return "address not available (it is not an address of this machine)"
        case EACCES: return "permission denied (ports below 1024 need privileges)"
        default: return String(cString: strerror(io.errnoCode))
        }
    }
}
