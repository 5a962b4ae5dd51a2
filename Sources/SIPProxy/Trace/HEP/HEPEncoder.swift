// HEPEncoder: one trace event as a HEPv3 packet (the Homer Encapsulation Protocol, HEP3 rev. 12, sipcapture.org),
// so that Homer, heplify-server or any HEP collector stores what the proxy sent and received.

import NIOCore

/// Encodes trace events as HEPv3 packets. A pure value: bytes in, bytes out, no I/O and no clock.
///
/// ```
///  "HEP3" | total length (u16) | chunk | chunk | ...
///  chunk:  vendor id (u16, 0 = generic) | type id (u16) | chunk length (u16, header included) | value
/// ```
///
/// Chunks written, in this order (HEP3 §3, generic vendor 0x0000): 1 IP family, 2 IP protocol, 3/4 IPv4 or 5/6 IPv6
/// source and destination, 7/8 ports, 9/10 timestamp seconds and microseconds, 11 protocol type, 12 capture agent id,
/// 14 auth key (when a password is set), 17 correlation id (when given: the Call-ID for RTCP), 15 payload.
/// All integers are in network byte order.
public struct HEPEncoder: Sendable {
    /// HEP3 §3 chunk type ids of the generic vendor.
    enum Chunk: UInt16 {
        case ipFamily = 1
        case ipProtocol = 2
        case ipv4Source = 3
        case ipv4Destination = 4
        case ipv6Source = 5
        case ipv6Destination = 6
        case sourcePort = 7
        case destinationPort = 8
        case timestampSeconds = 9
        case timestampMicroseconds = 10
        case protocolType = 11
        case captureAgentID = 12
        case authKey = 14
        case payload = 15
        case correlationID = 17
    }

    /// What the payload chunk carries (HEP3 chunk 11).
    public enum ProtocolType: UInt8, Sendable {
        case sip = 1
        case rtcp = 5
    }

    /// The whole packet's length is a 16-bit field.
    public static let maximumPacketSize = 65_535
    static let headerSize = 6
    static let chunkHeaderSize = 6
    /// Address families as HEP names them (the BSD values, HEP3 §3 chunk 1).
    static let familyIPv4: UInt8 = 2
    static let familyIPv6: UInt8 = 10

    public var captureID: UInt32
    /// Sent as chunk 14 so the collector can authenticate the agent; nil: no chunk.
    public var password: String?

    public init(captureID: UInt32, password: String? = nil) {
        self.captureID = captureID
        self.password = password
    }

    /// The packet for one message, or nil when it cannot be one: an address that is not IP (a Unix socket), or a
    /// payload too large for the 16-bit length fields (a UDP SIP message may be 65,535 octets; HEP cannot wrap it).
    public func encode(
        _ event: TraceEvent, type: ProtocolType = .sip, correlationID: String? = nil
    ) -> [UInt8]? {
        guard let source = Self.endpoint(event.source), let destination = Self.endpoint(event.destination) else {
            return nil
        }
        // Mixed families (an IPv4 phone on a dual-stack socket) are written as IPv4-mapped IPv6 (RFC 4291 §2.5.5.2),
        // as the pcap framer does: one family per packet.
        let ipv6 = source.ip.count == 16 || destination.ip.count == 16
        let src = ipv6 ? Self.mapped(source.ip) : source.ip
        let dst = ipv6 ? Self.mapped(destination.ip) : destination.ip
        let auth = self.password.map { Array($0.utf8) }
        let correlation = correlationID.map { Array($0.utf8) }
        var size = Self.headerSize
        size += (Self.chunkHeaderSize + 1) * 3  // family, protocol, protocol type
        size += (Self.chunkHeaderSize + src.count) * 2
        size += (Self.chunkHeaderSize + 2) * 2  // ports
        size += (Self.chunkHeaderSize + 4) * 3  // seconds, microseconds, agent id
        size += auth.map { Self.chunkHeaderSize + $0.count } ?? 0
        size += correlation.map { Self.chunkHeaderSize + $0.count } ?? 0
        size += Self.chunkHeaderSize + event.payload.count
        guard size <= Self.maximumPacketSize else { return nil }

        var out: [UInt8] = []
        out.reserveCapacity(size)
        out.append(contentsOf: Array("HEP3".utf8))
        Self.append(UInt16(size), to: &out)
        Self.chunk(.ipFamily, [ipv6 ? Self.familyIPv6 : Self.familyIPv4], to: &out)
        Self.chunk(.ipProtocol, [event.transport == .udp ? 17 : 6], to: &out)
        Self.chunk(ipv6 ? .ipv6Source : .ipv4Source, src, to: &out)
        Self.chunk(ipv6 ? .ipv6Destination : .ipv4Destination, dst, to: &out)
        Self.chunk(.sourcePort, Self.bytes(source.port), to: &out)
        Self.chunk(.destinationPort, Self.bytes(destination.port), to: &out)
        Self.chunk(.timestampSeconds, Self.bytes(UInt32(truncatingIfNeeded: event.timestamp.seconds)), to: &out)
        Self.chunk(
            .timestampMicroseconds, Self.bytes(UInt32(truncatingIfNeeded: event.timestamp.microsecondsOfSecond)),
            to: &out
        )
        Self.chunk(.protocolType, [type.rawValue], to: &out)
        Self.chunk(.captureAgentID, Self.bytes(self.captureID), to: &out)
        if let auth { Self.chunk(.authKey, auth, to: &out) }
        if let correlation { Self.chunk(.correlationID, correlation, to: &out) }
        Self.chunk(.payload, event.payload, to: &out)
        return out
    }

    // MARK: Bytes

    private static func endpoint(_ address: SocketAddress) -> (ip: [UInt8], port: UInt16)? {
        guard let port = address.port else { return nil }
        switch address {
        case .v4(let v4):
            return (withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }, UInt16(port))
        case .v6(let v6):
            return (withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }, UInt16(port))
        case .unixDomainSocket:
            return nil
        }
    }

    private static func mapped(_ ip: [UInt8]) -> [UInt8] {
        ip.count == 16 ? ip : [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + ip
    }

    private static func chunk(_ type: Chunk, _ value: [UInt8], to out: inout [UInt8]) {
        Self.append(UInt16(0), to: &out)  // generic vendor
        Self.append(type.rawValue, to: &out)
        Self.append(UInt16(Self.chunkHeaderSize + value.count), to: &out)
        out.append(contentsOf: value)
    }

    private static func append(_ value: UInt16, to out: inout [UInt8]) {
        out.append(contentsOf: Self.bytes(value))
    }

    private static func bytes(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    private static func bytes(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
