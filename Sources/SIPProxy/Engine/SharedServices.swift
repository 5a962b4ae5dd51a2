// SharedServices: what the shards of one proxy have in common. Everything here is safe to use from any loop:
// the registrar, forwarding rules and authenticator behind their own mutexes, the journal behind its writer thread,
// the Record-Route key immutable. Per-call state (transactions, response contexts, timers, the call tracker) stays
// in each shard, which the Call-ID routing (`ShardRouter`) makes sufficient.

import Logging

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

    public init(configuration: ProxyConfiguration, logger: Logger, journal: CallJournal?) {
        self.registrar = LocationService(policy: configuration.registrar)
        self.forwarding = ForwardingService(configuration: configuration, logger: logger)
        self.authenticator = configuration.auth.map { directory in
            AuthService(DigestAuthenticator(directory: directory, realm: configuration.realm))
        }
        self.routeSigner = RouteSigner()
        self.journal = journal
        self.overload = OverloadBoard(shards: configuration.workers)
    }
}
