// DestinationPolicy: which socket addresses the proxy may send to at all.
//
// A Request-URI, Route or Contact is attacker-controlled text. Sending to a broadcast or multicast address makes
// `sendmsg` fail with EACCES/ENETUNREACH, which SwiftNIO treats as fatal for the whole UDP socket, and would in any
// case spray the LAN; sending to 0.0.0.0 reaches this very host. RFC 3261 §18.1.1 only ever sends a request to one
// host, so such targets are refused before any socket is touched, and the transaction fails as §17.1.4 says.
// Checked on every send: the address is judged from its raw bytes, never formatted.

import NIOCore

/// Refuses non-unicast and reserved destinations.
public struct DestinationPolicy: Sendable {
    /// Directed broadcast addresses of this machine's interfaces (e.g. 192.168.1.255 on a /24), which look like
    /// ordinary unicast addresses and can only be known from the interface list.
    let localBroadcasts: Set<UInt32>

    public init(localBroadcasts: [SocketAddress] = []) {
        self.localBroadcasts = Set(localBroadcasts.compactMap { IPKey($0)?.ipv4 })
    }

    /// The policy with this machine's interface broadcast addresses (NIO's device enumeration).
    public static func forLocalInterfaces() -> DestinationPolicy {
        let devices = (try? System.enumerateDevices()) ?? []
        return DestinationPolicy(localBroadcasts: devices.compactMap(\.broadcastAddress))
    }

    /// Why `address` must not be sent to, or nil when it may.
    public func refusal(_ address: SocketAddress) -> String? {
        if address.port == 0 { return "port 0" }
        guard let key = IPKey(address) else { return "not an IP address" }
        // IPv4 and IPv4-mapped IPv6 are judged alike (RFC 6890 special-purpose ranges).
        if let ip = key.ipv4 {
            let first = ip >> 24
            if ip == 0xffff_ffff { return "limited broadcast address" }
            if self.localBroadcasts.contains(ip) { return "broadcast address of a local network" }
            if first >= 224 && first <= 239 { return "multicast address" }
            if first >= 240 { return "reserved address (240.0.0.0/4)" }
            if first == 0 { return "unspecified address (0.0.0.0/8)" }
            return nil
        }
        if key.high == 0 && key.low == 0 { return "unspecified address" }
        if key.high >> 56 == 0xff { return "multicast address" }
        return nil
    }
}
