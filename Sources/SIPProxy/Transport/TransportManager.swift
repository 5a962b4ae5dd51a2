// TransportManager: binds the UDP and TCP listeners, keeps the TCP connection table and sends messages
// (RFC 3261 §18). Everything is confined to one event loop, the SIP core's, so no locks are needed.

import Logging
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bound listening socket.
public struct Listener: Sendable, CustomStringConvertible {
    public var transport: TransportKind
    public var address: SocketAddress
    let channel: Channel
    /// `address.ipAddress` and `address.isLoopback`, formatted once (both are asked per forwarded message).
    let ip: String
    let isLoopback: Bool

    init(transport: TransportKind, address: SocketAddress, channel: Channel) {
        self.transport = transport
        self.address = address
        self.channel = channel
        self.ip = address.ipAddress ?? ""
        self.isLoopback = address.isLoopback
    }

    public var description: String { "\(self.transport.rawValue.lowercased()):\(self.address.hostPort)" }
}

/// Owns the proxy's sockets.
///
/// `@unchecked Sendable`: every mutable property is touched only on `eventLoop` (asserted in debug builds); the
/// NIO handlers that call in run on that same loop because every channel is bound to it.
public final class TransportManager: SIPTransport, @unchecked Sendable {
    public let eventLoop: EventLoop
    let logger: Logger
    private let parser: SIPParser
    public let limits: TransportLimits
    let destinations: DestinationPolicy

    public private(set) var listeners: [Listener] = []
    private var connections: [ConnectionID: Channel] = [:]
    /// The newest connection to each remote address, for requests to a phone that connected to us (§18.2.2).
    private var connectionByRemote: [SocketAddress: ConnectionID] = [:]
    /// The client side of TLS connections the proxy opens (nil: no TLS listener, so no outbound TLS).
    private var tlsClientContext: NIOSSLContext?
    /// Outbound connections being opened, with the messages waiting for them.
    private var pendingConnects: [SocketAddress: [(ByteBuffer, (@Sendable (TransportError) -> Void)?)]] = [:]
    /// The first shard's TCP and TLS listeners, known to the other shards so they can name them in Via and
    /// Record-Route and connect from their address. The first shard's listening sockets accept for every shard
    /// (round robin over the loops); each connection then lives on its shard's loop.
    private var adoptedStreamListeners: [Listener] = []
    /// UDP listeners share their address with the other shards' (SO_REUSEPORT).
    private var sharedUDP = false
    /// Every shard's connections, for ids and for sending on a connection another shard holds.
    let registry: ConnectionRegistry
    private var unflushedDatagramChannels: [ObjectIdentifier: Channel] = [:]
    private var datagramFlushScheduled = false
    /// Set by `close()`: a listener closing after this is the shutdown, not a fault to repair.
    private var isClosing = false
    /// One log line per bad destination or refused source per interval.
    private var throttle = LogThrottle()
    /// Per-source request rate limit (pike), applied before a message is traced or parsed.
    private var rateLimiter: SourceRateLimiter
    /// Counters shown by `sipctl status`.
    public private(set) var counters = Counters()

    public struct Counters: Sendable, Equatable {
        /// Messages not sent because the destination is broadcast, multicast or reserved.
        public var refusedDestinations = 0
        /// Sends that failed at the socket.
        public var sendErrors = 0
        /// Connections refused by the caps.
        public var refusedConnections = 0
        /// Listeners re-opened after the system closed them.
        public var listenerRestarts = 0
        /// Stream messages over the size limit (answered 513, connection closed).
        public var oversizedMessages = 0
        /// Requests dropped because their source went over the rate limit.
        public var rateLimited = 0
        /// Times accepting paused for lack of descriptors or memory.
        public var acceptPauses = 0
        /// Connections closed because the peer stopped reading (`TransportLimits.maxPendingOutput`).
        public var stalledConnections = 0
    }

    /// Messages and payload octets read from this shard's sockets since start (the overload control's drain rate).
    public private(set) var readCount: (messages: Int, octets: Int) = (0, 0)

    /// Called on `eventLoop` for every message read from any socket.
    public var onReceive: ((ByteBuffer, Peer) -> Void)?
    /// Called on `eventLoop` with the first `limits.maxMessageSize` octets of a stream message that is too large;
    /// the receiver may answer 513 on the connection before it is closed.
    public var onOversized: ((ByteBuffer, Peer) -> Void)?
    /// The observer at this edge (Kamailio siptrace's place): every message read or written is mirrored to it as
    /// bytes and addresses. The transport knows only the protocol; the trace recorder is one implementation.
    let tap: (any WireTap)?

    public init(
        eventLoop: EventLoop,
        parser: SIPParser,
        limits: TransportLimits = TransportLimits(),
        destinations: DestinationPolicy = DestinationPolicy(),
        logger: Logger,
        tap: (any WireTap)? = nil,
        registry: ConnectionRegistry = ConnectionRegistry()
    ) {
        self.registry = registry
        self.eventLoop = eventLoop
        self.parser = parser
        self.limits = limits
        self.destinations = destinations
        self.rateLimiter = SourceRateLimiter(policy: limits.rateLimit)
        self.logger = logger
        self.tap = tap
    }

    /// Open TCP connections, for status.
    public var connectionCount: Int { self.connections.count }

    /// Sources ignored by the rate limit right now, for status.
    public var bannedSources: [String] { self.rateLimiter.banned(now: .now()).map(\.description).sorted() }

    /// Responses are not rate limited: they answer requests the proxy sent, and dropping them would hurt the
    /// calls of the sources that are not flooding.
    private static func isResponse(_ bytes: ByteBuffer) -> Bool {
        bytes.readableBytes >= 4 && bytes.getInteger(at: bytes.readerIndex, as: UInt32.self) == 0x5349_502F  // "SIP/"
    }

    /// SO_REUSEPORT, which NIO does not name.
    static let reusePort = NIOBSDSocket.Option(rawValue: SO_REUSEPORT)

    /// Octets waiting in this shard's UDP receive queues: what the kernel has accepted and the loop not yet read.
    /// Linux's SO_MEMINFO (since 3.17) gives the queue's charge in one `getsockopt`, cheap enough to ask every
    /// 50 ms; elsewhere (and on an error) the answer is 0 and the overload control relies on the loop's lateness.
    public func receiveQueueOctets() -> Int {
        self.eventLoop.assertInEventLoop()
        #if os(Linux)
        var total = 0
        for listener in self.listeners where listener.transport == .udp {
            guard let provider = listener.channel as? SocketOptionProvider else { continue }
            // SO_MEMINFO fills an array of u32 indexed by SK_MEMINFO_*; RMEM_ALLOC (the receive queue) is first.
            let future: EventLoopFuture<MemInfo> = provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(Self.soMeminfo))
            // On the channel's own loop the option is read at once and the future is already complete.
            future.assumeIsolated().whenSuccess { info in total += Int(info.0) }
        }
        return total
        #else
        return 0
        #endif
    }

    /// `SO_MEMINFO` (include/uapi/asm-generic/socket.h) and the nine counters it fills (SK_MEMINFO_VARS).
    private static let soMeminfo: CInt = 55
    private typealias MemInfo = (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)

    // MARK: Listening

    /// Binds UDP and TCP on every address, and TLS on every `tls` address with `tlsContext`. Throws
    /// `TransportError.bindFailed` naming the address that failed.
    ///
    /// - Parameters:
    ///   - sharedUDP: bind UDP with SO_REUSEPORT, so every shard has a socket of its own on the same address and
    ///     the kernel spreads datagrams over them (by source address and port). The caller checks first that no
    ///     other process holds the address (`UDPPortProbe`), since SO_REUSEPORT would let one share it silently.
    ///   - udpOnly: bind no stream listeners (the extra shards: the first shard's listeners accept for them).
    ///   - shards: every shard's transport, this one included, on the loops of `group`: accepted connections are
    ///     spread over their loops, each handled by its own shard's transport (empty: all stay on this one).
    public func bind(
        _ addresses: [SocketAddress],
        tls: [SocketAddress] = [],
        tlsContext: NIOSSLContext? = nil,
        tlsClientContext: NIOSSLContext? = nil,
        sharedUDP: Bool = false,
        udpOnly: Bool = false,
        acceptingFor shards: [TransportManager] = [],
        group: EventLoopGroup? = nil
    ) async throws {
        self.sharedUDP = sharedUDP
        try await self.eventLoop.submit { self.tlsClientContext = tlsClientContext }.get()
        let acceptor = StreamAcceptor(shards: shards.isEmpty ? [self] : shards, group: shards.isEmpty ? nil : group)
        for address in addresses {
            let udp = try await self.bindUDP(address)
            let tcp = udpOnly ? nil : try await self.bindStream(address, transport: .tcp, tlsContext: nil, acceptor: acceptor)
            try await self.eventLoop.submit {
                self.listeners.append(udp)
                if let tcp { self.listeners.append(tcp) }
            }.get()
        }
        if udpOnly { return }
        for address in tls {
            guard let tlsContext else { throw TransportError(.bindFailed, "tls \(address.hostPort): no certificate") }
            let listener = try await self.bindStream(address, transport: .tls, tlsContext: tlsContext, acceptor: acceptor)
            try await self.eventLoop.submit { self.listeners.append(listener) }.get()
        }
    }

    private func bindUDP(_ address: SocketAddress) async throws -> Listener {
        do {
            let channel = try await self.udpBootstrap(address).bind(to: address).get()
            self.watch(udp: channel, address: address)
            return Listener(transport: .udp, address: channel.localAddress ?? address, channel: channel)
        } catch {
            throw TransportError(.bindFailed, "cannot bind udp \(address.hostPort): \(TransportError.explain(error))")
        }
    }

    /// Makes another shard's TCP and TLS listeners known here (see `adoptedStreamListeners`).
    public func adopt(streamListeners: [Listener]) async throws {
        try await self.eventLoop.submit {
            self.adoptedStreamListeners = streamListeners.filter { $0.transport.isStream }
        }.get()
    }

    private func udpBootstrap(_ address: SocketAddress) -> DatagramBootstrap {
        // No SO_REUSEADDR on UDP: on Linux it would let a second proxy bind the same address and steal traffic.
        // SO_REUSEPORT only between the shards of this process (`sharedUDP`), after the address was probed free.
        DatagramBootstrap(group: self.eventLoop)
            .channelOption(ChannelOptions.socketOption(TransportManager.reusePort), value: self.sharedUDP ? 1 : 0)
            // Large receive buffer: a burst of REGISTERs must not be dropped by the kernel.
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            .channelOption(.maxMessagesPerRead, value: 16)
            // A datagram is read whole: NIO's default 2 KB buffer cuts an INVITE with video and ICE candidates
            // (RFC 3261 §18.1.1 allows UDP messages up to the IP limit, 65,535 octets).
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SIPDatagramHandler(manager: self, local: address))
                }
            }
    }

    /// A UDP socket that the system closes under us (an errno NIO deems fatal) is re-opened on the same address,
    /// so one bad datagram never silences the proxy until a restart.
    private func watch(udp channel: Channel, address: SocketAddress) {
        channel.closeFuture.whenComplete { _ in
            guard !self.isClosing else { return }
            self.counters.listenerRestarts += 1
            self.logger.error("udp listener \(address.hostPort) was closed by the system; re-opening it")
            self.udpBootstrap(address).bind(to: address).whenComplete { result in
                switch result {
                case .success(let fresh):
                    if let index = self.listeners.firstIndex(where: { $0.channel === channel }) {
                        self.listeners[index] = Listener(transport: .udp, address: fresh.localAddress ?? address, channel: fresh)
                    }
                    self.watch(udp: fresh, address: address)
                case .failure(let error):
                    self.logger.critical(
                        "cannot re-open udp listener \(address.hostPort): \(TransportError.explain(error))"
                    )
                }
            }
        }
    }

    /// Where accepted connections go: the shards' transports, and the group whose loops they run on.
    struct StreamAcceptor {
        let shards: [TransportManager]
        let group: EventLoopGroup?

        /// The transport of the shard whose loop a new connection was given.
        func owner(of channel: Channel) -> TransportManager? {
            self.shards.first { $0.eventLoop === channel.eventLoop }
        }
    }

    private func bindStream(
        _ address: SocketAddress, transport: TransportKind, tlsContext: NIOSSLContext?, acceptor: StreamAcceptor
    ) async throws -> Listener {
        // Each accepted connection goes to the next loop of the group (NIO's round robin), so TCP and TLS phones are
        // read and parsed by every core, as UDP is through SO_REUSEPORT; its messages then go to the Call-ID's shard
        // like any others.
        let bootstrap = ServerBootstrap(group: self.eventLoop, childGroup: acceptor.group ?? self.eventLoop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // SO_REUSEPORT lets outbound connections leave from the listening port too (see `connect`). A
            // second proxy cannot join the port: its UDP bind, which comes first, fails.
            .serverChannelOption(ChannelOptions.socketOption(TransportManager.reusePort), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Out of descriptors (EMFILE/ENFILE), accept fails at once and would be retried at once: pause
                    // accepting for a second instead of spinning a core.
                    try channel.pipeline.syncOperations.addHandler(
                        AcceptPauseHandler { error in
                            self.counters.acceptPauses += 1
                            self.logThrottled("accept", .warning, "cannot accept tcp connections: \(error); pausing 1 s")
                        }
                    )
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let owner = acceptor.owner(of: channel) else {
                        throw TransportError(.sendFailed, "connection on a loop of no shard")
                    }
                    try owner.admit(channel)
                    if let tlsContext {
                        // RFC 3261 §26.2: the phone connects with TLS; everything after the handshake is SIP.
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext))
                    }
                    try owner.addStreamHandlers(to: channel, listener: address, transport: transport)
                }
            }
        let name = transport.rawValue.lowercased()
        do {
            let channel = try await bootstrap.bind(to: address).get()
            return Listener(transport: transport, address: channel.localAddress ?? address, channel: channel)
        } catch {
            throw TransportError(.bindFailed, "cannot bind \(name) \(address.hostPort): \(TransportError.explain(error))")
        }
    }

    private func addStreamHandlers(to channel: Channel, listener: SocketAddress, transport: TransportKind) throws {
        let ops = channel.pipeline.syncOperations
        // Past the high mark the channel stops being writable, and `write` closes it (the peer is not reading).
        try channel.syncOptions?.setOption(
            .writeBufferWaterMark,
            value: .init(low: self.limits.maxPendingOutput / 2, high: self.limits.maxPendingOutput)
        )
        var parser = self.parser
        parser.maxMessageSize = self.limits.maxMessageSize
        try ops.addHandler(ByteToMessageHandler(SIPStreamDecoder(parser: parser)))
        try ops.addHandler(SIPStreamHandler(manager: self, listener: listener, limits: self.limits, transport: transport))
    }

    /// The connection caps, checked when a connection is accepted (before any byte is read from it). They count
    /// every shard's connections (`ConnectionRegistry`); the count is given back when the connection closes.
    private func admit(_ channel: Channel) throws {
        self.eventLoop.assertInEventLoop()
        let source = channel.remoteAddress?.ipAddress ?? "?"
        if let why = self.registry.reserve(
            source: source, maxTotal: self.limits.maxConnections, maxPerSource: self.limits.maxConnectionsPerSource
        ) {
            self.counters.refusedConnections += 1
            self.logThrottled(
                "conn:\(source)", .notice, "refused tcp connection from \(source): \(why) (connection cap)"
            )
            throw TransportError(.sendFailed, "connection cap")
        }
        let registry = self.registry
        channel.closeFuture.whenComplete { _ in registry.release(source: source) }
    }

    /// Closes every listener and connection (graceful shutdown).
    public func close() async {
        let channels: [Channel] = (try? await self.eventLoop.submit {
            self.isClosing = true
            return self.listeners.map(\.channel) + Array(self.connections.values)
        }.get()) ?? []
        for channel in channels {
            try? await channel.close()
        }
    }

    // MARK: Connection table

    func register(connection channel: Channel) -> ConnectionID {
        self.eventLoop.assertInEventLoop()
        if channel.parent == nil, let source = channel.remoteAddress?.ipAddress {
            // Outbound connections are counted here (the cap was checked before connecting); accepted ones were
            // counted by `admit`.
            _ = self.registry.reserve(source: source, maxTotal: .max, maxPerSource: .max)
            let registry = self.registry
            channel.closeFuture.whenComplete { _ in registry.release(source: source) }
        }
        let id = self.registry.add(channel)
        self.connections[id] = channel
        if let remote = channel.remoteAddress { self.connectionByRemote[remote] = id }
        return id
    }

    func unregister(connection id: ConnectionID, local: SocketAddress?, remote: SocketAddress?) {
        self.eventLoop.assertInEventLoop()
        self.registry.remove(id, remote: remote)
        if let channel = self.connections.removeValue(forKey: id), let remote = channel.remoteAddress {
            if self.connectionByRemote[remote] == id { self.connectionByRemote.removeValue(forKey: remote) }
        }
        if let tap = self.tap, let local, let remote {
            tap.connectionClosed(.received, source: remote, destination: local, connection: id)
        }
    }

    /// Whether a TCP connection is still open (on any shard).
    public func isOpen(_ id: ConnectionID) -> Bool { self.connections[id] != nil || self.registry.isOpen(id) }

    public var listenAddresses: [ListenAddress] {
        (self.listeners + self.adoptedStreamListeners).map { ListenAddress(transport: $0.transport, address: $0.address) }
    }

    public func localAddress(for transport: TransportKind, to remote: SocketAddress, preferred: SocketAddress?)
        -> SocketAddress?
    {
        self.listener(for: transport, to: remote, preferred: preferred)?.address
    }

    /// A message read from a socket; `socketLocal` is the socket's own address (for TCP the connection's).
    func deliver(_ bytes: ByteBuffer, from peer: Peer, socketLocal: SocketAddress) {
        self.readCount.messages &+= 1
        self.readCount.octets &+= bytes.readableBytes
        if self.limits.rateLimit.isEnabled, !Self.isResponse(bytes) {
            switch self.rateLimiter.admit(peer.remote, now: .now()) {
            case .allowed:
                break
            case .banned:
                self.counters.rateLimited += 1
                let policy = self.limits.rateLimit
                self.logger.warning(
                    "rate limit: \(peer.remote.ipAddress ?? "?") sent over \(policy.limit) requests in \(policy.window.wholeSeconds) s; ignoring it for \(policy.banTime.wholeSeconds) s"
                )
                return
            case .dropped:
                self.counters.rateLimited += 1
                return
            }
        }
        self.trace(.received, bytes, transport: peer.transport, source: peer.remote, destination: socketLocal,
            connection: peer.connection)
        self.onReceive?(bytes, peer)
    }

    /// A stream message over the size limit: traced as far as it was read, then offered to the core for a 513.
    func deliverOversized(_ bytes: ByteBuffer, from peer: Peer) {
        self.counters.oversizedMessages += 1
        self.logThrottled(
            "big:\(peer.remote.ipAddress ?? "")", .notice,
            "message from \(peer) exceeds \(self.limits.maxMessageSize) octets; answering 513 and closing the connection"
        )
        self.onOversized?(bytes, peer)
    }

    /// Why `address` must not be sent to (broadcast, multicast, unspecified, reserved), counted and logged; nil when
    /// it may. §18.1.1 sends a request to one host: such targets are refused before any socket sees them.
    public func refusal(_ address: SocketAddress) -> String? {
        guard let why = self.destinations.refusal(address) else { return nil }
        self.counters.refusedDestinations += 1
        self.logThrottled("dst:\(address.ipAddress ?? "")", .notice, "not sending to \(address.hostPort): \(why)")
        return why
    }

    /// Logs at most one line per key every few seconds, with the count of lines left out.
    func logThrottled(_ key: String, _ level: Logger.Level, _ message: String) {
        guard let suppressed = self.throttle.admit(key, now: .now()) else { return }
        let suffix = suppressed > 0 ? " (\(suppressed) similar suppressed)" : ""
        self.logger.log(level: level, "\(message)\(suffix)")
    }

    /// Mirrors one message to the tap (which stamps it: now is when it was read from or written to the socket).
    @inline(__always)
    private func trace(
        _ direction: WireDirection,
        _ bytes: ByteBuffer,
        transport: TransportKind,
        source: SocketAddress,
        destination: SocketAddress,
        connection: ConnectionID?
    ) {
        self.tap?.message(
            direction, bytes, transport: transport, source: source, destination: destination, connection: connection
        )
    }

    // MARK: Sending

    /// The listener of `transport` that best reaches `remote`: same address family, and a loopback listener for a
    /// loopback destination (and a non-loopback one otherwise), preferring `preferred` when it qualifies.
    public func listener(for transport: TransportKind, to remote: SocketAddress, preferred: SocketAddress?) -> Listener? {
        let remoteIsLoopback = remote.isLoopback
        var fallback: Listener?
        var sameScope: Listener?
        for candidate in self.listeners + self.adoptedStreamListeners where candidate.transport == transport
            && candidate.address.protocol == remote.protocol
        {
            if let preferred, candidate.address == preferred || candidate.ip == preferred.ipText,
                candidate.isLoopback == remoteIsLoopback
            {
                return candidate
            }
            if sameScope == nil && candidate.isLoopback == remoteIsLoopback { sameScope = candidate }
            if fallback == nil { fallback = candidate }
        }
        return sameScope ?? fallback
    }

    /// Sends a serialized message. UDP goes out of the listening socket whose address the message carries in Via
    /// (`peer.local`); TCP reuses `peer.connection` when open, else any open connection to the remote address,
    /// else opens one.
    public func send(_ buffer: ByteBuffer, to peer: Peer, onFailure: (@Sendable (TransportError) -> Void)? = nil) {
        self.eventLoop.assertInEventLoop()
        if peer.connection == nil, let why = self.refusal(peer.remote) {
            let error = TransportError(.refusedDestination, "\(peer.remote.hostPort) is a \(why)")
            if let onFailure { self.eventLoop.execute { onFailure(error) } }
            return
        }
        switch peer.transport {
        case .udp:
            guard
                let listener = self.listeners.first(where: { $0.transport == .udp && $0.address == peer.local })
                    ?? self.listener(for: .udp, to: peer.remote, preferred: peer.local)
            else {
                onFailure?(TransportError(.sendFailed, "no udp listener for \(peer.remote.hostPort)"))
                return
            }
            let envelope = AddressedEnvelope(remoteAddress: peer.remote, data: buffer)
            self.trace(.sent, buffer, transport: .udp, source: listener.address, destination: peer.remote,
                connection: nil)
            self.writeDatagram(envelope, on: listener.channel, onFailure: onFailure)
        case .tcp, .tls:
            if let id = peer.connection, let channel = self.connections[id] ?? self.registry.channel(id) {
                self.write(buffer, on: channel, id: id)
            } else if let id = self.connectionByRemote[peer.remote], let channel = self.connections[id] {
                self.write(buffer, on: channel, id: id)
            } else if let (id, channel) = self.registry.connection(to: peer.remote) {
                // A connection another shard holds (a phone's flow accepted there).
                self.write(buffer, on: channel, id: id)
            } else if peer.transport == .tcp || self.tlsClientContext != nil {
                self.connect(to: peer.remote, listener: peer.local, tls: peer.transport == .tls, sending: buffer,
                             onFailure: onFailure)
            } else {
                self.logThrottled("tls:\(peer.remote.hostPort)", .notice, "no tls connection open to \(peer.remote.hostPort)")
                if let onFailure {
                    self.eventLoop.execute { onFailure(TransportError(.sendFailed, "no tls connection to \(peer.remote.hostPort)")) }
                }
            }
        }
    }

    private func writeDatagram(
        _ envelope: AddressedEnvelope<ByteBuffer>,
        on channel: Channel,
        onFailure: (@Sendable (TransportError) -> Void)?
    ) {
        // A failed send is about this destination only (EHOSTUNREACH, EMSGSIZE, EPERM from a firewall): it is
        // logged once per destination and reported to the transaction (§17.1.4), never fatal for the listener.
        // Only a sender that listens (a client transaction) pays for a promise: responses and stateless ACKs,
        // half of all datagrams, are fire-and-forget, as UDP is.
        guard let onFailure else {
            channel.write(envelope, promise: nil)
            self.scheduleDatagramFlush(channel)
            return
        }
        let promise = self.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenFailure { error in
            self.counters.sendErrors += 1
            let remote = envelope.remoteAddress
            self.logThrottled(
                "send:\(remote.hostPort)", .notice,
                "udp send to \(remote.hostPort) failed: \(TransportError.explain(error))"
            )
            onFailure(TransportError(.sendFailed, "udp send to \(remote.hostPort) failed"))
        }
        channel.write(envelope, promise: promise)
        self.scheduleDatagramFlush(channel)
    }

    /// Datagrams written during one event-loop tick are flushed together at its end, so NIO sends them with
    /// one `sendmmsg` instead of a `sendmsg` each (a read burst of requests produces a burst of answers).
    private func scheduleDatagramFlush(_ channel: Channel) {
        self.unflushedDatagramChannels[ObjectIdentifier(channel)] = channel
        guard !self.datagramFlushScheduled else { return }
        self.datagramFlushScheduled = true
        self.eventLoop.execute {
            self.datagramFlushScheduled = false
            let channels = self.unflushedDatagramChannels
            self.unflushedDatagramChannels.removeAll(keepingCapacity: true)
            for (_, channel) in channels { channel.flush() }
        }
    }

    private func write(
        _ buffer: ByteBuffer, on channel: Channel, id: ConnectionID?, flush: Bool = true,
        promise: EventLoopPromise<Void>? = nil
    ) {
        guard channel.isWritable || !channel.isActive else {
            // More than `maxPendingOutput` octets wait for a peer that does not read: queueing more would let one
            // stuck (or hostile) phone hold the proxy's memory. The connection goes; the phone reconnects and
            // registers again when it recovers (RFC 5626 §4.4), and the transactions waiting on it time out.
            self.counters.stalledConnections += 1
            let remote = channel.remoteAddress?.hostPort ?? "?"
            self.logThrottled(
                "stalled:\(remote)", .notice,
                "closing the connection to \(remote): \(self.limits.maxPendingOutput) octets not read by the peer"
            )
            channel.close(promise: nil)
            promise?.fail(ChannelError.outputClosed)
            return
        }
        if let local = channel.localAddress, let remote = channel.remoteAddress {
            // TLS is traced as its decrypted SIP on a TCP stream (the framer treats both alike).
            self.trace(.sent, buffer, transport: .tcp, source: local, destination: remote, connection: id)
        }
        if flush {
            channel.writeAndFlush(buffer, promise: promise)
        } else {
            channel.write(buffer, promise: promise)
        }
    }

    /// Messages that may wait for one outbound connection to open.
    static let maxQueuedBehindConnect = 64

    private func connect(
        to remote: SocketAddress,
        listener: SocketAddress,
        tls: Bool = false,
        sending buffer: ByteBuffer,
        onFailure: (@Sendable (TransportError) -> Void)?
    ) {
        if let waiting = self.pendingConnects[remote] {
            // Messages queue behind a connect in progress (at most 5 s); a target that takes them all without
            // ever connecting must not hold an unbounded queue.
            guard waiting.count < Self.maxQueuedBehindConnect else {
                self.logThrottled("connq:\(remote.hostPort)", .notice,
                                  "tcp connect to \(remote.hostPort) in progress: \(waiting.count) messages wait, refusing more")
                if let onFailure {
                    self.eventLoop.execute { onFailure(TransportError(.sendFailed, "tcp connect queue full")) }
                }
                return
            }
            self.pendingConnects[remote]!.append((buffer, onFailure))
            return
        }
        guard self.registry.openCount + self.pendingConnects.count < self.limits.maxConnections
        else {
            self.counters.refusedConnections += 1
            self.logThrottled("conn-out", .notice, "not opening a tcp connection to \(remote.hostPort): connection cap")
            if let onFailure {
                self.eventLoop.execute { onFailure(TransportError(.sendFailed, "connection cap reached")) }
            }
            return
        }
        self.pendingConnects[remote] = [(buffer, onFailure)]
        @Sendable func bootstrap(fromListeningPort: Bool) -> ClientBootstrap {
            var b = ClientBootstrap(group: self.eventLoop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(5))
                .channelInitializer { [tlsClientContext = self.tlsClientContext] channel in
                    channel.eventLoop.makeCompletedFuture {
                        if tls, let tlsClientContext {
                            // RFC 3261 §26.2: TLS to the next hop; what it carries is SIP as on TCP. A certificate the
                            // trust store refuses fails the handshake, and the transaction with it (503 upstream).
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tlsClientContext, serverHostname: nil)
                            )
                        }
                        try self.addStreamHandlers(to: channel, listener: listener, transport: tls ? .tls : .tcp)
                    }
                }
            if fromListeningPort {
                // Connect from the listening address and port, so the phone (and the trace) sees the proxy at
                // the address it advertises in Via and Record-Route.
                b = b.channelOption(.socketOption(.so_reuseaddr), value: 1)
                    .channelOption(ChannelOptions.socketOption(TransportManager.reusePort), value: 1)
                    .bind(to: listener)
            }
            return b
        }
        // A TIME_WAIT on the same four-tuple refuses the bound connect: then use an ephemeral port.
        bootstrap(fromListeningPort: true).connect(to: remote).flatMapError { _ in
            bootstrap(fromListeningPort: false).connect(to: remote)
        }.whenComplete { result in
            let waiting = self.pendingConnects.removeValue(forKey: remote) ?? []
            switch result {
            case .success(let channel):
                // NIO completes the connect promise before it fires channelActive, where the connection gets
                // its id: write on the next tick, once it is registered.
                self.eventLoop.execute {
                    let id = channel.remoteAddress.flatMap { self.connectionByRemote[$0] }
                    for (buffer, onFailure) in waiting {
                        guard tls, let onFailure else {
                            self.write(buffer, on: channel, id: id, flush: false)
                            continue
                        }
                        // Over TLS the first writes wait for the handshake: one the server's certificate fails
                        // (or a closed connection) fails them, and the transaction hears it at once instead of
                        // at Timer B or F.
                        let promise = self.eventLoop.makePromise(of: Void.self)
                        promise.futureResult.whenFailure { error in
                            self.logThrottled("tls-out:\(remote.hostPort)", .notice,
                                              "tls to \(remote.hostPort) failed: \(error)")
                            onFailure(TransportError(.sendFailed, "tls to \(remote.hostPort) failed: \(error)"))
                        }
                        self.write(buffer, on: channel, id: id, flush: false, promise: promise)
                    }
                    channel.flush()
                }
            case .failure(let error):
                self.logger.info(
                    "tcp connect failed",
                    metadata: ["net.peer": "\(remote.hostPort)", "error": "\(error)"]
                )
                let failure = TransportError(.sendFailed, "tcp connect to \(remote.hostPort) failed: \(error)")
                for (_, onFailure) in waiting { onFailure?(failure) }
            }
        }
    }
}
