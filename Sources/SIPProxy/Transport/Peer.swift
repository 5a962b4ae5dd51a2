// Peer: where a message came from or goes to, at the transport level (RFC 3261 §18).

import NIOCore

/// The transport protocols SIPProxy speaks.
public enum TransportKind: String, Sendable, Hashable, CustomStringConvertible {
    case udp = "UDP"
    case tcp = "TCP"

    public var description: String { self.rawValue }
    /// Whether the transport is reliable: decides which transaction timers run (RFC 3261 §17.1.1.2).
    public var isReliable: Bool { self == .tcp }
    /// The `transport` URI parameter value (RFC 3261 §19.1.1), nil for UDP, the default.
    public var uriParameter: String? { self == .tcp ? "tcp" : nil }
}

/// Identifies one TCP connection for the lifetime of the process.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public var description: String { "#\(self.rawValue)" }
}

/// One end of a SIP hop: the transport, the remote socket address, the proxy's own listening address that the
/// message used, and for TCP the connection it travelled on.
public struct Peer: Hashable, Sendable, CustomStringConvertible {
    public var transport: TransportKind
    public var remote: SocketAddress
    /// The proxy's listening socket address used for this hop (never a wildcard: listeners bind concrete addresses).
    public var local: SocketAddress
    public var connection: ConnectionID?

    public init(transport: TransportKind, remote: SocketAddress, local: SocketAddress, connection: ConnectionID? = nil) {
        self.transport = transport
        self.remote = remote
        self.local = local
        self.connection = connection
    }

    public var description: String { "\(self.transport.rawValue.lowercased()):\(self.remote.hostPort)" }
}

extension SocketAddress {
    /// `ip:port`, with brackets for IPv6.
    public var hostPort: String {
        let ip = self.ipAddress ?? "?"
        let port = self.port ?? 0
        if case .v6 = self { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }

    /// The host as it appears in a SIP URI or Via (IPv6 in brackets, RFC 3261 §19.1.1, RFC 5118).
    public var sipHost: String {
        let ip = self.ipAddress ?? "?"
        if case .v6 = self { return "[\(ip)]" }
        return ip
    }

    /// Whether this is a loopback address (127.0.0.0/8 or ::1).
    public var isLoopback: Bool {
        switch self {
        case .v4: return self.ipAddress?.hasPrefix("127.") ?? false
        case .v6: return self.ipAddress == "::1"
        default: return false
        }
    }
}
