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

    public init(policy: RegistrarPolicy = RegistrarPolicy()) {
        self.registrar = Mutex(Registrar(policy: policy))
    }

    /// Applies a REGISTER (RFC 3261 §10.3); see `Registrar.register`.
    public func register(
        _ request: SIPRequest,
        source: Peer,
        authenticated: Bool,
        now: NIODeadline
    ) -> Result<RegistrationResult, RegistrarError> {
        self.registrar.withLock { $0.register(request, source: source, authenticated: authenticated, now: now) }
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
        self.registrar.withLock { $0.sweep(now: now) }
    }
}
