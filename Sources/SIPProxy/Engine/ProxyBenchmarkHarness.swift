// ProxyBenchmarkHarness: the micro-benchmark's door into the real SIP core (Benchmarks/Micro, issue 12).
//
//     benchmark --bytes--> receive(_:from:) --> ProxyCore.receive (parse, §16 proxy, transactions, registrar)
//     benchmark <--bytes-- sent  <-- in-memory transport <-- TransactionLayer / ProxyCore sends
//
// The benchmark package cannot `@testable import` the library, and the core's initialiser over any transport is
// internal, so this one public type builds the same `ProxyCore` the unit tests drive (EngineHarness): one shard on
// an `EmbeddedEventLoop`, timers on a manual clock, a transport that only records what the core sends. No socket
// is opened (DNS included: every query fails at once), nothing is written to disk (no trace, no journal, bindings
// in memory), so the figures are the cost of the SIP code paths alone. It adds no behaviour to the proxy.

import Logging
import NIOCore
import NIOEmbedded

/// The whole SIP core fed bytes by hand: what a datagram in costs, and what the proxy sends for it.
///
/// Not thread-safe: use it from the thread that created it (the embedded loop runs on the caller's thread).
public final class ProxyBenchmarkHarness {
    /// One message the core sent.
    public struct Output: Sendable {
        /// The serialized message, as it would have been written to the socket.
        public var bytes: ByteBuffer
        public var transport: TransportKind
        public var destination: SocketAddress
    }

    /// The proxy's (pretend) listening address, UDP and TCP.
    public let address: SocketAddress
    /// Everything the core sent since the last `removeAllSent()`, in order.
    public var sent: [Output] { self.transport.sent }

    private let loop = EmbeddedEventLoop()
    private let clock = ManualClock()
    private let transport: RecordingTransport
    private let timers: LoopTimers
    private let core: ProxyCore
    /// The datagram handed to the core, reused: the core parses it and keeps none of its storage, so writing the
    /// next message into it costs no allocation (a real socket read allocates its own buffer instead).
    private var input = ByteBufferAllocator().buffer(capacity: 4096)

    /// - Parameters:
    ///   - address: where the proxy pretends to listen; IPv4 loopback only (127.0.0.0/8), so that nothing the
    ///     harness writes into messages points off the machine.
    ///   - configure: changes to the configuration (e.g. `domains`); trace, journal, rate limit, workers and DNS
    ///     are set by the harness afterwards.
    public init(
        address: SocketAddress,
        configure: (inout ProxyConfiguration) -> Void = { _ in }
    ) throws {
        guard case .v4 = address, address.ipAddress?.hasPrefix("127.") == true, address.port != nil else {
            throw ConfigurationError("benchmark harness: \(address) is not an IPv4 loopback address with a port")
        }
        self.address = address
        var configuration = ProxyConfiguration()
        configure(&configuration)
        configuration.listen = [address]
        configuration.trace = nil
        configuration.journal = nil
        configuration.hep = nil
        configuration.limits.rateLimit = .off
        configuration.workers = 1
        // Never read /etc/resolv.conf: the resolver gets a server it never asks (OfflineDNS fails first).
        configuration.dns.servers = [try SocketAddress(ipAddress: "127.0.0.1", port: 9)]
        // Library code logs at info per message; the autoclosures are not even evaluated below critical.
        var logger = Logger(label: "sipproxy.benchmark")
        logger.logLevel = .critical
        let clock = self.clock
        self.transport = RecordingTransport(
            eventLoop: self.loop,
            listen: [ListenAddress(transport: .udp, address: address), ListenAddress(transport: .tcp, address: address)]
        )
        self.timers = LoopTimers(eventLoop: self.loop, clock: { clock.now }, drivesItself: false)
        self.core = ProxyCore(
            eventLoop: self.loop,
            anyTransport: self.transport,
            configuration: configuration,
            logger: logger,
            shared: SharedServices(configuration: configuration, logger: logger, journal: nil),
            shardIndex: 0,
            timers: self.timers,
            dnsExchange: OfflineDNS(),
            now: { clock.now }
        )
        self.core.start()
        self.loop.run()
    }

    deinit {
        try? self.loop.syncShutdownGracefully()
    }

    /// Hands `bytes` to the core as a UDP datagram read from `source` (RFC 3261 §18.2.1), and runs what it queued.
    /// What the core sends in return is appended to `sent`.
    public func receive(_ bytes: some Collection<UInt8>, from source: SocketAddress) {
        self.input.clear()
        self.input.writeBytes(bytes)
        self.transport.onReceive?(self.input, Peer(transport: .udp, remote: source, local: self.address))
        self.loop.run()
    }

    /// Forgets what was sent, keeping the storage (so a benchmark loop allocates nothing for it).
    public func removeAllSent() {
        self.transport.sent.removeAll(keepingCapacity: true)
    }

    /// Moves the clock and fires the timers due (retransmissions, Timer B/D/H/K/L/M, binding expiry), as a real
    /// loop would after that much time: lets finished transactions go so that they do not pile up.
    public func advance(by amount: TimeAmount) {
        // In steps of at most 500 ms (T1), so each retransmission timer fires at its own time.
        var left = amount
        while left > .zero {
            let step = min(left, .milliseconds(500))
            self.clock.advance(by: step)
            self.timers.fireDue()
            self.loop.run()
            left = left - step
        }
    }
}

/// The transport of the harness: records every send; no connection is ever open, no address refused.
private final class RecordingTransport: SIPTransport {
    let eventLoop: EventLoop
    let listenAddresses: [ListenAddress]
    var onReceive: ((ByteBuffer, Peer) -> Void)?
    var onOversized: ((ByteBuffer, Peer) -> Void)?
    var sent: [ProxyBenchmarkHarness.Output] = []
    var readCount: (messages: Int, octets: Int) = (0, 0)

    init(eventLoop: EventLoop, listen: [ListenAddress]) {
        self.eventLoop = eventLoop
        self.listenAddresses = listen
    }

    func localAddress(for transport: TransportKind, to remote: SocketAddress, preferred: SocketAddress?) -> SocketAddress? {
        self.listenAddresses.first { $0.transport == transport }?.address
    }

    func send(_ buffer: ByteBuffer, to peer: Peer, onFailure: (@Sendable (TransportError) -> Void)?) {
        self.sent.append(.init(bytes: buffer, transport: peer.transport, destination: peer.remote))
    }

    func refusal(_ address: SocketAddress) -> String? { nil }
    func isOpen(_ id: ConnectionID) -> Bool { false }
    func logThrottled(_ key: String, _ level: Logger.Level, _ message: String) {}
    func receiveQueueOctets() -> Int { 0 }
}

/// A resolver exchange with no network: every query fails at once, as if no name server answered.
private struct OfflineDNS: DNSExchange {
    func udp(
        _ query: [UInt8], to server: SocketAddress, timeout: TimeAmount, on loop: EventLoop,
        accept: @escaping @Sendable ([UInt8]) -> Bool
    ) -> EventLoopFuture<[UInt8]> {
        loop.makeFailedFuture(ConfigurationError("benchmark harness: no DNS"))
    }

    func tcp(_ query: [UInt8], to server: SocketAddress, timeout: TimeAmount, on loop: EventLoop) -> EventLoopFuture<[UInt8]> {
        loop.makeFailedFuture(ConfigurationError("benchmark harness: no DNS"))
    }
}
