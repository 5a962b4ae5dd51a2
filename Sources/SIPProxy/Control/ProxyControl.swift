// ProxyControl: answers control requests from the proxy's state.

import Dispatch
import NIOCore

/// The dispatcher of a running proxy.
struct ProxyControl: ControlDispatcher {
    let core: ProxyCore
    /// The sockets, for their counters and caps in `status`.
    let transport: TransportManager
    let startedAt: NIODeadline
    let phraseReloader: PhraseReloader
    let recorder: TraceRecorder
    /// Settings `sipctl trace start` starts from (the start-up ones); the request overrides what it names.
    let traceDefaults: TraceSettings
    /// Starting and stopping block until files are open or flushed: never on the event loop.
    private let traceQueue = DispatchQueue(label: "sipproxy.trace-control")

    init(
        core: ProxyCore,
        transport: TransportManager,
        startedAt: NIODeadline,
        phraseReloader: PhraseReloader,
        recorder: TraceRecorder,
        traceDefaults: TraceSettings
    ) {
        self.core = core
        self.transport = transport
        self.startedAt = startedAt
        self.phraseReloader = phraseReloader
        self.recorder = recorder
        self.traceDefaults = traceDefaults
    }

    func handle(_ request: ControlRequest) -> EventLoopFuture<ControlResponse> {
        let core = self.core
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
        let startedAt = self.startedAt
        let transport = self.transport
        return core.eventLoop.submit {
            let now = core.now()
            switch request.command {
            case "registrations":
                var response = ControlResponse()
                response.registrations = core.registrar.store.all(now: now).map { entry in
                    RegistrationInfo(
                        aor: entry.binding.aor,
                        user: entry.user,
                        contact: entry.binding.contact.serialized,
                        transport: entry.binding.source.transport.rawValue,
                        source: entry.binding.source.remote.hostPort,
                        expiresIn: entry.binding.remaining(at: now)
                    )
                }
                return response
            case "status":
                var response = ControlResponse()
                let all = core.registrar.store.all(now: now)
                let counts = core.transactions.count
                response.status = ProxyStatus(
                    listeners: transport.listeners.map(\.description),
                    users: Set(all.map(\.user)).count,
                    bindings: all.count,
                    serverTransactions: counts.server,
                    clientTransactions: counts.client,
                    uptimeSeconds: Int((now - startedAt).nanoseconds / 1_000_000_000),
                    limits: Self.limits(core, transport)
                )
                return response
            case CallsControl.liveCommand:
                var response = ControlResponse()
                response.liveCalls = core.tracker.inProgress
                response.serverTime = .now()
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

    /// The caps in force and the counters of what they refused (runs on the core's event loop).
    private static func limits(_ core: ProxyCore, _ transport: TransportManager) -> LimitsStatus {
        let c = core.configuration
        let rate = c.limits.rateLimit
        return LimitsStatus(
            relay: c.relay.rawValue,
            connections: transport.connectionCount,
            maxConnections: c.limits.maxConnections,
            maxConnectionsPerSource: c.limits.maxConnectionsPerSource,
            maxTransactions: c.maxTransactions,
            maxBindings: c.registrar.maxBindings,
            maxContactsPerUser: c.registrar.maxContacts,
            maxMessageSize: c.limits.maxMessageSize,
            idleTimeoutSeconds: Int(c.limits.idleTimeout.wholeSeconds),
            rateLimit: rate.isEnabled
                ? "\(rate.limit) requests / \(rate.window.wholeSeconds) s, ban \(rate.banTime.wholeSeconds) s" : "off",
            bannedSources: transport.bannedSources,
            rateLimitedRequests: transport.counters.rateLimited,
            refusedConnections: transport.counters.refusedConnections,
            refusedDestinations: transport.counters.refusedDestinations,
            sendErrors: transport.counters.sendErrors,
            oversizedMessages: transport.counters.oversizedMessages,
            listenerRestarts: transport.counters.listenerRestarts,
            acceptPauses: transport.counters.acceptPauses
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
