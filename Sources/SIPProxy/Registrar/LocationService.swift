// LocationService: the registrar and location store shared by every shard (event loop) of the proxy.
//
// A REGISTER handled on one shard must be visible at once to an INVITE handled on another, so the bindings live
// in one `Registrar` value behind a mutex. Every operation is a dictionary lookup or update of a few bindings:
// the lock is held for microseconds and never across I/O, so a loop waits at most that long (Kamailio's usrloc
// takes a per-slot lock the same way). Lookups copy out the few `Binding` values a caller needs.

import NIOCore
import Synchronization

/// The shared registrar.
public final class LocationService: Sendable {
    private let registrar: Mutex<Registrar>
    /// The location backend written behind (SQLite file, issue 16); nil keeps the bindings in memory only.
    public let persistence: RegistrationPersistence?

    public init(policy: RegistrarPolicy = RegistrarPolicy(), persistence: RegistrationPersistence? = nil) {
        self.registrar = Mutex(Registrar(policy: policy))
        self.persistence = persistence
        // A shared backend (PostgreSQL) delivers other proxies' changes from its thread.
        persistence?.onRemoteChanges { [weak self] changes in
            guard let self else { return }
            self.registrar.withLock { $0.merge(changes, now: NIODeadline.now()) }
        }
    }

    /// Loads the backend's live bindings into the store; call before the shards start. Returns how many were kept.
    @discardableResult
    public func restore(now: NIODeadline) -> Int {
        guard let persistence else { return 0 }
        let loaded = persistence.load()
        return self.registrar.withLock { $0.restore(loaded, now: now) }
    }

    /// Applies a REGISTER (RFC 3261 §10.3); see `Registrar.register`.
    public func register(
        _ request: SIPRequest,
        source: Peer,
        authenticated: Bool,
        now: NIODeadline
    ) -> Result<RegistrationResult, RegistrarError> {
        self.registrar.withLock { registrar in
            let result = registrar.register(request, source: source, authenticated: authenticated, now: now)
            // Queued under the lock, so two shards changing one binding queue their changes in the order made.
            if let persistence = self.persistence, case .success(let done) = result {
                persistence.record(done.changes, user: done.user, now: now)
            }
            return result
        }
    }

    /// The live bindings of a user (§16.5 location lookup).
    public func lookup(_ user: String, now: NIODeadline) -> [Binding] {
        self.registrar.withLock { $0.store.lookup(user, now: now) }
    }

    /// Whether the user ever registered (480 rather than 404 when none of its bindings is live).
    public func isKnown(_ user: String) -> Bool {
        self.registrar.withLock { $0.store.isKnown(user) }
    }

    /// Whether a binding was registered from this source address (the relay policy's test).
    public func isRegisteredSource(_ address: SocketAddress) -> Bool {
        self.registrar.withLock { $0.store.isRegisteredSource(address) }
    }

    /// Whether the address is another proxy of a shared location store (the relay policy trusts it).
    public func isPeerProxy(_ address: SocketAddress) -> Bool {
        self.registrar.withLock { $0.store.isPeerProxy(address) }
    }

    /// The live binding whose Contact is `uri`.
    public func binding(forContact uri: SIPURI, now: NIODeadline) -> Binding? {
        self.registrar.withLock { $0.store.binding(forContact: uri, now: now) }
    }

    /// Every live binding, for `sipctl registrations` and `status`.
    public func all(now: NIODeadline) -> [(user: String, binding: Binding)] {
        self.registrar.withLock { $0.store.all(now: now) }
    }

    /// Removes expired bindings and returns them (each one to exactly one caller).
    public func sweep(now: NIODeadline) -> [Binding] {
        self.registrar.withLock { registrar in
            let removed = registrar.sweep(now: now)
            if let persistence = self.persistence {
                for (user, binding) in removed { persistence.record([.removed(binding)], user: user, now: now) }
            }
            return removed.map(\.binding)
        }
    }
}
