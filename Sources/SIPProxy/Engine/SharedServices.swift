// SharedServices: what the shards of one proxy have in common. Everything here is safe to use from any loop:
// the registrar, forwarding rules and authenticator behind their own mutexes, the journal behind its writer thread,
// the Record-Route key immutable. Per-call state (transactions, response contexts, timers, the call tracker) stays
// in each shard, which the Call-ID routing (`ShardRouter`) makes sufficient.

import Logging
import NIOCore

public struct SharedServices: Sendable {
    let registrar: LocationService
    let forwarding: ForwardingService
    let authenticator: AuthService?
    let routeSigner: RouteSigner
    let journal: CallJournal?
    /// REFERs waiting for the transferee's new call, which another shard may see (the call trackers share it).
    let transfers = TransferLedger()
    /// Every shard's overload shed share (OverloadControl), so a full socket on one shard sheds on all.
    let overload: OverloadBoard
    /// The media relay's ports and the address its SDP names; nil with `--media direct`.
    let media: MediaResources?
    /// The conference rooms; nil when the proxy hosts none.
    let conferences: ConferenceService?
    /// The DNS servers every shard's resolver asks (`--dns`, else /etc/resolv.conf read once at start).
    let dnsServers: [SocketAddress]

    /// What every shard's media relay shares.
    public struct MediaResources: Sendable {
        public let pool: MediaPortPool
        /// The address written into relayed SDP (`--advertise`, else the address the ports are bound to).
        public let sdpAddress: String
        public let recorder: TraceRecorder?

        public init(pool: MediaPortPool, sdpAddress: String, recorder: TraceRecorder?) {
            self.pool = pool
            self.sdpAddress = sdpAddress
            self.recorder = recorder
        }
    }

    /// `loops`: the shards' event loops, on which rooms run (chosen by room name).
    public init(
        configuration: ProxyConfiguration, logger: Logger, journal: CallJournal?, media: MediaResources? = nil,
        loops: [EventLoop] = []
    ) {
        self.registrar = LocationService(policy: configuration.registrar)
        self.forwarding = ForwardingService(configuration: configuration, logger: logger)
        self.authenticator = configuration.auth.map { directory in
            AuthService(DigestAuthenticator(directory: directory, realm: configuration.realm))
        }
        self.routeSigner = RouteSigner()
        self.dnsServers = configuration.dns.effectiveServers
        self.journal = journal
        self.overload = OverloadBoard(shards: configuration.workers)
        // Direct mode still relays the users the config names.
        let settings = configuration.media
        self.media = settings.mode == .direct && settings.alwaysRelay.isEmpty ? nil : media
        if let media, configuration.conference.hostsRooms, !loops.isEmpty {
            var rooms = configuration.conference
            rooms.mediaTimeout = settings.timeout
            self.conferences = ConferenceService(
                settings: rooms, loops: loops, pool: media.pool, sdpAddress: media.sdpAddress,
                recorder: media.recorder, traceRTP: settings.traceRTP, logger: logger
            )
        } else {
            self.conferences = nil
        }
    }
}
