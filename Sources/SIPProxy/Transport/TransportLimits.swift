// TransportLimits: the bounds that keep one peer from exhausting the proxy's memory, descriptors or CPU.

import NIOCore

/// Caps on connections and buffered bytes, and the timeouts that close idle or stalled connections.
public struct TransportLimits: Sendable, Equatable {
    /// TCP connections open at once, inbound and outbound (Kamailio's tcp_max_connections is 2048).
    public var maxConnections = 2048
    /// TCP connections from one IP address: a lab behind one NAT opens one per phone.
    public var maxConnectionsPerSource = 128
    /// Largest SIP message accepted on a stream (RFC 3261 §18.3 frames by Content-Length; a peer must not make the
    /// proxy buffer without limit). Larger ones get 513 and the connection is closed. UDP datagrams are always
    /// read whole, up to 65,535 octets.
    public var maxMessageSize = 65_535
    /// A connection that completes no message for this long is closed. Trickled bytes do not count as traffic,
    /// only whole messages and keep-alive pings do. Longer than the default registration interval so a
    /// registered TCP phone stays reachable between refreshes.
    public var idleTimeout: TimeAmount = .seconds(3900)
    /// Octets written to one TCP or TLS connection that the peer has not taken yet, on top of the kernel's socket
    /// buffer. A peer that stops reading (a stuck phone, or one that wants the proxy to hoard memory for it) has its
    /// connection closed past this, so calls aimed at it cannot grow the proxy without bound.
    public var maxPendingOutput = 1 << 20
    /// A message that has started arriving must be complete within this time (slow-header attacks).
    public var messageTimeout: TimeAmount = .seconds(30)
    /// Requests per source address before it is ignored for a while (Kamailio's pike).
    public var rateLimit = RateLimitPolicy()

    public init() {}
}
