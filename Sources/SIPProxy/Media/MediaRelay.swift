// MediaRelay: RTP and RTCP through the proxy, on one shard's event loop (the shard that owns the call).
//
// The SIP core hands it every SDP body of a relayed call (`rewrite`); the relay keeps the call's MediaSession,
// opens and closes ports as the session says, and answers with the body the other phone must see. Packets are
// forwarded by a small channel handler per socket: a packet arriving on the port facing one side goes out of the
// same stream's port facing the other side, to where that side sends from (latched, RFC 7362) or, before it has
// sent anything, to the address its SDP named. Everything here is confined to `eventLoop`.

import Logging
import NIOCore
import NIOPosix

/// The relay of one shard.
final class MediaRelay: @unchecked Sendable {
    /// What `rewrite` gives back.
    enum Outcome: Equatable {
        /// Forward this body instead.
        case body([UInt8])
        /// Not SDP, or not a relayed call: forward the body as it is.
        case unchanged
        /// The port range is used up: the request gets 503 (a response is forwarded as it is).
        case exhausted
    }

    /// Why a session ended.
    enum Ending: String {
        case hungUp, failed, mediaTimeout, sessionExpired, shutdown
    }

    let eventLoop: EventLoop
    let settings: MediaSettings
    let pool: MediaPortPool
    /// The address written into SDP: `--advertise` when set, else the relay's own.
    let sdpAddress: String
    let recorder: TraceRecorder?
    var logger: Logger
    let now: @Sendable () -> NIODeadline
    /// Told when a session's media stopped or its session timer ran out (the SIP core closes the journal
    /// record), before its ports are closed.
    var onTimeout: ((String, Ending) -> Void)?

    private(set) var sessions: [String: MediaSession] = [:]
    private var endpoints: [Int: RelayEndpoint] = [:]
    private var sweep: RepeatedTask?

    init(
        eventLoop: EventLoop, settings: MediaSettings, pool: MediaPortPool, sdpAddress: String, recorder: TraceRecorder?,
        logger: Logger, now: @escaping @Sendable () -> NIODeadline = { .now() }
    ) {
        self.eventLoop = eventLoop
        self.settings = settings
        self.pool = pool
        self.sdpAddress = sdpAddress
        self.recorder = recorder
        self.logger = logger
        self.now = now
    }

    /// Whether a session exists for the call.
    func has(_ callID: String) -> Bool { self.sessions[callID] != nil }

    /// Starts relaying a call (its first INVITE, with or without an offer).
    func begin(callID: String, callerTag: String) {
        guard self.sessions[callID] == nil else { return }
        self.sessions[callID] = MediaSession(callID: callID, callerTag: callerTag)
        self.startSweep()
    }

    /// The side of the relayed call that sent a request with this From tag (nil: not relayed).
    func side(callID: String, requestFromTag tag: String?) -> MediaSide? {
        self.sessions[callID]?.side(ofRequestFromTag: tag)
    }

    /// A 2xx to the call's INVITE went through: silence from now on counts towards the media timeout.
    func answered(callID: String) {
        guard self.sessions[callID] != nil else { return }
        self.sessions[callID]?.answered = true
        if self.answeredAt[callID] == nil { self.answeredAt[callID] = self.now() }
    }

    /// An SDP body from `side` of a relayed call, as the other side must see it.
    func rewrite(_ body: [UInt8], callID: String, from side: MediaSide) -> Outcome {
        guard var session = self.sessions[callID], !body.isEmpty, let sdp = SDPDocument(body) else { return .unchanged }
        var opened: [Int] = []
        for action in session.receive(sdp, from: side) {
            switch action {
            case .open(let index):
                guard let ports = self.open(callID: callID, index: index) else {
                    // Undo what this body opened; the session stays as it was before it.
                    for index in opened { self.close(session.streams[index].ports) }
                    return .exhausted
                }
                session.opened(index: index, ports: ports)
                opened.append(index)
            case .close(_, let ports):
                self.close(ports)
            case .target(let index, let side, let target):
                self.retarget(session, index: index, side: side, target)
            }
        }
        // Targets of streams opened just now were set before their endpoints existed.
        for index in opened {
            for side in MediaSide.allCases {
                self.retarget(session, index: index, side: side, session.streams[index].targets[side])
            }
        }
        self.sessions[callID] = session
        return .body(session.relayed(sdp, from: side, address: self.sdpAddress).bytes)
    }

    /// Ends a call's relaying: its ports are closed and returned to the pool.
    func end(_ callID: String, _ why: Ending) {
        guard let session = self.sessions.removeValue(forKey: callID) else { return }
        self.answeredAt[callID] = nil
        self.refreshDeadline[callID] = nil
        for (_, ports) in session.allPorts { self.close(ports) }
        self.logger.debug("media relay ended (\(why.rawValue))", metadata: ["sip.call_id": "\(callID)"])
        if self.sessions.isEmpty {
            self.sweep?.cancel()
            self.sweep = nil
        }
    }

    /// Every session, for `sipctl media`.
    func list() -> [MediaSessionInfo] {
        self.sessions.keys.sorted().compactMap { self.list($0) }
    }

    /// One session, for `sipctl media` and the journal.
    func list(_ callID: String) -> MediaSessionInfo? {
        self.sessions[callID].map { session in
            MediaSessionInfo(
                callID: session.callID, answered: session.answered,
                streams: session.streams.map { stream in
                    let caller = stream.ports[.caller].flatMap { self.endpoints[$0] }
                    let callee = stream.ports[.callee].flatMap { self.endpoints[$0] }
                    return MediaSessionInfo.Stream(
                        index: stream.index, media: stream.media, codec: stream.codec,
                        callerPort: stream.ports[.caller], calleePort: stream.ports[.callee],
                        caller: caller?.destination?.hostPort, callee: callee?.destination?.hostPort,
                        callerLatched: caller?.latched != nil, calleeLatched: callee?.latched != nil,
                        fromCaller: caller?.stats.summary ?? RTPStreamSummary(),
                        fromCallee: callee?.stats.summary ?? RTPStreamSummary(),
                        callerDirection: stream.directions[.caller], calleeDirection: stream.directions[.callee]
                    )
                }
            )
        }
    }

    /// What went through the relay for a call, per stream, for the journal.
    func rtp(callID: String) -> [CallRTP]? {
        guard let info = self.list(callID) else { return nil }
        return info.streams.map {
            CallRTP(media: $0.media, codec: $0.codec, fromCaller: $0.fromCaller, fromCallee: $0.fromCallee)
        }
    }

    /// Closes everything (the proxy stops).
    func shutdown() {
        for callID in Array(self.sessions.keys) { self.end(callID, .shutdown) }
    }

    // MARK: Ports

    /// Opens a port pair facing each side of stream `index`; nil (nothing left open) when the range is used up.
    private func open(callID: String, index: Int) -> [MediaSide: Int]? {
        guard let callerPair = self.pool.allocate() else { return nil }
        guard let calleePair = self.pool.allocate() else {
            self.pool.release(callerPair.port)
            Self.closeDescriptors(callerPair)
            return nil
        }
        for (side, pair) in [(MediaSide.caller, callerPair), (MediaSide.callee, calleePair)] {
            for (port, fd, rtcp) in [(pair.port, pair.rtp, false), (pair.port + 1, pair.rtcp, true)] {
                let endpoint = RelayEndpoint(port: port, callID: callID, index: index, facing: side, isRTCP: rtcp)
                self.endpoints[port] = endpoint
                self.register(endpoint, socket: fd)
            }
        }
        return [.caller: callerPair.port, .callee: calleePair.port]
    }

    private static func closeDescriptors(_ pair: MediaPortPool.Pair) {
        MediaPortPool.closeSocket(pair.rtp)
        MediaPortPool.closeSocket(pair.rtcp)
    }

    /// Hands a bound socket to the event loop; packets wait in the kernel until the channel is up.
    private func register(_ endpoint: RelayEndpoint, socket: NIOBSDSocket.Handle) {
        let port = endpoint.port
        let expected = NIOLoopBound(endpoint, eventLoop: self.eventLoop)
        DatagramBootstrap(group: self.eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(MediaChannelHandler(relay: self, port: port))
                }
            }
            .withBoundSocket(socket)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    // The stream may have been closed meanwhile (a CANCEL right after the INVITE).
                    if self.endpoints[port] === expected.value, expected.value.channel == nil {
                        expected.value.channel = channel
                    } else {
                        channel.close(promise: nil)
                    }
                case .failure(let error):
                    self.logger.warning("media port \(port) could not be used: \(error)")
                }
            }
    }

    private func close(_ ports: [MediaSide: Int]) {
        for port in ports.values {
            for p in [port, port + 1] {
                if let endpoint = self.endpoints.removeValue(forKey: p) { endpoint.channel?.close(promise: nil) }
            }
            self.pool.release(port)
        }
    }

    private func retarget(_ session: MediaSession, index: Int, side: MediaSide, _ target: MediaTarget?) {
        guard index < session.streams.count, let port = session.streams[index].ports[side] else { return }
        let rtp = self.endpoints[port]
        let rtcp = self.endpoints[port + 1]
        rtp?.target = target.flatMap { try? SocketAddress(ipAddress: $0.address, port: $0.rtpPort) }
        rtcp?.target = target.flatMap { try? SocketAddress(ipAddress: $0.address, port: $0.rtcpPort) }
        // A new SDP from the side may move its media (a re-INVITE from another network): latch again.
        rtp?.latched = nil
        rtcp?.latched = nil
    }

    // MARK: Packets

    /// A datagram arrived on `port` from a phone: latch its source, count it, forward it out of the other side.
    func packet(_ envelope: AddressedEnvelope<ByteBuffer>, on port: Int) {
        guard let endpoint = self.endpoints[port], let session = self.sessions[endpoint.callID],
            endpoint.index < session.streams.count,
            let peerPort = session.streams[endpoint.index].ports[endpoint.facing.other]
        else { return }
        let arrival = self.now()
        let source = envelope.remoteAddress
        if endpoint.latched != source {
            // Latch the first packet's source; move the latch only when the latched source has gone quiet for a
            // while (a phone that changed network), so one stray packet cannot steal a running stream.
            let quiet = endpoint.lastPacket.map { arrival - $0 > .seconds(2) } ?? true
            if endpoint.latched == nil || quiet {
                endpoint.latched = source
            } else {
                return
            }
        }
        endpoint.lastPacket = arrival
        let clockRates = session.streams[endpoint.index].clockRates
        envelope.data.withUnsafeReadableBytes { bytes in
            endpoint.stats.record(
                endpoint.isRTCP ? nil : RTPHeader(bytes), octets: bytes.count,
                arrivalNanos: Int64(arrival.uptimeNanoseconds), clockRates: clockRates
            )
        }
        guard let out = self.endpoints[endpoint.isRTCP ? peerPort + 1 : peerPort], let channel = out.channel,
            let destination = out.destination
        else { return }
        let mode = self.settings.traceRTP
        self.recorder?.recordMedia(envelope.data, .received, from: source, to: endpoint.channel?.localAddress, mode: mode,
                                   rtp: !endpoint.isRTCP, callID: endpoint.callID)
        self.recorder?.recordMedia(envelope.data, .sent, from: channel.localAddress, to: destination, mode: mode,
                                   rtp: !endpoint.isRTCP)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: destination, data: envelope.data), promise: nil)
    }

    // MARK: Media timeout

    private func startSweep() {
        guard self.sweep == nil else { return }
        let interval = TimeAmount.milliseconds(max(200, min(1000, self.settings.timeout.nanoseconds / 1_000_000 / 4)))
        self.sweep = self.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
            self?.expire()
        }
    }

    /// Ends answered sessions none of whose sockets got a packet for `settings.timeout` (counted from the answer
    /// when nothing came at all).
    func expire() {
        let now = self.now()
        var ended: [(String, Ending)] = []
        for (callID, session) in self.sessions where session.answered {
            if let deadline = self.refreshDeadline[callID], now >= deadline {
                // RFC 4028 §10: no refresh within the session interval: the session is over.
                self.logger.info("session timer expired without a refresh, media ports freed",
                                 metadata: ["sip.call_id": "\(callID)"])
                ended.append((callID, .sessionExpired))
                continue
            }
            let last = session.allPorts.flatMap { _, ports in ports.values.flatMap { [$0, $0 + 1] } }
                .compactMap { self.endpoints[$0]?.lastPacket }.max()
            // Silence counts from the last packet, or from the answer when nothing came since.
            let since = [last, self.answeredAt[callID]].compactMap { $0 }.max() ?? now
            guard now - since >= self.settings.timeout else { continue }
            self.logger.info("media timeout: no RTP for \(self.settings.timeout.nanoseconds / 1_000_000_000) s, ports freed",
                             metadata: ["sip.call_id": "\(callID)"])
            ended.append((callID, .mediaTimeout))
        }
        for (callID, why) in ended {
            // The SIP core reads the session's counts for the journal before its ports go.
            self.onTimeout?(callID, why)
            self.end(callID, why)
        }
    }

    /// A session timer (RFC 4028) was negotiated or refreshed: the session ends unless refreshed again within
    /// `seconds` (§10: the refresher refreshes by half the interval; the other side waits the whole of it).
    func refreshed(callID: String, sessionExpires seconds: Int) {
        guard self.sessions[callID] != nil, seconds > 0 else { return }
        self.refreshDeadline[callID] = self.now() + .seconds(Int64(min(seconds, 86_400)))
    }

    /// Session timers in force: the latest moment of the next refresh.
    private var refreshDeadline: [String: NIODeadline] = [:]

    /// When each answered session was first seen answered by the sweep (silence is counted from there).
    private var answeredAt: [String: NIODeadline] = [:]
}
