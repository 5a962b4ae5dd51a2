// Peer: where a message came from or goes to, at the transport level (RFC 3261 §18).

import NIOCore

/// The transport protocols SIPProxy speaks.
public enum TransportKind: String, Sendable, Hashable, CustomStringConvertible {
    case udp = "UDP"
    case tcp = "TCP"
    /// SIP over TLS (RFC 3261 §26.2, RFC 5630): a TCP stream under TLS, framed like TCP.
    case tls = "TLS"

    public var description: String { self.rawValue }
    /// Whether the transport is reliable: decides which transaction timers run (RFC 3261 §17.1.1.2).
    public var isReliable: Bool { self != .udp }
    /// Whether messages travel on a connection (TCP or TLS): framing by Content-Length, connection reuse.
    public var isStream: Bool { self != .udp }
    /// The `transport` URI parameter value (RFC 3261 §19.1.1), nil for UDP, the default.
    public var uriParameter: String? {
        switch self {
        case .udp: return nil
        case .tcp: return "tcp"
        case .tls: return "tls"
        }
    }

    /// The transport a URI asks for (RFC 3261 §19.1.1 `transport`, §26.2.2 `sips` means TLS).
    public init(uri: SIPURI) {
        let parameter = uri.transport?.lowercased()
        if uri.scheme == "sips" || parameter == "tls" {
            self = .tls
        } else if parameter == "tcp" {
            self = .tcp
        } else {
            self = .udp
        }
    }

    /// The transport of a Via sent-protocol (`SIP/2.0/TCP`).
    public init(via transport: String) {
        switch transport.uppercased() {
        case "TCP": self = .tcp
        case "TLS": self = .tls
        default: self = .udp
        }
    }
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

    /// `udp:192.0.2.10:5060`, in every log line about a message: built without lower-casing per call.
    public var description: String {
        let scheme: String
        switch self.transport {
        case .udp: scheme = "udp:"
        case .tcp: scheme = "tcp:"
        case .tls: scheme = "tls:"
        }
        return scheme + self.remote.hostPort
    }
}

extension SocketAddress {
    /// The IP address as text, like `ipAddress`; an IPv4 address is written here digit by digit. NIO asks
    /// inet_ntop, which glibc implements with sprintf: for the Via `received`, the log and the trace that was a
    /// printf per message (issue 12 profile).
    public var ipText: String? {
        guard case .v4(let address) = self else { return self.ipAddress }
        let value = address.address.sin_addr.s_addr  // network byte order: the first octet is the lowest byte
        var text: [UInt8] = []
        text.reserveCapacity(15)
        withUnsafeBytes(of: value) { octets in
            for (i, octet) in octets.enumerated() {
                if i > 0 { text.append(UInt8(ascii: ".")) }
                if octet >= 100 { text.append(UInt8(ascii: "0") + octet / 100) }
                if octet >= 10 { text.append(UInt8(ascii: "0") + (octet / 10) % 10) }
                text.append(UInt8(ascii: "0") + octet % 10)
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `ip:port`, with brackets for IPv6.
    public var hostPort: String {
        let ip = self.ipText ?? "?"
        let port = self.port ?? 0
        if case .v6 = self { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }

    /// The host as it appears in a SIP URI or Via (IPv6 in brackets, RFC 3261 §19.1.1, RFC 5118).
    public var sipHost: String {
        let ip = self.ipText ?? "?"
        if case .v6 = self { return "[\(ip)]" }
        return ip
    }

    /// Whether this is a loopback address (127.0.0.0/8 or ::1).
    public var isLoopback: Bool {
        switch self {
        case .v4(let address):
            // 127.0.0.0/8: the first octet, which is the lowest byte of the network-order value.
            return withUnsafeBytes(of: address.address.sin_addr.s_addr) { $0.first == 127 }
        case .v6: return self.ipAddress == "::1"
        default: return false
        }
    }
}
