// TraceFollowBuffer: the recent SIP messages for `sipctl trace follow`, kept only while someone follows.
//
// `trace follow` draws calls as they happen over SSH. It polls the control socket (`trace.follow` with the
// sequence number it has seen) a few times a second; the proxy keeps the messages of the last moments in a bounded
// ring, and only while a follower has polled recently, so a proxy nobody follows copies no bytes for it.

import NIOCore
import Synchronization

/// The answer to one `trace.follow` poll.
public struct FollowBatch: Codable, Sendable, Equatable {
    public var messages: [FollowedMessage]
    /// The `after` for the next poll.
    public var next: UInt64
    /// Messages that left the ring before this follower asked for them (it polled too slowly).
    public var missed: UInt64
    /// More messages are waiting: poll again at once.
    public var more: Bool
    /// The proxy's own listening sockets (`ip:port`), so the follower can name the proxy's lifeline.
    public var proxyAddresses: [String]

    public init(messages: [FollowedMessage], next: UInt64, missed: UInt64, more: Bool, proxyAddresses: [String] = []) {
        self.messages = messages
        self.next = next
        self.missed = missed
        self.more = more
        self.proxyAddresses = proxyAddresses
    }
}

/// A bounded ring of recent messages, filled from the event loops while a follower is active.
public final class TraceFollowBuffer: Sendable {
    struct State {
        /// Oldest first.
        var ring = CircularBuffer<FollowedMessage>()
        var bytes = 0
        var nextSeq: UInt64 = 1
        /// Monotonic nanoseconds after which nobody follows any more.
        var activeUntil: UInt64 = 0
    }

    /// How long after the last poll the buffer keeps filling (a follower polls several times a second).
    static let activeNanos: UInt64 = 5_000_000_000
    /// At most this many messages or this many octets of text are kept; the oldest go first.
    let capacity: Int
    let byteBudget: Int
    /// Text octets per poll answer (the control protocol is line based; a follower asks again when `more`).
    let batchBytes: Int

    private let state = Mutex(State())
    /// Mirror of "a follower polled recently", read without the lock for every message.
    private let activeFlag = Atomic<Bool>(false)

    public init(capacity: Int = 4096, byteBudget: Int = 8 << 20, batchBytes: Int = 256 << 10) {
        self.capacity = max(1, capacity)
        self.byteBudget = max(1, byteBudget)
        self.batchBytes = max(1, batchBytes)
    }

    /// Whether anyone follows: the transport skips building events for the buffer when not.
    public var isActive: Bool { self.activeFlag.load(ordering: .relaxed) }

    /// Keeps a message if someone follows. Safe from any thread; never blocks on I/O.
    public func append(_ event: TraceEvent, now: UInt64) {
        guard event.kind == .message, self.activeFlag.load(ordering: .relaxed) else { return }
        let text = String(decoding: event.payload, as: UTF8.self)
        self.state.withLock { state in
            guard now < state.activeUntil else {
                // The follower is gone: let go of what it did not fetch.
                state = State(nextSeq: state.nextSeq)
                self.activeFlag.store(false, ordering: .relaxed)
                return
            }
            let message = FollowedMessage(
                seq: state.nextSeq, timeUs: event.timestamp.microseconds, transport: event.transport.rawValue,
                source: event.source.hostPort, destination: event.destination.hostPort, text: text
            )
            state.nextSeq += 1
            state.bytes += message.text.utf8.count
            state.ring.append(message)
            while state.ring.count > self.capacity || (state.bytes > self.byteBudget && state.ring.count > 1) {
                state.bytes -= state.ring.removeFirst().text.utf8.count
            }
        }
    }

    /// The messages after `after` (nil: a new follower, who starts at the present: history is what `trace ladder`
    /// is for), and keeps the buffer filling for a while.
    public func poll(after: UInt64?, now: UInt64, proxyAddresses: [String] = []) -> FollowBatch {
        self.state.withLock { state in
            state.activeUntil = now + Self.activeNanos
            self.activeFlag.store(true, ordering: .relaxed)
            let oldest = state.ring.first?.seq ?? state.nextSeq
            let from = after.map { $0 + 1 } ?? state.nextSeq
            let missed = from < oldest ? oldest - from : 0
            var out: [FollowedMessage] = []
            var bytes = 0
            var more = false
            for message in state.ring where message.seq >= from {
                if !out.isEmpty && bytes + message.text.utf8.count > self.batchBytes {
                    more = true
                    break
                }
                bytes += message.text.utf8.count
                out.append(message)
            }
            let next = out.last?.seq ?? max(after ?? 0, state.nextSeq - 1)
            return FollowBatch(messages: out, next: next, missed: missed, more: more, proxyAddresses: proxyAddresses)
        }
    }
}
