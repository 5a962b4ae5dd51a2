// PacketFramer: byte-exact Ethernet / IPv4 / IPv6 / UDP headers and checksums, and the synthetic TCP streams.

import NIOCore
import Testing

@testable import SIPProxy

@Suite struct TracePacketFramerTests {
    let proxy4 = TraceTest.address("127.0.0.10", 5060)
    let phone4 = TraceTest.address("127.0.0.11", 5061)
    let proxy6 = TraceTest.address("2001:db8::1", 5060)
    let phone6 = TraceTest.address("2001:db8::2", 5062)
    let options = Array("OPTIONS sip:x SIP/2.0\r\n\r\n".utf8)

    // MARK: Checksum

    @Test func checksumMatchesRFC1071Example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2, whose complement is 220d.
        #expect(InternetChecksum.checksum([0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]) == 0x220D)
    }

    @Test func checksumMatchesKnownIPv4Header() {
        // The classic example header 192.168.0.1 -> 192.168.0.199 (checksum field zeroed): checksum b861.
        let header = [UInt8](hex: "450000730000400040110000c0a80001c0a800c7")
        #expect(InternetChecksum.checksum(header) == 0xB861)
        var withChecksum = header
        withChecksum[10] = 0xB8
        withChecksum[11] = 0x61
        #expect(InternetChecksum.checksum(withChecksum) == 0)
    }

    @Test func checksumPadsOddLengthsAndJoinsRuns() {
        #expect(InternetChecksum.checksum([0x12, 0x34, 0x56]) == ~UInt16(0x1234 + 0x5600))
        var split = InternetChecksum()
        split.add([0x00, 0x01, 0xF2])
        split.add([0x03, 0xF4, 0xF5, 0xF6, 0xF7])
        #expect(split.value == 0x220D)
    }

    @Test func contiguousAndIteratedSumsAgree() {
        // Arrays take the fast loop, a lazy collection the byte iterator: both must give the same sum, however the
        // bytes are split into runs (odd splits carry a byte over).
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 2, 3, 7, 64, 999, 1500] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let iterated = InternetChecksum.checksum(bytes.lazy.map { $0 })
            #expect(InternetChecksum.checksum(bytes) == iterated, "length \(length)")
            let cut = length == 0 ? 0 : Int.random(in: 0...length, using: &generator)
            var split = InternetChecksum()
            split.add(Array(bytes[..<cut]))
            split.add(bytes[cut...].lazy.map { $0 })
            #expect(split.value == iterated, "length \(length) cut at \(cut)")
        }
    }

    // MARK: UDP

    @Test func ipv4UDPFrameIsByteExact() throws {
        var framer = PacketFramer()
        let frames = try framer.frames(
            for: TraceTest.event(.received, from: self.phone4, to: self.proxy4, payload: self.options)
        )
        #expect(frames.count == 1)
        let frame = try #require(frames.first)
        #expect(frame.timestamp == TraceTimestamp(microseconds: 1_700_000_000_000_000))
        // Ethernet: to the proxy (…:01) from the phone (…:02), IPv4. IPv4: IHL 5, length 53, id 1, DF, TTL 64,
        // UDP, checksum 3ca2, 127.0.0.11 -> 127.0.0.10. UDP: 5061 -> 5060, length 33, checksum 1e80 (computed
        // independently with a Python reference of RFC 1071 over the RFC 768 pseudo-header).
        let expected = [UInt8](
            hex: "020000000001" + "020000000002" + "0800"
                + "4500" + "0035" + "0001" + "4000" + "40" + "11" + "3ca2" + "7f00000b" + "7f00000a"
                + "13c5" + "13c4" + "0021" + "1e80"
        ) + self.options
        #expect(frame.bytes.hex == expected.hex)
        let decoded = DecodedFrame(frame.bytes)
        #expect(decoded.ipChecksumValid)
        #expect(decoded.transportChecksumValid)
    }

    @Test func ipv6UDPFrameIsByteExact() throws {
        var framer = PacketFramer()
        let frames = try framer.frames(
            for: TraceTest.event(.sent, from: self.proxy6, to: self.phone6, payload: self.options)
        )
        let frame = try #require(frames.first)
        // Ethernet: to the phone from the proxy, IPv6. IPv6: payload length 33, next header UDP, hop limit 64.
        // UDP: 5060 -> 5062, length 33, checksum c11f over the RFC 8200 §8.1 pseudo-header.
        let expected = [UInt8](
            hex: "020000000002" + "020000000001" + "86dd"
                + "60000000" + "0021" + "11" + "40"
                + "20010db8000000000000000000000001" + "20010db8000000000000000000000002"
                + "13c4" + "13c6" + "0021" + "c11f"
        ) + self.options
        #expect(frame.bytes.hex == expected.hex)
        #expect(DecodedFrame(frame.bytes).transportChecksumValid)
    }

    @Test func identificationAdvancesAndLargeDatagramsDropDF() throws {
        var framer = PacketFramer()
        let small = try framer.frames(
            for: TraceTest.event(.sent, from: self.proxy4, to: self.phone4, payload: self.options)
        )
        let big = try framer.frames(
            for: TraceTest.event(
                .sent, from: self.proxy4, to: self.phone4, payload: [UInt8](repeating: 0x41, count: 4000)
            )
        )
        #expect(small[0].bytes[18...19] == [0x00, 0x01])
        #expect(big[0].bytes[18...19] == [0x00, 0x02])
        #expect(big[0].bytes[20] == 0x00)  // no DF: 4028 octets do not fit a 1500 MTU
        let decoded = DecodedFrame(big[0].bytes)
        #expect(decoded.ipLength == 20 + 8 + 4000)
        #expect(decoded.ipChecksumValid && decoded.transportChecksumValid)
    }

    @Test func oversizedUDPPayloadIsTruncatedToOnePacket() throws {
        var framer = PacketFramer()
        let payload = [UInt8](repeating: 0x41, count: 70_000)
        let v4 = try framer.frames(for: TraceTest.event(.sent, from: self.proxy4, to: self.phone4, payload: payload))
        let v6 = try framer.frames(for: TraceTest.event(.sent, from: self.proxy6, to: self.phone6, payload: payload))
        #expect(DecodedFrame(v4[0].bytes).ipLength == 65_535)
        #expect(DecodedFrame(v4[0].bytes).payload.count == 65_507)
        #expect(DecodedFrame(v6[0].bytes).payload.count == 65_527)
        #expect(DecodedFrame(v4[0].bytes).transportChecksumValid)
        #expect(DecodedFrame(v6[0].bytes).transportChecksumValid)
    }

    @Test func mixedFamiliesUseIPv4MappedIPv6() throws {
        var framer = PacketFramer()
        let frames = try framer.frames(
            for: TraceTest.event(.sent, from: self.proxy6, to: self.phone4, payload: self.options)
        )
        let decoded = DecodedFrame(frames[0].bytes)
        #expect(decoded.etherType == 0x86DD)
        #expect(decoded.destinationIP == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 127, 0, 0, 11])
        #expect(decoded.transportChecksumValid)
    }

    @Test func unixSocketAddressesAreRejected() throws {
        var framer = PacketFramer()
        let unix = try SocketAddress(unixDomainSocketPath: "/tmp/x.sock")
        #expect(throws: TraceError.self) {
            try framer.frames(for: TraceTest.event(.sent, from: unix, to: self.phone4, payload: self.options))
        }
    }

    // MARK: TCP

    /// The transport writes the first message of a connection it opened before it knows the connection's number:
    /// the reply (with the number) must continue that stream, not open a second one on the same ports.
    @Test func firstWriteWithoutConnectionNumberStaysOneStream() throws {
        var framer = PacketFramer()
        let invite = try framer.frames(
            for: TraceTest.event(.sent, .tcp, from: self.proxy4, to: self.phone4, connection: nil, payload: [UInt8]("INVITE".utf8))
        )
        #expect(invite.count == 5)  // SYN, SYN-ACK, ACK, data, ACK
        let reply = try framer.frames(
            for: TraceTest.event(.received, .tcp, from: self.phone4, to: self.proxy4, connection: 9, payload: [UInt8]("180".utf8))
        )
        #expect(reply.count == 2, "no second handshake: data and its ACK only")
        #expect(framer.connectionCount == 1)
        let ack = try framer.frames(
            for: TraceTest.event(.sent, .tcp, from: self.proxy4, to: self.phone4, connection: 9, payload: [UInt8]("ACK".utf8))
        )
        #expect(ack.count == 2)
        #expect(framer.connectionCount == 1)
    }

    @Test func tcpHandshakeSequenceProgressionAndSegmentation() throws {
        var framer = PacketFramer()
        let invite = [UInt8](repeating: 0x49, count: 5000)
        let first = try framer.frames(
            for: TraceTest.event(.received, .tcp, from: self.phone4, to: self.proxy4, connection: 7, payload: invite)
        ).map { DecodedFrame($0.bytes) }
        // SYN, SYN-ACK, ACK, 4 data segments (1460 + 1460 + 1460 + 620), then the proxy's ACK.
        #expect(first.count == 8)
        #expect(first.allSatisfy { $0.ipChecksumValid && $0.transportChecksumValid })
        let phoneISN = PacketFramer.initialSequenceNumber(ConnectionID(rawValue: 7), .peer)
        let proxyISN = PacketFramer.initialSequenceNumber(ConnectionID(rawValue: 7), .proxy)
        #expect(phoneISN != proxyISN)

        let syn = first[0]
        #expect(syn.flags == DecodedFrame.syn)
        #expect(syn.seq == phoneISN)
        #expect(syn.sourcePort == 5061 && syn.destinationPort == 5060)
        #expect(syn.sourceMAC == PacketFramer.peerMAC && syn.destinationMAC == PacketFramer.proxyMAC)
        #expect(syn.tcpHeaderLength == 24)  // MSS option
        let synAck = first[1]
        #expect(synAck.flags == DecodedFrame.syn | DecodedFrame.ackFlag)
        #expect(synAck.seq == proxyISN && synAck.ack == phoneISN &+ 1)
        #expect(synAck.sourcePort == 5060 && synAck.sourceMAC == PacketFramer.proxyMAC)
        let ack = first[2]
        #expect(ack.flags == DecodedFrame.ackFlag)
        #expect(ack.seq == phoneISN &+ 1 && ack.ack == proxyISN &+ 1 && ack.payload.isEmpty)

        let data = Array(first[3..<7])
        #expect(data.map(\.payload.count) == [1460, 1460, 1460, 620])
        #expect(data.map(\.seq) == [0, 1460, 2920, 4380].map { phoneISN &+ 1 &+ $0 })
        #expect(data.allSatisfy { $0.ack == proxyISN &+ 1 })
        #expect(data.dropLast().allSatisfy { $0.flags == DecodedFrame.ackFlag })
        #expect(data.last?.flags == DecodedFrame.psh | DecodedFrame.ackFlag)
        #expect(data.flatMap(\.payload) == invite)
        #expect(data.allSatisfy { $0.ipLength == 40 + $0.payload.count })
        let proxyAck = first[7]
        #expect(proxyAck.sourcePort == 5060 && proxyAck.flags == DecodedFrame.ackFlag)
        #expect(proxyAck.seq == proxyISN &+ 1 && proxyAck.ack == phoneISN &+ 5001)

        // The answer continues the same stream: no new handshake.
        let ok = Array("SIP/2.0 200 OK\r\n\r\n".utf8)
        let second = try framer.frames(
            for: TraceTest.event(.sent, .tcp, from: self.proxy4, to: self.phone4, connection: 7, payload: ok)
        ).map { DecodedFrame($0.bytes) }
        #expect(second.count == 2)
        #expect(second[0].flags == DecodedFrame.psh | DecodedFrame.ackFlag)
        #expect(second[0].seq == proxyISN &+ 1 && second[0].ack == phoneISN &+ 5001)
        #expect(second[1].seq == phoneISN &+ 5001 && second[1].ack == proxyISN &+ 1 &+ UInt32(ok.count))
        #expect(framer.connectionCount == 1)

        // The proxy closes: FIN-ACK, FIN-ACK, ACK, each FIN taking one sequence number.
        let close = try framer.frames(
            for: .connectionClosed(direction: .sent, source: self.proxy4, destination: self.phone4,
                                   connection: ConnectionID(rawValue: 7))
        ).map { DecodedFrame($0.bytes) }
        let proxyNext = proxyISN &+ 1 &+ UInt32(ok.count)
        #expect(close.map(\.flags) == [0x11, 0x11, 0x10])
        #expect(close[0].sourcePort == 5060 && close[0].seq == proxyNext && close[0].ack == phoneISN &+ 5001)
        #expect(close[1].seq == phoneISN &+ 5001 && close[1].ack == proxyNext &+ 1)
        #expect(close[2].seq == proxyNext &+ 1 && close[2].ack == phoneISN &+ 5002)
        #expect(framer.connectionCount == 0)

        // A closed connection reported again is ignored; a message on a new connection gets its own handshake.
        #expect(try framer.frames(
            for: .connectionClosed(direction: .received, source: self.phone4, destination: self.proxy4,
                                   connection: ConnectionID(rawValue: 7))
        ).isEmpty)
        let next = try framer.frames(
            for: TraceTest.event(.sent, .tcp, from: self.proxy4, to: self.phone4, connection: 8, payload: ok)
        ).map { DecodedFrame($0.bytes) }
        #expect(next.count == 5)
        #expect(next[0].flags == DecodedFrame.syn && next[0].sourcePort == 5060)
    }

    @Test func resynchronizeReplaysAHandshakeThatContinuesTheStream() throws {
        var framer = PacketFramer()
        let message = [UInt8](repeating: 0x4D, count: 100)
        _ = try framer.frames(
            for: TraceTest.event(.sent, .tcp, from: self.proxy4, to: self.phone4, connection: 5, payload: message)
        )
        let proxyISN = PacketFramer.initialSequenceNumber(ConnectionID(rawValue: 5), .proxy)
        let phoneISN = PacketFramer.initialSequenceNumber(ConnectionID(rawValue: 5), .peer)
        framer.resynchronize()
        // The phone speaks first in the new file: its SYN is one before its next sequence number.
        let frames = try framer.frames(
            for: TraceTest.event(.received, .tcp, from: self.phone4, to: self.proxy4, connection: 5, payload: message)
        ).map { DecodedFrame($0.bytes) }
        #expect(frames.map(\.flags) == [0x02, 0x12, 0x10, 0x18, 0x10])
        #expect(frames[0].sourcePort == 5061 && frames[0].seq == phoneISN)
        #expect(frames[1].seq == proxyISN &+ 100 && frames[1].ack == phoneISN &+ 1)
        #expect(frames[2].seq == phoneISN &+ 1 && frames[2].ack == proxyISN &+ 101)
        #expect(frames[3].seq == phoneISN &+ 1 && frames[3].ack == proxyISN &+ 101)
        #expect(frames.allSatisfy { $0.transportChecksumValid })
        // Only once per file.
        let again = try framer.frames(
            for: TraceTest.event(.sent, .tcp, from: self.proxy4, to: self.phone4, connection: 5, payload: message)
        )
        #expect(again.count == 2)
        // A close of a connection not seen in the current file produces nothing (and forgets it).
        framer.resynchronize()
        let close = TraceEvent.connectionClosed(
            direction: .sent, source: self.proxy4, destination: self.phone4, connection: ConnectionID(rawValue: 5)
        )
        #expect(try framer.frames(for: close).isEmpty)
        #expect(framer.connectionCount == 0)
    }

    @Test(arguments: [0, 1, 500, 1440, 1441, 5_000, 65_000])
    func fileSizeEstimateIsAnUpperBound(size: Int) throws {
        var framer = PacketFramer()
        let payload = [UInt8](repeating: 0x41, count: size)
        for (source, destination) in [(self.proxy4, self.phone4), (self.proxy6, self.phone6)] {
            for transport in [TransportKind.udp, .tcp] {
                for _ in 0..<2 {  // a new connection, then an established one after resynchronize
                    let event = TraceTest.event(
                        .sent, transport, from: source, to: destination, connection: 1, payload: payload
                    )
                    let actual = try framer.frames(for: event).reduce(0) { $0 + 16 + $1.bytes.count }
                    #expect(actual <= PacketFramer.estimatedFileSize(of: event), "\(transport) \(size)")
                    framer.resynchronize()
                }
            }
        }
    }

    @Test func tcpOverIPv6UsesMSS1440() throws {
        var framer = PacketFramer()
        let frames = try framer.frames(
            for: TraceTest.event(.sent, .tcp, from: self.proxy6, to: self.phone6, connection: 1,
                                 payload: [UInt8](repeating: 0x41, count: 3000))
        ).map { DecodedFrame($0.bytes) }
        #expect(frames[3...5].map(\.payload.count) == [1440, 1440, 120])
        #expect(frames.allSatisfy { $0.etherType == 0x86DD && $0.transportChecksumValid })
        // SYN carries MSS 1440: option kind 2, length 4, 0x05a0.
        let synFrame = try framer.frames(
            for: TraceTest.event(.sent, .tcp, from: self.proxy6, to: self.phone6, connection: 2, payload: [0x41])
        )[0].bytes
        #expect(Array(synFrame[(14 + 40 + 20)..<(14 + 40 + 24)]) == [0x02, 0x04, 0x05, 0xA0])
    }

    @Test func tcpConnectionsAreKeyedByIDAndAddresses() throws {
        var framer = PacketFramer()
        let other = TraceTest.address("127.0.0.12", 5070)
        let events = [
            TraceTest.event(.sent, .tcp, from: self.proxy4, to: self.phone4, connection: 1, payload: [1]),
            TraceTest.event(.received, .tcp, from: self.phone4, to: self.proxy4, connection: 1, payload: [1]),
            TraceTest.event(.sent, .tcp, from: self.proxy4, to: other, connection: 1, payload: [1]),
            TraceTest.event(.sent, .tcp, from: self.proxy4, to: self.phone4, connection: 2, payload: [1]),
        ]
        for event in events { _ = try framer.frames(for: event) }
        #expect(framer.connectionCount == 3)
    }

    @Test func tcpStateIsBounded() throws {
        var framer = PacketFramer(maxConnections: 10)
        for id in 0..<100 {
            _ = try framer.frames(
                for: TraceTest.event(
                    .sent, .tcp, from: self.proxy4, to: self.phone4, connection: UInt64(id), payload: [1]
                )
            )
        }
        #expect(framer.connectionCount <= 10)
    }
}
