// ProxyCore: the stateful proxy and registrar (RFC 3261 §16, §10) on one event loop.
//
//     TransportManager --bytes--> ProxyCore.receive --> parse --> request path (ProxyCore+Requests)
//                                                              \-> response path (ProxyCore+Responses)
//     ProxyCore --> TransactionLayer (machines + timers) --> TransportManager
//
// The core holds no global state: everything lives in this object, confined to `eventLoop`. Time for the
// registrar comes from the injected `now` closure.

import Logging
import NIOCore

/// The SIP core.
///
/// `@unchecked Sendable`: every mutable property is only touched on `eventLoop` (messages, timers and control
/// requests are all delivered there). Debug builds check it where the core is entered: `receive` (also for a
/// message handed over by another shard), `run` (every response-context event), the timer and DNS callbacks, and
/// the media and conference callbacks (`assertInEventLoop`, free in release builds).
public final class ProxyCore: @unchecked Sendable {
    public let eventLoop: EventLoop
    let transport: any SIPTransport
    let configuration: ProxyConfiguration
    let parser: SIPParser
    /// From and To values of this shard's recent messages, parsed once (`NameAddressMemo`).
    var addressMemo = NameAddressMemo()
    let transactions: TransactionLayer
    /// The loop's timer wheel: transaction timers, Timer C and no-answer forwarding (one NIO task drives them all).
    let timers: LoopTimers
    var logger: Logger
    let now: @Sendable () -> NIODeadline
    /// The registrar, shared by every shard.
    let registrar: LocationService
    /// Call tracking for the journal: fed every message in and out, so it sees what phones see.
    var tracker: CallTracker
    let journal: CallJournal?
    /// Reason phrases for generated and relayed responses; replaced whole on reload.
    public internal(set) var phrases: PhraseBook
    /// The periodic sweep of expired bindings and stale calls, a timer in the wheel like every other.
    private var sweepTimer: TimerID?
    /// The listeners' addresses as text, computed once: formatting a socket address is not free and this is
    /// asked several times per message.
    struct Identity {
        var portsByIP: [String: Set<Int>] = [:]
        var allPorts: Set<Int> = []
    }
    var identity = Identity()
    /// Monotonic counter making every branch the proxy creates unique (§8.1.1.7, §16.6 step 8).
    var branchCounter: UInt64 = 0
    /// The Date header of the registrar's 200s, formatted once a second.
    var dateCache = HTTPDate.Cache()
    /// A per-process random prefix so branches do not repeat across restarts.
    let instanceTag: String
    /// Call forwarding rules in force and their state file (ProxyCore+Forwarding).
    let forwarding: ForwardingService
    /// What this shard has done, for `sipctl status` (confined to the loop like everything else).
    struct Load {
        /// Messages processed here.
        var messages: UInt64 = 0
        /// Messages this shard's sockets read and passed to the shard owning their call.
        var handedOver: UInt64 = 0
    }
    var load = Load()
    /// SIP traffic and call outcomes counted for `/metrics` (summed over the shards at scrape time).
    var metrics = ShardMetrics()
    /// The response context of every proxied request in progress, by its server transaction (§16.7).
    var contexts: [TransactionKey: ProxyContext] = [:]
    /// What the shards of one proxy share: registrar, forwarding rules, authenticator, Record-Route key, journal.
    let shared: SharedServices
    /// This core's position among the shards (0 for a proxy with one worker).
    let shardIndex: Int
    /// Overload control (ProxyCore+Overload): the controller and its sampler; nil sampler when shedding is off.
    var overload: OverloadControl
    var overloadSampling: OverloadSampling?
    /// RTP through the proxy (`--media relay|nat`); nil when media goes phone to phone.
    let media: MediaRelay?
    /// A room's 2xx answers waiting for their ACK, by Call-ID and CSeq: retransmitted until it comes (RFC 3261
    /// §13.3.1.4).
    var roomAnswers: [String: TimerID] = [:]
    /// The dialogs of the room legs this shard answered, by Call-ID: a room ends one with a BYE.
    var roomLegs: [String: RoomLeg] = [:]
    /// The INVITEs rooms of this shard sent for a REFER (RFC 4579 §5.5), by their Call-ID.
    var referrals: [String: ReferralLeg] = [:]
    /// The loop thread's CPU time (the overload control's service time); tests give a made-up one.
    var threadCPUTime: () -> TimeAmount = ProxyCore.currentThreadCPUTime
    /// This shard's DNS resolver and cache, for requests to other domains (RFC 3263, ProxyCore+DNS).
    let resolver: DNSResolver

    public convenience init(
        eventLoop: EventLoop,
        transport: TransportManager,
        configuration: ProxyConfiguration,
        logger: Logger,
        shared: SharedServices? = nil,
        shardIndex: Int = 0,
        now: @escaping @Sendable () -> NIODeadline = { .now() }
    ) {
        self.init(
            eventLoop: eventLoop,
            anyTransport: transport,
            configuration: configuration,
            logger: logger,
            shared: shared ?? SharedServices(configuration: configuration, logger: logger, journal: nil),
            shardIndex: shardIndex,
            timers: LoopTimers(eventLoop: eventLoop, clock: now),
            now: now
        )
    }

    /// The core over any transport, with its timer wheel given: tests pass a fake transport and a wheel on a manual
    /// clock that they advance by hand.
    init(
        eventLoop: EventLoop,
        anyTransport transport: any SIPTransport,
        configuration: ProxyConfiguration,
        logger: Logger,
        shared: SharedServices,
        shardIndex: Int,
        timers: LoopTimers,
        dnsExchange: any DNSExchange = DNSSocketExchange(),
        now: @escaping @Sendable () -> NIODeadline
    ) {
        self.resolver = DNSResolver(
            eventLoop: eventLoop, servers: shared.dnsServers, settings: configuration.dns, exchange: dnsExchange,
            logger: logger, now: now
        )
        self.shared = shared
        self.shardIndex = shardIndex
        self.overload = OverloadControl(policy: configuration.overload)
        self.tracker = CallTracker(transfers: shared.transfers)
        self.journal = shared.journal
        self.eventLoop = eventLoop
        self.transport = transport
        self.configuration = configuration
        // Datagrams are read whole up to the IP limit; streams are framed up to `limits.maxMessageSize`.
        self.parser = SIPParser(maxMessageSize: max(65_535, configuration.limits.maxMessageSize))
        self.logger = logger
        self.now = now
        self.registrar = shared.registrar
        self.forwarding = shared.forwarding
        self.phrases = configuration.phrases
        self.timers = timers
        self.transactions = TransactionLayer(
            eventLoop: eventLoop,
            transport: transport,
            timers: configuration.timers,
            clock: self.timers,
            logger: logger
        )
        self.instanceTag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        self.media = shared.media.map { resources in
            MediaRelay(
                eventLoop: eventLoop, settings: configuration.media, pool: resources.pool,
                sdpAddress: resources.sdpAddress, recorder: resources.recorder, logger: logger, now: now
            )
        }
        self.transactions.user = self
        // Answered transactions linger compactly to absorb retransmissions (32 s on UDP); bounded apart from the
        // in-progress cap, at four times this shard's share of it.
        let cap = (configuration.maxTransactions + configuration.workers - 1) / max(1, configuration.workers)
        self.transactions.lingeringLimit = Saturating.multiply(cap, 4)
        self.transactions.onSend = { [weak self] message, peer in self?.logSent(message, to: peer) }
    }

    /// Connects to the transport and starts the binding sweep. Call on any thread. With several shards, `router`
    /// gives each message read here to the shard that owns its call.
    func start(router: ShardRouter? = nil) {
        self.eventLoop.execute {
            for listener in self.transport.listenAddresses {
                guard let ip = listener.address.ipAddress?.lowercased(), let port = listener.address.port else { continue }
                self.identity.portsByIP[ip, default: []].insert(port)
                self.identity.allPorts.insert(port)
            }
            if let router, router.cores.count > 1 {
                let index = self.shardIndex
                self.transport.onReceive = { bytes, peer in router.deliver(bytes, from: peer, arrivedOn: index) }
            } else {
                self.transport.onReceive = { [weak self] bytes, peer in self?.receive(bytes, from: peer) }
            }
            self.transport.onOversized = { [weak self] bytes, peer in self?.handleOversized(bytes, from: peer) }
            self.media?.onTimeout = { [weak self] callID, why in self?.mediaTimedOut(callID, why) }
            self.scheduleSweep()
            self.startOverloadSampling()
        }
    }

    /// Stops taking messages; calls still in progress are journaled as `interrupted` now, since a clean
    /// shutdown ends them (a killed proxy leaves them to the next start's recovery instead).
    public func stop() async {
        try? await self.eventLoop.submit {
            self.timers.cancel(self.sweepTimer)
            self.sweepTimer = nil
            self.stopOverloadSampling()
            self.timers.stop()
            self.transport.onReceive = nil
            self.transport.onOversized = nil
            self.media?.shutdown()
            guard let journal = self.journal else { return }
            let now = WallClock.now()
            for var record in self.tracker.inProgress {
                record.close(.interrupted, at: now)
                journal.append(record)
            }
            self.tracker = CallTracker(transfers: self.shared.transfers)
        }.get()
    }

    // MARK: Receiving

    /// Entry point for every message read from a socket (on this shard, or handed over by another).
    func receive(_ bytes: ByteBuffer, from peer: Peer) {
        // Everything below is confined to this shard's loop (debug builds check it; see ShardRouter).
        self.eventLoop.assertInEventLoop()
        self.load.messages &+= 1
        // UDP keep-alives: CRLF datagrams (RFC 5626 §3.5.1 uses STUN on UDP; many phones send CRLFs) and STUN
        // binding requests (first octet 0 or 1) carry no SIP and get no answer.
        if peer.transport == .udp, let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self),
            first == 13 || first == 10 || first == 0 || first == 1 || first == 32
        {
            if bytes.readableBytesView.allSatisfy({ $0 == 13 || $0 == 10 || $0 == 32 || $0 == 9 }) || first <= 1 {
                return
            }
        }
        let framing: SIPParser.Framing = peer.transport == .udp ? .datagram : .stream
        let result: Result<SIPMessage, SIPParseError> = bytes.withUnsafeReadableBytes { raw in
            do throws(SIPParseError) {
                return .success(try self.parser.parse(raw, framing: framing, memo: &self.addressMemo))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(.request(let request)):
            self.handleRequest(request, from: peer)
        case .success(.response(let response)):
            self.handleResponse(response, from: peer)
        case .failure(let error):
            self.handleMalformed(bytes, error: error, from: peer)
        }
    }

    /// A stream message over the size limit: 513 Message Too Large (RFC 3261 §21.5.11) from its header lines when
    /// they can be read; the transport closes the connection after it.
    private func handleOversized(_ bytes: ByteBuffer, from peer: Peer) {
        let head = bytes.getString(at: bytes.readerIndex, length: min(bytes.readableBytes, 32)) ?? ""
        let isRequest = !head.hasPrefix("SIP/")
        let method = head.split(separator: " ", maxSplits: 1).first.map { SIPMethod(String($0)) }
        let error = SIPParseError(
            .messageTooLarge,
            "over \(self.configuration.limits.maxMessageSize) octets",
            isRequest: isRequest,
            method: isRequest ? method : nil
        )
        self.handleMalformed(bytes, error: error, from: peer)
    }

    private func handleMalformed(_ bytes: ByteBuffer, error: SIPParseError, from peer: Peer) {
        if let reply = MalformedRequestReply.build(bytes, error: error, phrases: self.phrases) {
            self.logger.info(
                "malformed request from \(peer): \(error) -> \(error.status)",
                metadata: ["net.peer": "\(peer)"]
            )
            self.transport.send(reply, to: peer)
        } else {
            // RFC 3261 §16.3 / RFC 4475 §3.1.2.19: what cannot be answered is dropped, with a log line.
            self.logger.info("dropped malformed message from \(peer): \(error)", metadata: ["net.peer": "\(peer)"])
        }
    }

    private func scheduleSweep() {
        self.sweepTimer = self.timers.schedule(in: self.configuration.sweepInterval) { [weak self] in
            guard let self, self.sweepTimer != nil else { return }
            self.eventLoop.assertInEventLoop()
            self.sweepBindings()
            self.scheduleSweep()
            self.startOverloadSampling()
        }
    }

    private func sweepBindings() {
        if let journal = self.journal {
            // Calls that never ended cleanly (a lost BYE) are closed by the tracker's idle limits.
            let events = self.tracker.expire(now: .now())
            self.metrics.count(events)
            journal.record(events)
        }
        let removed = self.registrar.sweep(now: self.now())
        for binding in removed {
            self.logger.info("registration expired: \(binding.aor) at \(binding.contact.uri)")
        }
    }

    // MARK: Identity

    /// Whether a host/port names this proxy: one of its listener addresses (a missing port means 5060, or any
    /// port when the phone wrote the bare address of a proxy listening elsewhere), the advertised host, or a
    /// configured domain (any port).
    func isLocal(host: String, port: Int?) -> Bool {
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()).lowercased() : host.lowercased()
        if self.configuration.domains.contains(where: { $0.caseInsensitiveEquals(bare) }) { return true }
        let isAdvertised = self.configuration.advertise?.caseInsensitiveEquals(bare) == true
        guard let ports = isAdvertised ? self.identity.allPorts : self.identity.portsByIP[bare] else { return false }
        guard let port else { return true }
        return ports.contains(port)
    }

    func isLocal(_ uri: SIPURI) -> Bool {
        uri.isSIP && self.isLocal(host: uri.maddr ?? uri.host, port: uri.port)
    }

    /// The Via sent-by hosts/ports of this proxy, to recognise its own Via in responses.
    func isLocal(_ via: Via) -> Bool {
        self.isLocal(host: via.host, port: via.port ?? 5060)
    }

    /// Host written in Via and Record-Route for a listener.
    func advertisedHost(_ listener: SocketAddress) -> String {
        self.configuration.advertise ?? listener.sipHost
    }

    func nextBranch(loopHash: UInt64) -> String {
        self.branchCounter &+= 1
        return "\(Via.magicCookie)-sp\(String(loopHash, radix: 36))-\(self.instanceTag)\(String(self.branchCounter, radix: 36))"
    }

    // MARK: Logging

    /// Feeds the call tracker: every message the proxy reads or writes, with the phrase actually on the wire.
    func observe(_ message: SIPMessage, _ direction: CallObservation.Direction, _ peer: Peer) {
        self.metrics.count(message, direction == .received ? .received : .sent)
        guard let journal = self.journal else { return }
        if let media = self.media, case .request(let request) = message, request.method == .bye,
            let rtp = media.rtp(callID: request.callID)
        {
            // The BYE ends the record: the relay's counts go in first.
            self.tracker.attachRTP(callID: request.callID, rtp)
        }
        let events = self.tracker.observe(message, direction: direction, peer: peer, at: .now())
        if !events.isEmpty {
            self.metrics.count(events)
            journal.record(events)
        }
    }

    func logReceived(_ message: SIPMessage, from peer: Peer) {
        self.observe(message, .received, peer)
        self.logger.info(
            "in  \(message.summary) from \(peer)",
            metadata: ["sip.call_id": "\(message.callID)"]
        )
    }

    func logSent(_ message: SIPMessage, to peer: Peer) {
        self.observe(message, .sent, peer)
        self.logger.info(
            "out \(message.summary) to \(peer)",
            metadata: ["sip.call_id": "\(message.callID)"]
        )
    }

    /// Installs a new phrase book (reload); takes effect for the next response.
    public func setPhrases(_ book: PhraseBook) {
        self.eventLoop.execute { self.phrases = book }
    }

    /// Current bindings, for the control socket and tests.
    public func registrations() -> EventLoopFuture<[(user: String, binding: Binding)]> {
        self.eventLoop.submit { self.registrar.all(now: self.now()) }
    }
}

extension SIPURI {
    /// The `maddr` URI parameter (RFC 3261 §19.1.1), which overrides the host as the destination.
    var maddr: String? { self.parameters["maddr"] }
}

/// FNV-1a, a stable hash for branch loop detection (the std hasher is seeded per process).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func combine(_ s: String) {
        for b in s.utf8 {
            self.value ^= UInt64(b)
            self.value = self.value &* 0x100_0000_01b3
        }
        self.value ^= 0xff
        self.value = self.value &* 0x100_0000_01b3
    }
}
