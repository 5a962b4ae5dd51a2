// Registrar: REGISTER processing without authentication (RFC 3261 §10.3), as a value that updates its
// LocationStore and returns what changed.

import NIOCore

/// Registrar policy.
public struct RegistrarPolicy: Sendable, Equatable {
    /// Used when neither the contact nor the request gives an expiry (RFC 3261 §10.2.1.1 suggests 3600).
    public var defaultExpires: Int = 3600
    /// Below this a REGISTER gets 423 with Min-Expires (RFC 3261 §10.3 step 7); 0 means "unregister".
    public var minExpires: Int = 60
    /// Longer requests are shortened to this (RFC 3261 §10.3 step 7: the registrar MAY shorten).
    public var maxExpires: Int = 86_400
    /// Contacts kept per AOR (each one is a fork target: more would multiply every INVITE).
    public var maxContacts: Int = 10
    /// Bindings kept in all, across every AOR (the location store must not grow without bound).
    public var maxBindings: Int = 100_000
    /// Longest Contact value accepted, in octets: a real phone's, with +sip.instance and reg-id, is about 200; a
    /// long one would be echoed in every 200 OK of the AOR and inflate it.
    public var maxContactLength: Int = 1024

    /// The largest expiry RFC 3261 §20.19 allows (2**32-1 seconds); `maxExpires` may not exceed it.
    public static let expiresLimit = Int(UInt32.max)

    public init(
        defaultExpires: Int = 3600,
        minExpires: Int = 60,
        maxExpires: Int = 86_400,
        maxContacts: Int = 10,
        maxBindings: Int = 100_000,
        maxContactLength: Int = 1024
    ) {
        self.defaultExpires = defaultExpires
        self.minExpires = minExpires
        self.maxExpires = maxExpires
        self.maxContacts = maxContacts
        self.maxBindings = maxBindings
        self.maxContactLength = maxContactLength
    }
}

/// What one REGISTER did.
public struct RegistrationResult: Sendable, Equatable {
    public enum Change: Sendable, Equatable {
        case added(Binding)
        case refreshed(Binding)
        case removed(Binding)
    }

    public var user: String
    /// The bindings after the request, listed in the 200 OK with their remaining expiry (§10.3 step 8).
    public var bindings: [Binding]
    public var changes: [Change]
}

/// The registrar and its location store.
public struct Registrar: Sendable {
    public var policy: RegistrarPolicy
    public private(set) var store = LocationStore()

    /// Longest user part of an AOR (phones use short names; a 40 KB one is an attack on memory).
    static let maxUserLength = 256

    public init(policy: RegistrarPolicy = RegistrarPolicy()) {
        self.policy = policy
    }

    /// Applies a REGISTER whose Request-URI names one of the proxy's domains (the caller checked that).
    ///
    /// - Parameter authenticated: the request's sender proved it is the AOR's user (digest); without that, bindings
    ///   can only be removed by the address that created them.
    public mutating func register(
        _ request: SIPRequest,
        source: Peer,
        authenticated: Bool = false,
        now: NIODeadline
    ) -> Result<RegistrationResult, RegistrarError> {
        // §10.3 step 3: the AOR is the To URI; it must be SIP or SIPS.
        guard request.to.uri.isSIP else { return .failure(.notSIPAOR) }
        let user = LocationStore.userKey(request.to.uri)
        guard user.utf8.count <= Self.maxUserLength else { return .failure(.invalidContact("user name too long")) }
        let aor = "sip:\(request.to.uri.user ?? "")@\(request.to.uri.host)"
        let headerExpires = request.headers["expires"].flatMap { SIPGrammar.parseNumber($0, limit: 1 << 40) }
            .map { Int($0) }
        let rawContacts = request.headers.values("contact")
        var current = self.store.stored(user).filter { $0.expiresAt > now }

        // Fetching bindings: no Contact header (§10.3 step 6 does nothing; step 8 lists them).
        if rawContacts.isEmpty {
            // Without authentication the list goes only to an address that holds one of the user's bindings
            // (the authorisation of §10.3 step 4, by source address as for removals below): otherwise one small
            // spoofable datagram returns every phone's address, up to max_contacts long Contacts (an amplifier).
            guard authenticated || current.isEmpty
                || current.contains(where: { $0.source.remote.ipText == source.remote.ipText })
            else { return .failure(.queryRefused) }
            return .success(RegistrationResult(user: user, bindings: current, changes: []))
        }

        // §10.3 step 6: "*" must be alone and with Expires: 0; it removes every binding (unless the Call-ID is
        // the same with a CSeq that is not higher).
        if rawContacts.contains("*") {
            guard rawContacts.count == 1, headerExpires == 0 else { return .failure(.invalidWildcard) }
            // Without authentication a request may only remove bindings its own address created: anyone could
            // otherwise log every phone out with one datagram.
            let removable = { (b: Binding) in
                (authenticated || b.source.remote.ipText == source.remote.ipText)
                    && !(b.callID == request.callID && request.cseq.number <= b.cseq)
            }
            let removed = current.filter(removable)
            let kept = current.filter { !removable($0) }
            self.store.store(user, kept)
            return .success(RegistrationResult(user: user, bindings: kept, changes: removed.map { .removed($0) }))
        }

        if let long = rawContacts.first(where: { $0.utf8.count > self.policy.maxContactLength }) {
            return .failure(.contactTooLong(limit: self.policy.maxContactLength, length: long.utf8.count))
        }
        // Validation parsed them already (and a malformed one never got this far, unless edited since).
        let parsed = request.contacts
        guard let contacts = parsed.count == rawContacts.count ? parsed : NameAddress.parseList(rawContacts) else {
            return .failure(.invalidContact(rawContacts.joined(separator: ", ")))
        }
        // Check every contact first so a refused request changes nothing (§10.3: the request is atomic).
        var plans: [(NameAddress, Int)] = []
        for contact in contacts {
            guard contact.uri.isSIP, !contact.uri.host.isEmpty else {
                return .failure(.invalidContact(contact.uri.serialized))
            }
            var expires = self.policy.defaultExpires
            if let value = contact.parameters["expires"], let n = SIPGrammar.parseNumber(value, limit: 1 << 40) {
                expires = Int(n)
            } else if let headerExpires {
                expires = headerExpires
            }
            if expires > 0 && expires < self.policy.minExpires {
                return .failure(.intervalTooBrief(minimum: self.policy.minExpires))
            }
            // Clamped twice: the policy is validated at start-up, but a deadline must never come from an
            // unchecked number (RFC 3261 §20.19 bounds expiries by 2**32-1).
            plans.append((contact, min(expires, self.policy.maxExpires, RegistrarPolicy.expiresLimit)))
        }

        var changes: [RegistrationResult.Change] = []
        for (contact, expires) in plans {
            let key = Binding.contactKey(contact.uri)
            let index = current.firstIndex { Binding.contactKey($0.contact.uri) == key }
            if let index {
                // §10.3 step 7: same Call-ID with a CSeq not higher is an out-of-order retransmission.
                let old = current[index]
                if old.callID == request.callID && request.cseq.number <= old.cseq { continue }
            }
            if expires == 0 {
                // Removal by another address is ignored without authentication (see the wildcard above).
                if let index, authenticated || current[index].source.remote.ipText == source.remote.ipText {
                    changes.append(.removed(current.remove(at: index)))
                }
                continue
            }
            var stored = contact
            stored.parameters.remove("expires")
            let q = contact.parameters["q"].flatMap(Double.init) ?? 1.0
            let binding = Binding(
                aor: aor,
                contact: stored,
                expiresAt: now + .seconds(Int64(expires)),
                callID: request.callID,
                cseq: request.cseq.number,
                source: source,
                q: q
            )
            if let index {
                current[index] = binding
                changes.append(.refreshed(binding))
            } else {
                guard current.count < self.policy.maxContacts else {
                    return .failure(.tooManyContacts(limit: self.policy.maxContacts))
                }
                guard self.store.bindingCount < self.policy.maxBindings else {
                    return .failure(.locationStoreFull(limit: self.policy.maxBindings))
                }
                current.append(binding)
                changes.append(.added(binding))
            }
        }
        self.store.store(user, current)
        return .success(RegistrationResult(user: user, bindings: current, changes: changes))
    }

    /// Removes expired bindings (called periodically), with their user keys.
    public mutating func sweep(now: NIODeadline) -> [(user: String, binding: Binding)] {
        self.store.sweepByUser(now: now)
    }

    /// Puts back bindings a location backend kept across a restart (RFC 3261 §10.3 would have the phones
    /// re-register; until they do, they are reachable). The limits hold as for a REGISTER: past `maxContacts`
    /// per user or `maxBindings` in all, the bindings that lapse first are left out. Returns how many were kept.
    @discardableResult
    public mutating func restore(_ bindings: [(user: String, binding: Binding)], now: NIODeadline) -> Int {
        var byUser: [String: [Binding]] = [:]
        for (user, binding) in bindings where binding.expiresAt > now && user.utf8.count <= Self.maxUserLength {
            byUser[user, default: []].append(binding)
        }
        var kept = 0
        for user in byUser.keys.sorted() {
            var list = self.store.stored(user).filter { $0.expiresAt > now }
            // One binding per Contact URI (§10.3 step 7), the longest-lived first.
            var keys = Set(list.map { Binding.contactKey($0.contact.uri) })
            let fresh = byUser[user]!.sorted { $0.expiresAt > $1.expiresAt }
                .filter { keys.insert(Binding.contactKey($0.contact.uri)).inserted }
            let room = min(
                self.policy.maxContacts - list.count,
                self.policy.maxBindings - self.store.bindingCount
            )
            guard room > 0 else { continue }
            list += fresh.prefix(room)
            kept += min(room, fresh.count)
            self.store.store(user, list)
        }
        return kept
    }

    /// Merges other proxies' changes from a shared location backend: their bindings replace whatever this store
    /// has under the same Contact (the phone registered through them last), marked with their owner; a removal
    /// drops only a binding another proxy owns (one of ours is ours to remove). No limits apply: the other proxy
    /// enforced them, and this store only mirrors its rows.
    public mutating func merge(_ changes: RegistrationPersistence.RemoteChanges, now: NIODeadline) {
        var byUser: [String: (upserts: [Binding], removals: Set<String>)] = [:]
        for (user, binding) in changes.upserts { byUser[user, default: ([], [])].upserts.append(binding) }
        for key in changes.removals { byUser[key.user, default: ([], [])].removals.insert(key.contact) }
        for (user, change) in byUser {
            var list = self.store.stored(user)
            let replaced = Set(change.upserts.map { Binding.contactKey($0.contact.uri) })
            list.removeAll { binding in
                let key = Binding.contactKey(binding.contact.uri)
                return replaced.contains(key) || (binding.owner != nil && change.removals.contains(key))
            }
            list += change.upserts
            self.store.store(user, list)
        }
    }
}
