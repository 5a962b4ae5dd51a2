// PacketFramer: turns trace events into Ethernet frames (pcap LINKTYPE_ETHERNET = 1) carrying synthesized IPv4
// (RFC 791) or IPv6 (RFC 8200) packets with UDP datagrams (RFC 768) or the segments of one synthetic TCP stream
// per connection (RFC 793), so that Wireshark dissects SIP and follows TCP streams.

import NIOCore

/// One captured frame: the bytes of an Ethernet frame and when it was seen.
public struct TraceFrame: Sendable, Equatable {
    public var timestamp: TraceTimestamp
    public var bytes: [UInt8]

    public init(timestamp: TraceTimestamp, bytes: [UInt8]) {
        self.timestamp = timestamp
        self.bytes = bytes
    }
}

/// Frames trace events. A pure value (no I/O) that holds the sequence numbers of each TCP connection.
///
/// - UDP: one frame per message: Ethernet, IPv4 or IPv6, UDP. A payload above what one IP packet can carry
///   (65,507 octets over IPv4, 65,527 over IPv6) is truncated to it; a real UDP socket cannot send more anyway.
/// - TCP: on the first message of a connection, a SYN / SYN-ACK / ACK handshake opened by the sender of that message;
///   then each message as ACK segments of at most one MSS (1460 over IPv4, 1440 over IPv6), PSH on the last, and a
///   pure ACK from the receiver (so bytes in flight never pile up in Wireshark's analysis). A `.connectionClosed` event
///   becomes FIN-ACK, FIN-ACK, ACK from the side that closed and forgets the connection. After `resynchronize()`
///   (the writer opened a new file) each connection's next message is again preceded by a handshake, with sequence
///   numbers that continue the stream, so every file holds complete streams. Connections are keyed by
///   `ConnectionID` plus the two socket addresses; at most `maxConnections` are remembered (least recently used go).
/// - Addresses: the real ones. If one side is IPv4 and the other IPv6, the IPv4 side is written as an IPv4-mapped
///   IPv6 address (RFC 4291 §2.5.5.2). MAC addresses are fake and stable: the proxy is `02:00:00:00:00:01`, the peer
///   `02:00:00:00:00:02` (locally administered, RFC 7042 §2.1).
/// - IPv4: TTL 64, a fresh Identification per packet, DF set when the packet fits a 1500-octet MTU.
public struct PacketFramer: Sendable {
    public static let proxyMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
    public static let peerMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02]
    static let etherTypeIPv4: UInt16 = 0x0800
    static let etherTypeIPv6: UInt16 = 0x86DD
    static let protocolTCP: UInt8 = 6
    static let protocolUDP: UInt8 = 17
    static let mssIPv4 = 1460
    static let mssIPv6 = 1440
    static let tcpWindow: UInt16 = 65_535

    /// TCP control bits (RFC 793 §3.1).
    struct TCPFlags: OptionSet {
        let rawValue: UInt8
        static let fin = TCPFlags(rawValue: 0x01)
        static let syn = TCPFlags(rawValue: 0x02)
        static let psh = TCPFlags(rawValue: 0x08)
        static let ack = TCPFlags(rawValue: 0x10)
    }

    /// An address as it goes into the IP header: 4 or 16 octets in network order, and a port.
    struct Endpoint: Equatable {
        var ip: [UInt8]
        var port: UInt16
        var isIPv6: Bool { self.ip.count == 16 }

        /// The IPv4-mapped IPv6 form (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) of an IPv4 endpoint.
        var mappedToIPv6: Endpoint {
            guard !self.isIPv6 else { return self }
            return Endpoint(ip: [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + self.ip, port: self.port)
        }
    }

    /// Which end of the hop sends a packet.
    enum Side: Hashable { case proxy, peer }

    struct ConnectionKey: Hashable {
        var connection: ConnectionID?
        var proxy: SocketAddress
        var peer: SocketAddress
    }

    struct Stream {
        /// The next sequence number each side sends (RFC 793 SND.NXT).
        var proxyNext: UInt32
        var peerNext: UInt32
        var lastUse: UInt64
        /// Whether the current capture file has seen this stream's handshake (see `resynchronize`).
        var synchronized = true

        func next(_ side: Side) -> UInt32 { side == .proxy ? self.proxyNext : self.peerNext }

        mutating func advance(_ side: Side, by count: Int) {
            if side == .proxy {
                self.proxyNext &+= UInt32(truncatingIfNeeded: count)
            } else {
                self.peerNext &+= UInt32(truncatingIfNeeded: count)
            }
        }
    }

    private(set) var streams: [ConnectionKey: Stream] = [:]
    public let maxConnections: Int
    private var identification: UInt16 = 0
    private var useCounter: UInt64 = 0

    public init(maxConnections: Int = 65_536) {
        self.maxConnections = max(1, maxConnections)
    }

    /// The number of TCP connections whose sequence numbers are remembered.
    public var connectionCount: Int { self.streams.count }

    /// The frames for one event, all stamped with the event's timestamp. Throws `.unsupportedAddress` for addresses
    /// that are not IPv4 or IPv6.
    public mutating func frames(for event: TraceEvent) throws(TraceError) -> [TraceFrame] {
        guard var source = Self.endpoint(event.source), var destination = Self.endpoint(event.destination) else {
            throw TraceError(
                .unsupportedAddress,
                "cannot frame \(event.source) -> \(event.destination): only IPv4 and IPv6 addresses"
            )
        }
        if source.isIPv6 != destination.isIPv6 {
            source = source.mappedToIPv6
            destination = destination.mappedToIPv6
        }
        let sender: Side = event.direction == .sent ? .proxy : .peer
        let packets: [[UInt8]]
        switch (event.transport, event.kind) {
        case (.udp, .message), (.udp, .media):
            packets = [self.udpFrame(from: source, to: destination, sender: sender, payload: event.payload)]
        case (.udp, .connectionClosed), (.tcp, .media), (.tls, .media):
            packets = []
        // TLS is recorded as the decrypted SIP on a TCP stream at the TLS port: what a capture on the wire cannot
        // show, and what Wireshark dissects as SIP.
        case (.tcp, .message), (.tls, .message):
            packets = self.tcpMessage(event, source: source, destination: destination, sender: sender)
        case (.tcp, .connectionClosed), (.tls, .connectionClosed):
            packets = self.tcpClose(event, source: source, destination: destination, sender: sender)
        }
        return packets.map { TraceFrame(timestamp: event.timestamp, bytes: $0) }
    }

    // MARK: TCP streams

    private static func key(_ event: TraceEvent) -> ConnectionKey {
        switch event.direction {
        case .sent: ConnectionKey(connection: event.connection, proxy: event.source, peer: event.destination)
        case .received: ConnectionKey(connection: event.connection, proxy: event.destination, peer: event.source)
        }
    }

    /// The stream an event belongs to. The transport may not know a new outbound connection's number yet when it
    /// writes the first message (the event then has no connection): such a stream is adopted by the first event of
    /// the same addresses that names the connection, and an event without a connection joins the most recently used
    /// stream of its addresses, so that one connection stays one TCP stream (no second handshake on the same ports).
    private mutating func streamKey(_ event: TraceEvent) -> ConnectionKey {
        let key = Self.key(event)
        if self.streams[key] != nil { return key }
        if key.connection != nil {
            let anonymous = ConnectionKey(connection: nil, proxy: key.proxy, peer: key.peer)
            if let stream = self.streams.removeValue(forKey: anonymous) { self.streams[key] = stream }
            return key
        }
        let match = self.streams.filter { $0.key.proxy == key.proxy && $0.key.peer == key.peer }
            .max { $0.value.lastUse < $1.value.lastUse }
        return match?.key ?? key
    }

    /// A deterministic initial sequence number per connection and side (splitmix64 of the connection number), so
    /// that tests are reproducible and the streams of different connections do not look alike.
    static func initialSequenceNumber(_ connection: ConnectionID?, _ side: Side) -> UInt32 {
        var z = (connection?.rawValue ?? 0) &* 2 &+ (side == .proxy ? 1 : 2)
        z = z &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z = z ^ (z >> 31)
        return UInt32(truncatingIfNeeded: z)
    }

    private mutating func tcpMessage(
        _ event: TraceEvent,
        source: Endpoint,
        destination: Endpoint,
        sender: Side
    ) -> [[UInt8]] {
        let key = self.streamKey(event)
        let receiver: Side = sender == .proxy ? .peer : .proxy
        var packets: [[UInt8]] = []
        self.useCounter += 1
        var stream: Stream
        if let existing = self.streams[key] {
            stream = existing
            if !stream.synchronized {
                // A new capture file: replay a handshake whose ISNs continue the stream (each SYN takes one
                // sequence number, RFC 793 §3.3), so that the file is a complete TCP stream on its own.
                packets += self.handshake(
                    source: source, destination: destination, sender: sender,
                    senderISN: stream.next(sender) &- 1, receiverISN: stream.next(receiver) &- 1
                )
                stream.synchronized = true
            }
        } else {
            // Three-way handshake (RFC 793 §3.4), opened by the side that sent first.
            let senderISN = Self.initialSequenceNumber(event.connection, sender)
            let receiverISN = Self.initialSequenceNumber(event.connection, receiver)
            packets += self.handshake(
                source: source, destination: destination, sender: sender, senderISN: senderISN,
                receiverISN: receiverISN
            )
            stream = Stream(proxyNext: 0, peerNext: 0, lastUse: 0)
            if sender == .proxy {
                stream.proxyNext = senderISN &+ 1
                stream.peerNext = receiverISN &+ 1
            } else {
                stream.peerNext = senderISN &+ 1
                stream.proxyNext = receiverISN &+ 1
            }
        }
        stream.lastUse = self.useCounter
        let mss = source.isIPv6 ? Self.mssIPv6 : Self.mssIPv4
        var offset = 0
        let payload = event.payload
        while offset < payload.count {
            let end = min(offset + mss, payload.count)
            let flags: TCPFlags = end == payload.count ? [.psh, .ack] : [.ack]
            packets.append(self.tcpFrame(
                from: source, to: destination, sender: sender, seq: stream.next(sender), ack: stream.next(receiver),
                flags: flags, payload: payload[offset..<end]
            ))
            stream.advance(sender, by: end - offset)
            offset = end
        }
        if !payload.isEmpty {
            packets.append(self.tcpFrame(
                from: destination, to: source, sender: receiver, seq: stream.next(receiver),
                ack: stream.next(sender), flags: [.ack]
            ))
        }
        self.streams[key] = stream
        self.evictIfNeeded()
        return packets
    }

    /// SYN, SYN-ACK, ACK with the MSS option on both SYNs.
    private mutating func handshake(
        source: Endpoint,
        destination: Endpoint,
        sender: Side,
        senderISN: UInt32,
        receiverISN: UInt32
    ) -> [[UInt8]] {
        let receiver: Side = sender == .proxy ? .peer : .proxy
        let mss = UInt16(source.isIPv6 ? Self.mssIPv6 : Self.mssIPv4)
        return [
            self.tcpFrame(
                from: source, to: destination, sender: sender, seq: senderISN, ack: 0, flags: [.syn], mss: mss
            ),
            self.tcpFrame(
                from: destination, to: source, sender: receiver, seq: receiverISN, ack: senderISN &+ 1,
                flags: [.syn, .ack], mss: mss
            ),
            self.tcpFrame(
                from: source, to: destination, sender: sender, seq: senderISN &+ 1, ack: receiverISN &+ 1,
                flags: [.ack]
            ),
        ]
    }

    /// Call when the frames start going into a new capture file: the next message of every known connection is
    /// preceded by a replayed handshake (sequence numbers continue), and a close of a connection that has not spoken
    /// in the new file produces no frames.
    public mutating func resynchronize() {
        for key in self.streams.keys { self.streams[key]?.synchronized = false }
    }

    /// An upper bound of the octets `frames(for:)` will produce for the event in a pcap file (record headers
    /// included), so that a writer can rotate before framing.
    public static func estimatedFileSize(of event: TraceEvent) -> Int {
        // Per packet at most: record header 16, Ethernet 14, IPv6 40, TCP 24.
        let perPacket = 16 + 14 + 40 + 24
        switch event.transport {
        case .udp: return perPacket + event.payload.count
        case .tcp, .tls:
            let segments = (event.payload.count + Self.mssIPv6 - 1) / Self.mssIPv6
            return (segments + 4) * perPacket + event.payload.count
        }
    }

    private mutating func tcpClose(
        _ event: TraceEvent,
        source: Endpoint,
        destination: Endpoint,
        sender: Side
    ) -> [[UInt8]] {
        let key = self.streamKey(event)
        guard var stream = self.streams.removeValue(forKey: key), stream.synchronized else { return [] }
        let receiver: Side = sender == .proxy ? .peer : .proxy
        // Orderly release (RFC 793 §3.5): each FIN takes one sequence number.
        var packets: [[UInt8]] = []
        packets.append(self.tcpFrame(
            from: source, to: destination, sender: sender, seq: stream.next(sender), ack: stream.next(receiver),
            flags: [.fin, .ack]
        ))
        stream.advance(sender, by: 1)
        packets.append(self.tcpFrame(
            from: destination, to: source, sender: receiver, seq: stream.next(receiver), ack: stream.next(sender),
            flags: [.fin, .ack]
        ))
        stream.advance(receiver, by: 1)
        packets.append(self.tcpFrame(
            from: source, to: destination, sender: sender, seq: stream.next(sender), ack: stream.next(receiver),
            flags: [.ack]
        ))
        return packets
    }

    /// Forgets the least recently used tenth of the connections once there are more than `maxConnections` (the
    /// transport may not report every close); a forgotten connection gets a new handshake if it speaks again.
    private mutating func evictIfNeeded() {
        guard self.streams.count > self.maxConnections else { return }
        let excess = self.streams.count - self.maxConnections + self.maxConnections / 10
        let victims = self.streams.sorted { $0.value.lastUse < $1.value.lastUse }.prefix(excess).map(\.key)
        for key in victims { self.streams.removeValue(forKey: key) }
    }

    // MARK: Packets

    static func endpoint(_ address: SocketAddress) -> Endpoint? {
        switch address {
        case .v4(let v4):
            let ip = withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
            return Endpoint(ip: ip, port: UInt16(clamping: address.port ?? 0))
        case .v6(let v6):
            let ip = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            return Endpoint(ip: ip, port: UInt16(clamping: address.port ?? 0))
        case .unixDomainSocket:
            return nil
        }
    }

    private mutating func udpFrame(from source: Endpoint, to destination: Endpoint, sender: Side, payload: [UInt8])
        -> [UInt8]
    {
        // IPv4 total length and IPv6 payload length are 16 bits (RFC 791 §3.1, RFC 8200 §3).
        let limit = source.isIPv6 ? 65_535 - 8 : 65_535 - 20 - 8
        let body = payload.count > limit ? payload[0..<limit] : payload[...]
        var datagram: [UInt8] = []
        datagram.reserveCapacity(8 + body.count)
        datagram.appendBigEndian(source.port)
        datagram.appendBigEndian(destination.port)
        datagram.appendBigEndian(UInt16(8 + body.count))
        datagram.appendBigEndian(UInt16(0))
        datagram.append(contentsOf: body)
        var checksum = Self.pseudoHeaderChecksum(
            source: source, destination: destination, protocol: Self.protocolUDP, length: datagram.count
        )
        checksum.add(datagram)
        // RFC 768: a computed zero is sent as all ones (zero means "no checksum", forbidden over IPv6, RFC 8200 §8.1).
        let value = checksum.value == 0 ? 0xFFFF : checksum.value
        datagram.setBigEndian(value, at: 6)
        return self.ethernetFrame(
            from: source, to: destination, sender: sender, protocol: Self.protocolUDP, segment: datagram
        )
    }

    private mutating func tcpFrame(
        from source: Endpoint,
        to destination: Endpoint,
        sender: Side,
        seq: UInt32,
        ack: UInt32,
        flags: TCPFlags,
        mss: UInt16? = nil,
        payload: ArraySlice<UInt8> = []
    ) -> [UInt8] {
        // RFC 793 §3.1 header; the only option is MSS (kind 2, length 4) on SYNs.
        let headerLength = mss == nil ? 20 : 24
        var segment: [UInt8] = []
        segment.reserveCapacity(headerLength + payload.count)
        segment.appendBigEndian(source.port)
        segment.appendBigEndian(destination.port)
        segment.appendBigEndian(seq)
        segment.appendBigEndian(flags.contains(.ack) ? ack : 0)
        segment.append(UInt8(headerLength / 4) << 4)
        segment.append(flags.rawValue)
        segment.appendBigEndian(Self.tcpWindow)
        segment.appendBigEndian(UInt16(0))  // checksum, filled below
        segment.appendBigEndian(UInt16(0))  // urgent pointer
        if let mss {
            segment.append(contentsOf: [2, 4])
            segment.appendBigEndian(mss)
        }
        segment.append(contentsOf: payload)
        var checksum = Self.pseudoHeaderChecksum(
            source: source, destination: destination, protocol: Self.protocolTCP, length: segment.count
        )
        checksum.add(segment)
        segment.setBigEndian(checksum.value, at: 16)
        return self.ethernetFrame(
            from: source, to: destination, sender: sender, protocol: Self.protocolTCP, segment: segment
        )
    }

    /// The checksum state after the pseudo-header: RFC 768 / RFC 793 §3.1 for IPv4 (source, destination, zero,
    /// protocol, length), RFC 8200 §8.1 for IPv6 (source, destination, 32-bit length, three zeros, next header).
    static func pseudoHeaderChecksum(source: Endpoint, destination: Endpoint, protocol: UInt8, length: Int)
        -> InternetChecksum
    {
        var checksum = InternetChecksum()
        checksum.add(source.ip)
        checksum.add(destination.ip)
        if source.isIPv6 {
            checksum.add(UInt16(truncatingIfNeeded: length >> 16))
            checksum.add(UInt16(truncatingIfNeeded: length))
            checksum.add(UInt16(0))
            checksum.add(UInt16(`protocol`))
        } else {
            checksum.add(UInt16(`protocol`))
            checksum.add(UInt16(truncatingIfNeeded: length))
        }
        return checksum
    }

    private mutating func ethernetFrame(
        from source: Endpoint,
        to destination: Endpoint,
        sender: Side,
        protocol proto: UInt8,
        segment: [UInt8]
    ) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(14 + 40 + segment.count)
        // Ethernet II: destination MAC, source MAC, EtherType (IEEE 802.3 / RFC 894).
        frame.append(contentsOf: sender == .proxy ? Self.peerMAC : Self.proxyMAC)
        frame.append(contentsOf: sender == .proxy ? Self.proxyMAC : Self.peerMAC)
        if source.isIPv6 {
            frame.appendBigEndian(Self.etherTypeIPv6)
            // RFC 8200 §3: version 6, traffic class 0, flow label 0, payload length, next header, hop limit.
            frame.appendBigEndian(UInt32(0x6000_0000))
            frame.appendBigEndian(UInt16(segment.count))
            frame.append(proto)
            frame.append(64)
            frame.append(contentsOf: source.ip)
            frame.append(contentsOf: destination.ip)
        } else {
            frame.appendBigEndian(Self.etherTypeIPv4)
            // RFC 791 §3.1: version 4, IHL 5, TOS 0, total length, identification, flags + fragment offset, TTL,
            // protocol, header checksum, source, destination.
            let totalLength = 20 + segment.count
            self.identification &+= 1
            let header = frame.count
            frame.append(0x45)
            frame.append(0)
            frame.appendBigEndian(UInt16(totalLength))
            frame.appendBigEndian(self.identification)
            frame.appendBigEndian(UInt16(totalLength <= 1500 ? 0x4000 : 0))
            frame.append(64)
            frame.append(proto)
            frame.appendBigEndian(UInt16(0))
            frame.append(contentsOf: source.ip)
            frame.append(contentsOf: destination.ip)
            frame.setBigEndian(InternetChecksum.checksum(frame[header..<header + 20]), at: header + 10)
        }
        frame.append(contentsOf: segment)
        return frame
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ value: UInt16) {
        self.append(UInt8(value >> 8))
        self.append(UInt8(value & 0xFF))
    }

    mutating func appendBigEndian(_ value: UInt32) {
        self.append(UInt8(value >> 24))
        self.append(UInt8((value >> 16) & 0xFF))
        self.append(UInt8((value >> 8) & 0xFF))
        self.append(UInt8(value & 0xFF))
    }

    mutating func setBigEndian(_ value: UInt16, at index: Int) {
        self[index] = UInt8(value >> 8)
        self[index + 1] = UInt8(value & 0xFF)
    }
}
