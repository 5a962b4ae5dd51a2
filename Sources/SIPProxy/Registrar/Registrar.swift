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
    /// Contacts kept per AOR.
    public var maxContacts: Int = 16

    /// The largest expiry RFC 3261 §20.19 allows (2**32-1 seconds); `maxExpires` may not exceed it.
    public static let expiresLimit = Int(UInt32.max)

    public init(defaultExpires: Int = 3600, minExpires: Int = 60, maxExpires: Int = 86_400, maxContacts: Int = 16) {
        self.defaultExpires = defaultExpires
        self.minExpires = minExpires
        self.maxExpires = maxExpires
        self.maxContacts = maxContacts
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

    public init(policy: RegistrarPolicy = RegistrarPolicy()) {
        self.policy = policy
    }

    /// Applies a REGISTER whose Request-URI names one of the proxy's domains (the caller checked that).
    public mutating func register(
        _ request: SIPRequest,
        source: Peer,
        now: NIODeadline
    ) -> Result<RegistrationResult, RegistrarError> {
        // §10.3 step 3: the AOR is the To URI; it must be SIP or SIPS.
        guard request.to.uri.isSIP else { return .failure(.notSIPAOR) }
        let user = LocationStore.userKey(request.to.uri)
        let aor = "sip:\(request.to.uri.user ?? "")@\(request.to.uri.host)"
        let headerExpires = request.headers["expires"].flatMap { SIPGrammar.parseNumber($0, limit: 1 << 40) }
            .map { Int($0) }
        let rawContacts = request.headers.values("contact")
        var current = self.store.stored(user).filter { $0.expiresAt > now }

        // Fetching bindings: no Contact header (§10.3 step 6 does nothing; step 8 lists them).
        if rawContacts.isEmpty {
            return .success(RegistrationResult(user: user, bindings: current, changes: []))
        }

        // §10.3 step 6: "*" must be alone and with Expires: 0; it removes every binding (unless the Call-ID is
        // the same with a CSeq that is not higher).
        if rawContacts.contains("*") {
            guard rawContacts.count == 1, headerExpires == 0 else { return .failure(.invalidWildcard) }
            let removed = current.filter { !($0.callID == request.callID && request.cseq.number <= $0.cseq) }
            let kept = current.filter { $0.callID == request.callID && request.cseq.number <= $0.cseq }
            self.store.store(user, kept)
            return .success(RegistrationResult(user: user, bindings: kept, changes: removed.map { .removed($0) }))
        }

        guard let contacts = NameAddress.parseList(rawContacts) else {
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
                if let index { changes.append(.removed(current.remove(at: index))) }
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
                current.append(binding)
                changes.append(.added(binding))
            }
        }
        self.store.store(user, current)
        return .success(RegistrationResult(user: user, bindings: current, changes: changes))
    }

    /// Removes expired bindings (called periodically).
    public mutating func sweep(now: NIODeadline) -> [Binding] {
        self.store.sweep(now: now)
    }
}
