// ProxyControl: answers control requests from the proxy's state.

import Dispatch
import NIOCore

/// The dispatcher of a running proxy.
struct ProxyControl: ControlDispatcher {
    /// The first shard: registrar, forwarding and phrases are shared, so any shard answers for them.
    let core: ProxyCore
    let cores: [ProxyCore]
    /// The shards' sockets, for their counters and caps in `status`.
    let transports: [TransportManager]
    let startedAt: NIODeadline
    let phraseReloader: PhraseReloader
    let recorder: TraceRecorder
    /// Settings `sipctl trace start` starts from (the start-up ones); the request overrides what it names.
    let traceDefaults: TraceSettings
    /// The call journal's database copy, for `status` (nil without `--journal-db`).
    let journalDatabase: JournalDatabaseWriter?
    /// Starting and stopping block until files are open or flushed: never on the event loop.
    private let traceQueue = DispatchQueue(label: "sipproxy.trace-control")

    init(
        cores: [ProxyCore],
        transports: [TransportManager],
        startedAt: NIODeadline,
        phraseReloader: PhraseReloader,
        recorder: TraceRecorder,
        traceDefaults: TraceSettings,
        journalDatabase: JournalDatabaseWriter? = nil
    ) {
        self.core = cores[0]
        self.cores = cores
        self.transports = transports
        self.startedAt = startedAt
        self.phraseReloader = phraseReloader
        self.recorder = recorder
        self.traceDefaults = traceDefaults
        self.journalDatabase = journalDatabase
    }

    func handle(_ request: ControlRequest) -> EventLoopFuture<ControlResponse> {
        let core = self.core
        if request.command == "media.list" {
            return self.mediaList()
        }
        if request.command.hasPrefix("conference.") {
            return self.conference(request)
        }
        if request.command == "trace.follow" {
            // A poll a few times a second: answered from the follow ring, no trace queue hop.
            let follow = self.recorder.follow
            let transport = self.transports[0]
            return core.eventLoop.submit {
                var response = ControlResponse()
                response.follow = follow.poll(
                    after: request.after, now: DispatchTime.now().uptimeNanoseconds,
                    proxyAddresses: transport.listeners.map(\.address.hostPort)
                )
                return response
            }
        }
        if request.command.hasPrefix("trace.") {
            return self.handleTrace(request)
        }
        if request.command.hasPrefix(ForwardingControl.prefix) {
            return self.handleForwarding(request)
        }
        if request.command == "phrases.reload" {
            let promise = core.eventLoop.makePromise(of: ControlResponse.self)
            self.phraseReloader.reload { result in
                switch result {
                case .success(let book):
                    var response = ControlResponse()
                    response.phrases = PhrasesInfo(book: book, language: nil)
                    promise.succeed(response)
                case .failure(let error):
                    promise.succeed(.failure("reload failed, the current phrases stay: \(error)"))
                }
            }
            return promise.futureResult
        }
        if request.command == "status" {
            return self.status()
        }
        if request.command == CallsControl.liveCommand {
            return self.liveCalls()
        }
        return core.eventLoop.submit {
            let now = core.now()
            switch request.command {
            case "registrations":
                var response = ControlResponse()
                response.registrations = core.registrar.all(now: now).map { entry in
                    RegistrationInfo(
                        aor: entry.binding.aor,
                        user: entry.user,
                        contact: entry.binding.contact.serialized,
                        transport: entry.binding.source.transport.rawValue,
                        source: entry.binding.source.remote.hostPort,
                        expiresIn: entry.binding.remaining(at: now)
                    )
                }
                response.registrationStore = core.registrar.persistence?.status
                return response
            case "phrases.show":
                var response = ControlResponse()
                response.phrases = PhrasesInfo(book: core.phrases, language: request.language)
                return response
            default:
                return .failure("unknown command '\(request.command)'")
            }
        }
    }

    /// `conference.list`, `conference.mute` (room, participant, on), `conference.kick` (room, participant),
    /// `conference.lock` (room, on).
    private func conference(_ request: ControlRequest) -> EventLoopFuture<ControlResponse> {
        let loop = self.core.eventLoop
        guard let conferences = self.core.shared.conferences else {
            return loop.makeSucceededFuture(.failure("the proxy hosts no conference rooms (sipctl serve --conference 800)"))
        }
        switch request.command {
        case "conference.list":
            return conferences.list(on: loop).map { rooms in
                var response = ControlResponse()
                response.conferences = rooms.filter { request.room == nil || $0.room == request.room }
                return response
            }
        case "conference.mute":
            guard let room = request.room, let participant = request.participant else {
                return loop.makeSucceededFuture(.failure("conference.mute needs a room and a participant"))
            }
            return conferences.mute(room: room, participant: participant, request.on, on: loop).map { muted in
                guard let muted else { return .failure("no participant '\(participant)' in room \(room)") }
                var response = ControlResponse()
                response.muted = muted
                return response
            }
        case "conference.kick":
            guard let room = request.room, let participant = request.participant else {
                return loop.makeSucceededFuture(.failure("conference.kick needs a room and a participant"))
            }
            return conferences.kick(room: room, participant: participant, on: loop).map { kicked in
                kicked ? ControlResponse() : .failure("no participant '\(participant)' in room \(room)")
            }
        case "conference.lock":
            guard let room = request.room, conferences.isRoom(room) else {
                return loop.makeSucceededFuture(.failure("no conference room '\(request.room ?? "")'"))
            }
            conferences.lock(room: room, request.on ?? true)
            return loop.makeSucceededFuture(ControlResponse())
        default:
            return loop.makeSucceededFuture(.failure("unknown command '\(request.command)'"))
        }
    }

    /// `media.list`: every shard's relayed sessions, each read on its own loop.
    private func mediaList() -> EventLoopFuture<ControlResponse> {
        let core = self.core
        let settings = core.configuration.media
        let perShard = self.cores.map { shard in shard.eventLoop.submit { shard.media?.list() ?? [] } }
        return EventLoopFuture.whenAllSucceed(perShard, on: core.eventLoop).map { lists in
            let pool = core.media?.pool
            var response = ControlResponse()
            response.media = MediaStatus(
                mode: settings.mode.rawValue,
                ports: "\(pool?.range.lowerBound ?? settings.ports.lowerBound)-\(pool?.range.upperBound ?? settings.ports.upperBound)",
                pairsInUse: pool?.inUse ?? 0, pairsCapacity: pool?.capacity ?? 0,
                sessions: lists.flatMap { $0 }.sorted { $0.callID < $1.callID }
            )
            return response
        }
    }

    /// Status from every shard, each read on its own loop.
    private func status() -> EventLoopFuture<ControlResponse> {
        let core = self.core
        let startedAt = self.startedAt
        let perShard = zip(self.cores, self.transports).map { core, transport in
            core.eventLoop.submit {
                let counts = core.transactions.count
                let shard = ShardStatus(
                    shard: core.shardIndex,
                    messages: core.load.messages,
                    handedOver: core.load.handedOver,
                    serverTransactions: counts.server,
                    clientTransactions: counts.client,
                    timers: core.timers.count,
                    connections: transport.connectionCount,
                    shedPermille: core.overload.shedPermille,
                    queueDelayMs: Int(core.overload.queueDelay.milliseconds),
                    loopLagMs: Int(core.overload.loopLag.milliseconds),
                    shedRequests: core.overload.shedCount
                )
                return (shard, transport.counters, transport.bannedSources)
            }
        }
        let transports = self.transports
        let journalDatabase = self.journalDatabase
        return EventLoopFuture.whenAllSucceed(perShard, on: core.eventLoop).flatMap { shards in
            core.eventLoop.submit {
                let now = core.now()
                let all = core.registrar.all(now: now)
                var response = ControlResponse()
                response.status = ProxyStatus(
                    listeners: transports[0].listeners.map(\.description),
                    users: Set(all.map(\.user)).count,
                    bindings: all.count,
                    serverTransactions: shards.reduce(0) { $0 + $1.0.serverTransactions },
                    clientTransactions: shards.reduce(0) { $0 + $1.0.clientTransactions },
                    uptimeSeconds: Int((now - startedAt).nanoseconds / 1_000_000_000),
                    limits: Self.limits(core, shards.map { ($0.0.connections, $0.1, $0.2) }),
                    shards: shards.map(\.0),
                    media: core.media.map { relay in
                        "\(core.configuration.media.mode.rawValue), ports \(relay.pool.range.lowerBound)-"
                            + "\(relay.pool.range.upperBound), \(relay.pool.inUse) of \(relay.pool.capacity) pairs in use"
                    } ?? MediaSettings.Mode.direct.rawValue,
                    registrationStore: core.registrar.persistence?.status
                )
                response.status?.journalDatabase = journalDatabase?.status
                return response
            }
        }
    }

    /// Calls in progress on every shard.
    private func liveCalls() -> EventLoopFuture<ControlResponse> {
        let perShard = self.cores.map { core in core.eventLoop.submit { core.tracker.inProgress } }
        return EventLoopFuture.whenAllSucceed(perShard, on: self.core.eventLoop).map { lists in
            var response = ControlResponse()
            response.liveCalls = lists.flatMap { $0 }.sorted { ($0.inviteAt, $0.key) < ($1.inviteAt, $1.key) }
            response.serverTime = .now()
            return response
        }
    }

    /// The caps in force and the counters of what they refused, summed over the shards' transports.
    private static func limits(
        _ core: ProxyCore,
        _ shards: [(connections: Int, counters: TransportManager.Counters, banned: [String])]
    ) -> LimitsStatus {
        let c = core.configuration
        var total = TransportManager.Counters()
        for shard in shards {
            total.rateLimited += shard.counters.rateLimited
            total.refusedConnections += shard.counters.refusedConnections
            total.refusedDestinations += shard.counters.refusedDestinations
            total.sendErrors += shard.counters.sendErrors
            total.oversizedMessages += shard.counters.oversizedMessages
            total.listenerRestarts += shard.counters.listenerRestarts
            total.acceptPauses += shard.counters.acceptPauses
            total.stalledConnections += shard.counters.stalledConnections
        }
        let rate = c.limits.rateLimit
        return LimitsStatus(
            relay: c.relay.rawValue,
            connections: shards.reduce(0) { $0 + $1.connections },
            maxConnections: c.limits.maxConnections,
            maxConnectionsPerSource: c.limits.maxConnectionsPerSource,
            maxTransactions: c.maxTransactions,
            maxBindings: c.registrar.maxBindings,
            maxContactsPerUser: c.registrar.maxContacts,
            maxMessageSize: c.limits.maxMessageSize,
            idleTimeoutSeconds: Int(c.limits.idleTimeout.wholeSeconds),
            rateLimit: rate.isEnabled
                ? "\(rate.limit) requests / \(rate.window.wholeSeconds) s, ban \(rate.banTime.wholeSeconds) s" : "off",
            bannedSources: Array(Set(shards.flatMap(\.banned))).sorted(),
            rateLimitedRequests: total.rateLimited,
            refusedConnections: total.refusedConnections,
            refusedDestinations: total.refusedDestinations,
            sendErrors: total.sendErrors,
            oversizedMessages: total.oversizedMessages,
            listenerRestarts: total.listenerRestarts,
            acceptPauses: total.acceptPauses,
            stalledConnections: total.stalledConnections,
            overload: c.overload.queueDelay.map {
                "503 past \($0.milliseconds) ms queueing delay, Retry-After \(c.overload.retryAfter) s"
            } ?? "off",
            conference: c.conference.hostsRooms
                ? "\(c.conference.maxRoomSize) per room, \(c.conference.maxParticipants) in all rooms" : nil
        )
    }

    /// `trace.start` (optional `trace` overrides), `trace.stop`, `trace.status`, `trace.list`.
    private func handleTrace(_ request: ControlRequest) -> EventLoopFuture<ControlResponse> {
        let promise = self.core.eventLoop.makePromise(of: ControlResponse.self)
        let recorder = self.recorder
        let defaults = self.traceDefaults
        self.traceQueue.async {
            var response = ControlResponse()
            switch request.command {
            case "trace.start":
                do throws(TraceError) {
                    let settings = try (request.trace ?? TraceStartOptions()).apply(to: defaults)
                    try recorder.start(settings)
                    response.trace = recorder.status()
                } catch {
                    response = .failure("cannot start the trace: \(error)")
                }
            case "trace.stop":
                recorder.stop()
                response.trace = recorder.status()
            case "trace.status":
                response.trace = recorder.status()
            case "trace.list":
                let status = recorder.status()
                do throws(TraceError) {
                    response.trace = status
                    response.traceFiles = try TraceFiles.list(directory: status.settings.directory)
                } catch {
                    response = .failure("cannot list \(status.settings.directory): \(error)")
                }
            default:
                response = .failure("unknown command '\(request.command)'")
            }
            promise.succeed(response)
        }
        return promise.futureResult
    }
}
