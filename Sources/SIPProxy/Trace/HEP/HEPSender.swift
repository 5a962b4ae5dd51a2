// HEPSender: the trace sink that sends every SIP message (and relayed RTCP) to a HEP collector over UDP, behind the
// event loops: a bounded queue drained on a thread of its own, drops counted.

import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Sends trace events as HEPv3 datagrams (`HEPEncoder`) to one collector.
///
/// Thread model: `consume` runs on a SIP event loop for every message. It only appends the event to a bounded
/// queue under a mutex (no encoding, no syscall) and, when the queue was empty, schedules one drain on the sender's
/// own event loop; past `HEPSettings.queueCapacity` the event is dropped and counted. The drain encodes the whole
/// batch and writes it to the UDP channel with one flush. A collector that is down costs nothing but the datagrams:
/// UDP does not wait for it, and a channel that stops being writable drops (and counts) instead of buffering.
public final class HEPSender: TraceSink, Sendable {
    struct Item: Sendable {
        var event: TraceEvent
        var type: HEPEncoder.ProtocolType
        var correlationID: String?
    }

    struct State: Sendable {
        var queue: [Item] = []
        var drainScheduled = false
        var closed = false
    }

    /// What the sender did since it started.
    public struct Counters: Sendable, Equatable {
        public var sent: Int64
        public var drops: Int64
    }

    public let settings: HEPSettings
    private let encoder: HEPEncoder
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let state = Mutex(State())
    private let sentCount = Atomic<Int64>(0)
    private let dropCount = Atomic<Int64>(0)
    private let logger: Logger

    private init(settings: HEPSettings, group: MultiThreadedEventLoopGroup, channel: any Channel, logger: Logger) {
        self.settings = settings
        self.encoder = HEPEncoder(captureID: settings.captureID, password: settings.password)
        self.group = group
        self.channel = channel
        self.logger = logger
    }

    /// Binds an ephemeral UDP socket of the collector's family on a one-thread event loop of its own (so encoding
    /// and sending never take time from a SIP shard).
    public static func start(_ settings: HEPSettings, logger: Logger) async throws -> HEPSender {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let wildcard = settings.collector.protocol == .inet6 ? "::" : "0.0.0.0"
            let channel = try await DatagramBootstrap(group: group)
                .bind(host: wildcard, port: 0)
                .get()
            logger.info("HEP to \(settings.collector.hostPort) as capture agent \(settings.captureID)")
            return HEPSender(settings: settings, group: group, channel: channel, logger: logger)
        } catch {
            try? await group.shutdownGracefully()
            throw TransportError(.bindFailed, "cannot open a socket for HEP to \(settings.collector.hostPort): \(error)")
        }
    }

    /// Sends what is queued, then closes the socket and ends the thread.
    public func shutdown() async {
        let loop = self.channel.eventLoop
        try? await loop.submit { self.drain() }.get()
        self.state.withLock { $0.closed = true }
        try? await self.channel.close()
        try? await self.group.shutdownGracefully()
    }

    public var counters: Counters {
        Counters(sent: self.sentCount.load(ordering: .relaxed), drops: self.dropCount.load(ordering: .relaxed))
    }

    // MARK: TraceSink

    public var isActive: Bool { true }

    public func consume(_ event: TraceEvent) {
        // Only SIP messages: a TCP close carries nothing a collector stores, relayed RTP comes through consumeRTCP.
        guard event.kind == .message else { return }
        self.enqueue(Item(event: event, type: .sip, correlationID: nil))
    }

    public func consumeRTCP(_ event: TraceEvent, callID: String) {
        self.enqueue(Item(event: event, type: .rtcp, correlationID: callID))
    }

    private func enqueue(_ item: Item) {
        let capacity = self.settings.queueCapacity
        let schedule = self.state.withLock { state -> Bool? in
            guard !state.closed, state.queue.count < capacity else { return nil }
            state.queue.append(item)
            guard !state.drainScheduled else { return false }
            state.drainScheduled = true
            return true
        }
        switch schedule {
        case nil: self.dropCount.add(1, ordering: .relaxed)
        case true?: self.channel.eventLoop.execute { self.drain() }
        case false?: break
        }
    }

    /// On the sender's loop: takes the whole queue, encodes and writes it, flushes once.
    private func drain() {
        let batch = self.state.withLock { state -> [Item] in
            state.drainScheduled = false
            defer { state.queue.removeAll(keepingCapacity: true) }
            return state.queue
        }
        guard !batch.isEmpty else { return }
        var sent: Int64 = 0
        var dropped: Int64 = 0
        for item in batch {
            guard self.channel.isWritable,
                let bytes = self.encoder.encode(item.event, type: item.type, correlationID: item.correlationID)
            else {
                dropped += 1
                continue
            }
            let envelope = AddressedEnvelope(
                remoteAddress: self.settings.collector, data: self.channel.allocator.buffer(bytes: bytes)
            )
            self.channel.write(envelope, promise: nil)
            sent += 1
        }
        self.channel.flush()
        self.sentCount.add(sent, ordering: .relaxed)
        if dropped > 0 {
            self.dropCount.add(dropped, ordering: .relaxed)
            self.logger.debug("HEP: \(dropped) message(s) not sent (too large for HEP, or the socket is full)")
        }
    }
}
