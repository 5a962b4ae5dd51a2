// StoredBinding: a binding as a location backend keeps it, in wall-clock time and plain fields.
//
// The registrar's `Binding` lives in monotonic time (`NIODeadline`, which restarts with the machine) and names its
// flow with socket addresses and a connection id that mean nothing to another process. What is written to a file
// or a database is this value instead: the expiry as Unix time, the flow as text, and whether the flow is a
// connection (TCP/TLS), which no longer exists after a restart, so the proxy then connects anew to the address the
// REGISTER came from (RFC 5626 §5.2 in spirit: a flow is only usable while it lives).

import NIOCore

/// One binding in a location backend.
public struct StoredBinding: Sendable, Equatable {
    /// What identifies a binding in a backend: the user key and the Contact URI key (RFC 3261 §10.3 step 7).
    public struct Key: Sendable, Hashable {
        public var user: String
        public var contact: String

        public init(user: String, contact: String) {
            self.user = user
            self.contact = contact
        }
    }

    public var user: String
    /// `Binding.contactKey` of the Contact URI.
    public var contactKey: String
    public var aor: String
    /// The Contact value as registered, serialized (URI and parameters, `expires` removed).
    public var contact: String
    /// When the binding lapses, in wall-clock time.
    public var expiresAt: WallClock
    public var callID: String
    public var cseq: UInt32
    public var q: Double
    /// The flow: transport, the phone's address and the proxy's listening address it reached.
    public var transport: TransportKind
    public var remoteIP: String
    public var remotePort: Int
    public var localIP: String
    public var localPort: Int
    /// Path header values of the REGISTER (RFC 3327), outermost first; empty when there were none.
    public var path: [String]
    /// `+sip.instance` and `reg-id` of the Contact (RFC 5626 §4.2), indexed apart for a backend that wants them.
    public var instance: String?
    public var regID: Int?
    /// The proxy instance that holds the flow (a shared backend routes through it; issue 16 item 2).
    public var owner: String
    /// Where other proxies reach the owner: its SIP listener URI (`sip:127.0.0.51:5060`); empty in a backend
    /// that only this proxy uses (SQLite).
    public var ownerURI: String = ""

    public var key: Key { Key(user: self.user, contact: self.contactKey) }

    /// Whether the flow is a connection, gone once the process holding it has stopped.
    public var flowIsConnection: Bool { self.transport.isStream }

    public init(
        user: String, contactKey: String, aor: String, contact: String, expiresAt: WallClock, callID: String,
        cseq: UInt32, q: Double, transport: TransportKind, remoteIP: String, remotePort: Int, localIP: String,
        localPort: Int, path: [String] = [], instance: String? = nil, regID: Int? = nil, owner: String,
        ownerURI: String = ""
    ) {
        self.user = user
        self.contactKey = contactKey
        self.aor = aor
        self.contact = contact
        self.expiresAt = expiresAt
        self.callID = callID
        self.cseq = cseq
        self.q = q
        self.transport = transport
        self.remoteIP = remoteIP
        self.remotePort = remotePort
        self.localIP = localIP
        self.localPort = localPort
        self.path = path
        self.instance = instance
        self.regID = regID
        self.owner = owner
        self.ownerURI = ownerURI
    }

    /// The stored form of a registrar binding. `now` and `wallNow` are the same instant on the two clocks; the
    /// expiry keeps the remaining time, not the monotonic value.
    public init(
        _ binding: Binding, user: String, owner: String, ownerURI: String = "", now: NIODeadline, wallNow: WallClock
    ) {
        let remaining = (binding.expiresAt - now).nanoseconds / 1000
        self.init(
            user: user,
            contactKey: Binding.contactKey(binding.contact.uri),
            aor: binding.aor,
            contact: binding.contact.serialized,
            expiresAt: WallClock(microseconds: Saturating.add(wallNow.microseconds, remaining)),
            callID: binding.callID,
            cseq: binding.cseq,
            q: binding.q,
            transport: binding.source.transport,
            remoteIP: binding.source.remote.ipText ?? "",
            remotePort: binding.source.remote.port ?? 0,
            localIP: binding.source.local.ipText ?? "",
            localPort: binding.source.local.port ?? 0,
            path: binding.path,
            instance: binding.contact.parameters["+sip.instance"],
            regID: binding.contact.parameters["reg-id"].flatMap { Int($0) },
            owner: binding.owner ?? owner,
            ownerURI: binding.owner == nil ? ownerURI : (binding.ownerURI ?? "")
        )
    }

    /// The registrar binding, its expiry moved onto the monotonic clock; nil when it has lapsed at `wallNow` or a
    /// field does not parse (a row written by hand, or by a future version, is skipped rather than trusted).
    /// A connection's id is not kept: the connection died with the process that had it.
    public func binding(now: NIODeadline, wallNow: WallClock, ownInstance: String) -> Binding? {
        // Clamped to the longest expiry RFC 3261 §20.19 allows: a hand-edited row must not overflow the deadline.
        let remaining = min(
            Saturating.subtract(self.expiresAt.microseconds, wallNow.microseconds),
            Int64(RegistrarPolicy.expiresLimit) * 1_000_000
        )
        guard remaining > 0,
            let contact = NameAddress.parse(self.contact),
            let remote = try? SocketAddress(ipAddress: self.remoteIP, port: self.remotePort),
            let local = try? SocketAddress(ipAddress: self.localIP, port: self.localPort),
            self.q.isFinite
        else { return nil }
        return Binding(
            aor: self.aor,
            contact: contact,
            expiresAt: now + .microseconds(remaining),
            callID: self.callID,
            cseq: self.cseq,
            source: Peer(transport: self.transport, remote: remote, local: local),
            q: self.q,
            path: self.path,
            owner: self.owner == ownInstance ? nil : self.owner,
            ownerURI: self.owner == ownInstance || self.ownerURI.isEmpty ? nil : self.ownerURI
        )
    }
}

/// One change to the location store, as a backend applies it.
public enum BindingChange: Sendable, Equatable {
    /// Added or refreshed: the row is written whole.
    case upsert(StoredBinding)
    /// Unregistered or expired.
    case remove(StoredBinding.Key)

    public var key: StoredBinding.Key {
        switch self {
        case .upsert(let binding): return binding.key
        case .remove(let key): return key
        }
    }
}
