// DestinationPolicy: which socket addresses the proxy may send to at all.
//
// A Request-URI, Route or Contact is attacker-controlled text. Sending to a broadcast or multicast address makes
// `sendmsg` fail with EACCES/ENETUNREACH, which SwiftNIO treats as fatal for the whole UDP socket, and would in any
// case spray the LAN; sending to 0.0.0.0 reaches this very host. RFC 3261 §18.1.1 only ever sends a request to one
// host, so such targets are refused before any socket is touched, and the transaction fails as §17.1.4 says.

import NIOCore

/// Refuses non-unicast and reserved destinations.
public struct DestinationPolicy: Sendable {
    /// Directed broadcast addresses of this machine's interfaces (e.g. 192.168.1.255 on a /24), which look like
    /// ordinary unicast addresses and can only be known from the interface list.
    public var localBroadcasts: Set<String>

    public init(localBroadcasts: Set<String> = []) {
        self.localBroadcasts = localBroadcasts
    }

    /// The policy with this machine's interface broadcast addresses (NIO's device enumeration).
    public static func forLocalInterfaces() -> DestinationPolicy {
        let devices = (try? System.enumerateDevices()) ?? []
        return DestinationPolicy(localBroadcasts: Set(devices.compactMap { $0.broadcastAddress?.ipAddress }))
    }

    /// Why `address` must not be sent to, or nil when it may.
    public func refusal(_ address: SocketAddress) -> String? {
        if address.port == 0 { return "port 0" }
        switch address {
        case .v4:
            guard let ip = address.ipAddress, let octets = Self.ipv4Octets(ip) else { return "not an IP address" }
            return self.refusal(ipv4: octets, text: ip)
        case .v6:
            guard let ip = address.ipAddress?.lowercased() else { return "not an IP address" }
            return self.refusal(ipv6: ip)
        default:
            return "not an IP address"
        }
    }

    private func refusal(ipv4 o: [UInt8], text: String) -> String? {
        // RFC 6890 special-purpose ranges a SIP message has no business going to.
        if o == [255, 255, 255, 255] { return "limited broadcast address" }
        if self.localBroadcasts.contains(text) { return "broadcast address of a local network" }
        if o[0] >= 224 && o[0] <= 239 { return "multicast address" }
        if o[0] >= 240 { return "reserved address (240.0.0.0/4)" }
        if o[0] == 0 { return "unspecified address (0.0.0.0/8)" }
        return nil
    }

    private func refusal(ipv6 ip: String) -> String? {
        if ip == "::" || ip == "0:0:0:0:0:0:0:0" { return "unspecified address" }
        if ip.hasPrefix("ff") { return "multicast address" }
        // IPv4-mapped (::ffff:a.b.c.d): judged as the IPv4 address it stands for.
        if ip.hasPrefix("::ffff:"), let octets = Self.ipv4Octets(String(ip.dropFirst(7))) {
            return self.refusal(ipv4: octets, text: String(ip.dropFirst(7)))
        }
        return nil
    }

    static func ipv4Octets(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let octets = parts.compactMap { UInt8($0) }
        return octets.count == 4 ? octets : nil
    }
}
