// The follow ring: kept only while someone follows, bounded, numbered so a follower misses nothing silently.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("Trace: follow buffer")
struct TraceFollowBufferTests {
    static func event(_ n: Int, size: Int = 10) throws -> TraceEvent {
        TraceEvent(
            direction: .received, transport: .udp, source: try SocketAddress(ipAddress: "127.0.0.11", port: 5060),
            destination: try SocketAddress(ipAddress: "127.0.0.10", port: 5060),
            timestamp: TraceTimestamp(microseconds: Int64(n)), payload: Array(repeating: UInt8(ascii: "a"), count: size)
        )
    }

    @Test("nothing is kept until a follower polls, and a follower starts at the present")
    func startsWithFollower() throws {
        let buffer = TraceFollowBuffer()
        buffer.append(try Self.event(1), now: 0)
        #expect(!buffer.isActive)
        let first = buffer.poll(after: nil, now: 0)
        #expect(first.messages.isEmpty && first.missed == 0)
        #expect(buffer.isActive)
        buffer.append(try Self.event(2), now: 1)
        buffer.append(try Self.event(3), now: 2)
        let second = buffer.poll(after: first.next, now: 3)
        #expect(second.messages.map(\.timeUs) == [2, 3])
        #expect(second.messages.first?.source == "127.0.0.11:5060" && second.messages.first?.transport == "UDP")
        let third = buffer.poll(after: second.next, now: 4)
        #expect(third.messages.isEmpty && third.next == second.next)
    }

    @Test("the ring is bounded; a slow follower is told how many it missed; big batches come in parts")
    func bounded() throws {
        let buffer = TraceFollowBuffer(capacity: 3, byteBudget: 1000, batchBytes: 25)
        let start = buffer.poll(after: nil, now: 0)
        for n in 1...5 { buffer.append(try Self.event(n), now: 1) }
        let part = buffer.poll(after: start.next, now: 2)
        #expect(part.missed == 2)
        #expect(part.messages.map(\.timeUs) == [3, 4] && part.more)
        let rest = buffer.poll(after: part.next, now: 3)
        #expect(rest.messages.map(\.timeUs) == [5] && !rest.more && rest.missed == 0)
        // The byte budget bounds it too.
        let small = TraceFollowBuffer(capacity: 100, byteBudget: 25, batchBytes: 1000)
        let s = small.poll(after: nil, now: 0)
        for n in 1...5 { small.append(try Self.event(n), now: 1) }
        #expect(small.poll(after: s.next, now: 2).messages.map(\.timeUs) == [4, 5])
    }

    @Test("without polls the buffer stops filling and lets go of what it held")
    func expires() throws {
        let buffer = TraceFollowBuffer()
        let start = buffer.poll(after: nil, now: 0)
        buffer.append(try Self.event(1), now: 1)
        buffer.append(try Self.event(2), now: TraceFollowBuffer.activeNanos + 1)
        #expect(!buffer.isActive)
        buffer.append(try Self.event(3), now: TraceFollowBuffer.activeNanos + 2)
        let late = buffer.poll(after: start.next, now: TraceFollowBuffer.activeNanos + 3)
        #expect(late.messages.isEmpty && late.missed == 1)
    }

    @Test("the recorder hands messages to a follower while not recording files")
    func recorderTaps() throws {
        let recorder = TraceRecorder(logger: .init(label: "test"))
        defer { recorder.shutdown() }
        #expect(!recorder.isTapped)
        let start = recorder.follow.poll(after: nil, now: DispatchTimeNanos.now())
        #expect(recorder.isTapped && !recorder.isRecording)
        recorder.record(try Self.event(7))
        #expect(recorder.follow.poll(after: start.next, now: DispatchTimeNanos.now()).messages.map(\.timeUs) == [7])
    }
}

import Dispatch

enum DispatchTimeNanos {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
