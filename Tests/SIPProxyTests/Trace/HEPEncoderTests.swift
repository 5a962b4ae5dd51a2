// HEPEncoder: byte-exact HEPv3 packets (HEP3 rev. 12): header, every chunk in order, IPv4/IPv6, RTCP correlation,
// and what cannot be encoded.

import NIOCore
import Testing

@testable import SIPProxy

@Suite struct HEPEncoderTests {
    let proxy4 = TraceTest.address("127.0.0.10", 5060)
    let phone4 = TraceTest.address("127.0.0.11", 5061)
    let options = Array("OPTIONS sip:x SIP/2.0\r\n\r\n".utf8)

    /// The chunks of a packet as (type, value), checking the header and every length on the way.
    static func chunks(_ packet: [UInt8]) -> [(UInt16, [UInt8])]? {
        guard packet.count >= 6, Array(packet[0..<4]) == Array("HEP3".utf8),
            Int(packet[4]) << 8 | Int(packet[5]) == packet.count
        else { return nil }
        var out: [(UInt16, [UInt8])] = []
        var i = 6
        while i < packet.count {
            guard i + 6 <= packet.count else { return nil }
            let vendor = UInt16(packet[i]) << 8 | UInt16(packet[i + 1])
            let type = UInt16(packet[i + 2]) << 8 | UInt16(packet[i + 3])
            let length = Int(packet[i + 4]) << 8 | Int(packet[i + 5])
            guard vendor == 0, length >= 6, i + length <= packet.count else { return nil }
            out.append((type, Array(packet[(i + 6)..<(i + length)])))
            i += length
        }
        return out
    }

    @Test func sipOverUDPIsByteExact() throws {
        let event = TraceTest.event(
            .sent, from: self.proxy4, to: self.phone4, at: 1_700_000_000_123_456, payload: self.options
        )
        let packet = try #require(HEPEncoder(captureID: 2001, password: "s3cret").encode(event))
        var expected = [UInt8](hex: "48455033")  // "HEP3"
        let total = 6 + 7 + 7 + 10 + 10 + 8 + 8 + 10 + 10 + 7 + 10 + 12 + 6 + self.options.count
        expected += [UInt8(total >> 8), UInt8(total & 0xFF)]
        expected += [UInt8](hex: "00000001000702")  // IP family: IPv4
        expected += [UInt8](hex: "00000002000711")  // IP protocol: UDP (17)
        expected += [UInt8](hex: "00000003000a7f00000a")  // 127.0.0.10
        expected += [UInt8](hex: "00000004000a7f00000b")  // 127.0.0.11
        expected += [UInt8](hex: "00000007000813c4")  // 5060
        expected += [UInt8](hex: "00000008000813c5")  // 5061
        expected += [UInt8](hex: "00000009000a6553f100")  // 1700000000 s
        expected += [UInt8](hex: "0000000a000a0001e240")  // 123456 us
        expected += [UInt8](hex: "0000000b000701")  // protocol type: SIP
        expected += [UInt8](hex: "0000000c000a000007d1")  // capture agent 2001
        expected += [UInt8](hex: "0000000e000c") + Array("s3cret".utf8)
        expected += [UInt8](hex: "0000000f") + [0, UInt8(6 + self.options.count)] + self.options
        #expect(packet == expected)
    }

    @Test func chunksCarryTheEventsFields() throws {
        let event = TraceTest.event(.received, .tcp, from: self.phone4, to: self.proxy4, payload: self.options)
        let packet = try #require(HEPEncoder(captureID: 7).encode(event))
        let chunks = try #require(Self.chunks(packet))
        #expect(chunks.map(\.0) == [1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 15])  // no auth key without a password
        #expect(chunks[1].1 == [6])  // TCP
        #expect(chunks[2].1 == [127, 0, 0, 11])
        #expect(chunks[3].1 == [127, 0, 0, 10])
        #expect(chunks[9].1 == [0, 0, 0, 7])
        #expect(chunks[10].1 == self.options)
    }

    @Test func tlsIsCarriedAsTCP() throws {
        let event = TraceTest.event(.received, .tls, from: self.phone4, to: self.proxy4, payload: self.options)
        let packet = try #require(HEPEncoder(captureID: 1).encode(event))
        let chunks = try #require(Self.chunks(packet))
        #expect(chunks[1].1 == [6])
    }

    @Test func ipv6AndMixedFamilies() throws {
        let proxy6 = TraceTest.address("2001:db8::1", 5060)
        let phone6 = TraceTest.address("2001:db8::2", 5062)
        let sixPacket = try #require(
            HEPEncoder(captureID: 1).encode(TraceTest.event(.sent, from: proxy6, to: phone6, payload: self.options))
        )
        let six = try #require(Self.chunks(sixPacket))
        #expect(six.map(\.0).prefix(4) == [1, 2, 5, 6])
        #expect(six[0].1 == [10])
        #expect(six[2].1 == [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1])
        // An IPv4 phone on a dual-stack socket: written as IPv4-mapped IPv6, one family per packet.
        let mixedPacket = try #require(
            HEPEncoder(captureID: 1).encode(TraceTest.event(.sent, from: proxy6, to: self.phone4, payload: self.options))
        )
        let mixed = try #require(Self.chunks(mixedPacket))
        #expect(mixed[3].1 == [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 127, 0, 0, 11])
    }

    @Test func rtcpHasTypeFiveAndTheCallID() throws {
        let rtcp: [UInt8] = [0x81, 0xC9, 0x00, 0x07] + [UInt8](repeating: 0, count: 28)  // an RR
        let event = TraceEvent(
            direction: .received, transport: .udp, source: self.phone4, destination: self.proxy4,
            timestamp: TraceTimestamp(microseconds: 0), payload: rtcp, kind: .media
        )
        let packet = try #require(HEPEncoder(captureID: 1).encode(event, type: .rtcp, correlationID: "abc@host"))
        let chunks = try #require(Self.chunks(packet))
        #expect(chunks.first { $0.0 == 11 }?.1 == [5])
        #expect(chunks.first { $0.0 == 17 }?.1 == Array("abc@host".utf8))
        #expect(chunks.last?.0 == 15)
        #expect(chunks.last?.1 == rtcp)
    }

    @Test func tooLargeOrNotIPIsRefused() throws {
        // 99 octets of header and chunks besides the payload (no password, no correlation id).
        let encoder = HEPEncoder(captureID: 1)
        let exact = [UInt8](repeating: 0x41, count: 65_535 - 99)
        let packet = encoder.encode(TraceTest.event(.sent, from: self.proxy4, to: self.phone4, payload: exact))
        #expect(packet?.count == 65_535)
        #expect(packet.map { Self.chunks($0) != nil } == true)
        let big = exact + [0x41]
        #expect(encoder.encode(TraceTest.event(.sent, from: self.proxy4, to: self.phone4, payload: big))?.count == nil)
        let unix = try SocketAddress(unixDomainSocketPath: "/tmp/x.sock")
        #expect(encoder.encode(TraceTest.event(.sent, from: unix, to: self.phone4, payload: self.options))?.count == nil)
    }

    @Test func collectorAddressParsing() throws {
        #expect(try HEPSettings.parseCollector("udp:127.0.0.1:9060") == TraceTest.address("127.0.0.1", 9060))
        #expect(try HEPSettings.parseCollector("127.0.0.1:9060") == TraceTest.address("127.0.0.1", 9060))
        #expect(try HEPSettings.parseCollector("udp:[::1]:9060") == TraceTest.address("::1", 9060))
        for bad in ["tcp:127.0.0.1:9060", "udp:127.0.0.1", "udp:homer:9060", "udp:127.0.0.1:99999", ""] {
            #expect(throws: ConfigurationError.self) { try HEPSettings.parseCollector(bad) }
        }
    }
}
