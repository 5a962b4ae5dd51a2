// A room's packets: RFC 4733 DTMF (*6 mutes) and audio into the participant's jitter buffer.

import Logging
import NIOCore
import NIOPosix
import Testing

@testable import SIPProxy

@Suite("Conference: DTMF and the room's audio")
struct ConferenceRoomTests {
    /// An RTP packet: version 2, `pt`, `seq`, `ts`, SSRC 7, then `payload`.
    static func rtp(pt: UInt8, seq: UInt16, ts: UInt32, _ payload: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0x80))
        buffer.writeInteger(pt)
        buffer.writeInteger(seq)
        buffer.writeInteger(ts)
        buffer.writeInteger(UInt32(7))
        buffer.writeBytes(payload)
        return buffer
    }

    @Test("*6 as RFC 4733 events toggles the sender's mute, each event counted once however often its end is repeated; audio goes into its jitter buffer")
    func dtmfMute() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let pool = MediaPortPool(range: 39300...39303, address: try SocketAddress(ipAddress: "127.0.0.1", port: 0))
        let pair = try #require(pool.allocate())
        let room = ConferenceRoom(name: "800", eventLoop: loop, recorder: nil, traceRTP: .off, logger: Logger(label: "test"))
        let source = try SocketAddress(ipAddress: "127.0.0.1", port: 4000)
        let muted: [Bool] = try await loop.submit {
            room.add(callID: "a", user: "alice", pair: pair, payloadType: 0, dtmf: 101, target: source)
            var states: [Bool] = []
            func event(_ digit: UInt8, ts: UInt32, seq: UInt16, end: Bool) {
                room.packet(AddressedEnvelope(remoteAddress: source,
                                              data: Self.rtp(pt: 101, seq: seq, ts: ts, [digit, end ? 0x8A : 0x0A, 0x03, 0x20])),
                            participant: 1, rtcp: false)
            }
            // "*": progress, then its end three times (RFC 4733 §2.5.1.4); "6" likewise.
            event(10, ts: 1000, seq: 1, end: false)
            for seq in 2...4 as ClosedRange<UInt16> { event(10, ts: 1000, seq: seq, end: true) }
            for seq in 5...7 as ClosedRange<UInt16> { event(6, ts: 2000, seq: seq, end: true) }
            states.append(room.info.participants[0].muted)
            for seq in 8...10 as ClosedRange<UInt16> { event(10, ts: 3000, seq: seq, end: true) }
            for seq in 11...13 as ClosedRange<UInt16> { event(6, ts: 4000, seq: seq, end: true) }
            states.append(room.info.participants[0].muted)
            // Audio: 160 μ-law samples of silence (0xFF) reach the buffer.
            room.packet(AddressedEnvelope(remoteAddress: source, data: Self.rtp(pt: 0, seq: 14, ts: 5000, Array(repeating: 0xFF, count: 160))),
                        participant: 1, rtcp: false)
            states.append(room.info.participants[0].packetsIn == 14)
            room.remove(callID: "a")
            return states
        }.get()
        #expect(muted == [true, false, true])
        pool.release(pair.port)
        try await group.shutdownGracefully()
    }
}
