// WireTap: the observer at the transport edge (where Kamailio's siptrace sits). The transport hands it every SIP
// message it reads from or writes to a socket as bytes and addresses, never a parsed message, and the end of each
// TCP connection. The transport defines the protocol and does not know who listens: the trace recorder (pcap ring,
// `sipctl trace follow`, HEP sinks behind it) conforms in the Trace layer.

import NIOCore

/// Which way a message crossed the transport edge.
public enum WireDirection: Sendable, Hashable {
    case received
    case sent
}

/// Receives what crosses the transport edge.
///
/// Both methods are called on the transport's event loop, `message` for every SIP message: an implementation
/// returns at once when nobody wants the traffic, never blocks nor does I/O there, and copies `bytes` only if it
/// keeps them. One existential call per message is all the transport spends on it.
public protocol WireTap: AnyObject, Sendable {
    /// One message read (`.received`: `source` is the peer, `destination` the proxy's socket) or written
    /// (`.sent`: `source` is the proxy's socket). `connection` names the TCP/TLS connection, nil for UDP. TLS is
    /// reported as its decrypted SIP with `transport` `.tcp`.
    func message(
        _ direction: WireDirection,
        _ bytes: ByteBuffer,
        transport: TransportKind,
        source: SocketAddress,
        destination: SocketAddress,
        connection: ConnectionID?
    )

    /// A TCP/TLS connection ended; `direction` tells which side closed it (`.sent`: the proxy, `.received`: the
    /// peer, then `source` is the peer).
    func connectionClosed(
        _ direction: WireDirection,
        source: SocketAddress,
        destination: SocketAddress,
        connection: ConnectionID?
    )
}
