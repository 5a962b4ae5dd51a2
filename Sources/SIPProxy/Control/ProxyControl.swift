// ProxyControl: answers control requests from the proxy's state.

import NIOCore

/// The dispatcher of a running proxy.
struct ProxyControl: ControlDispatcher {
    let core: ProxyCore
    let startedAt: NIODeadline

    func handle(_ request: ControlRequest) -> EventLoopFuture<ControlResponse> {
        let core = self.core
        let startedAt = self.startedAt
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
                    listeners: core.transport.listeners.map(\.description),
                    users: Set(all.map(\.user)).count,
                    bindings: all.count,
                    serverTransactions: counts.server,
                    clientTransactions: counts.client,
                    uptimeSeconds: Int((now - startedAt).nanoseconds / 1_000_000_000)
                )
                return response
            default:
                return .failure("unknown command '\(request.command)'")
            }
        }
    }
}
