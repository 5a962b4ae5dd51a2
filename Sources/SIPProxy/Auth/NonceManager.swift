// NonceManager: digest nonces that expire and cannot be replayed (RFC 3261 §22.4, RFC 7616 §3.3 and §5.4).
//
// A nonce is self-validating: hex(issued-at) + hex(random) + hex(HMAC-SHA256(secret, both)), so the proxy keeps no
// state per challenge and a forged or altered nonce is recognised. What is kept is the highest nonce count seen
// for each nonce in use (with qop) or that it was used (without qop), which makes every response single-use.

import Crypto

/// Issues and checks nonces. A pure value: time (whole seconds of a monotonic clock) comes from the caller.
public struct NonceManager: Sendable {
    public enum Verdict: Equatable, Sendable {
        case valid
        /// Issued here but older than the lifetime: challenge again with `stale=true` (the UA retries without
        /// asking the user, RFC 7616 §3.3).
        case stale
        /// Not issued by this proxy (or altered).
        case invalid
        /// Seen before with this nonce count: a replayed request.
        case replayed
    }

    /// The HMAC key, random per process (kept as bytes: swift-crypto's SymmetricKey is not Sendable).
    private let secret: [UInt8]
    public let lifetime: UInt64
    /// Nonces remembered at most (their last nonce count); beyond, expired ones are dropped first.
    let capacity: Int
    private var seen: [String: (issued: UInt64, count: UInt32)] = [:]

    public init(lifetime: UInt64 = 300, capacity: Int = 100_000, secret: [UInt8]? = nil) {
        if let secret {
            self.secret = secret
        } else {
            var random = SystemRandomNumberGenerator()
            self.secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        }
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// A fresh nonce.
    public func issue(now: UInt64) -> String {
        var random = SystemRandomNumberGenerator()
        return self.make(issued: now, salt: random.next())
    }

    private func make(issued: UInt64, salt: UInt64) -> String {
        let payload = Self.hex64(issued) + Self.hex64(salt)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(payload.utf8), using: SymmetricKey(data: self.secret))
        return payload + DigestAlgorithm.hex(Array(mac).prefix(16))
    }

    /// Checks a nonce and the nonce count of a response using it, and records the count.
    ///
    /// - Parameter nc: the `nc` parameter (8 hex digits) with qop, nil without: then the nonce is single-use.
    public mutating func check(_ nonce: String, nc: String?, now: UInt64) -> Verdict {
        guard nonce.utf8.count == 64, let issued = UInt64(nonce.prefix(16), radix: 16),
            let salt = UInt64(nonce.dropFirst(16).prefix(16), radix: 16), self.make(issued: issued, salt: salt) == nonce
        else { return .invalid }
        guard issued <= now else { return .invalid }
        if now - issued > self.lifetime {
            self.seen.removeValue(forKey: nonce)
            return .stale
        }
        // Without qop there is no count: the nonce is used once (count 0 marks it).
        let count: UInt32
        if let nc {
            guard nc.utf8.count == 8, let value = UInt32(nc, radix: 16), value > 0 else { return .invalid }
            count = value
        } else {
            count = 0
        }
        if let previous = self.seen[nonce] {
            // A nonce used without qop is spent; with qop each count is accepted once, in increasing order
            // (RFC 7616 §3.4: the count "MUST" increase; a lower or equal one is a replay).
            if count == 0 || previous.count == 0 || count <= previous.count { return .replayed }
        }
        if self.seen.count >= self.capacity { self.prune(now: now) }
        self.seen[nonce] = (issued, count)
        return .valid
    }

    /// Forgets nonces past their lifetime (they answer `stale` anyway); if still full, the oldest half.
    public mutating func prune(now: UInt64) {
        self.seen = self.seen.filter { now - $0.value.issued <= self.lifetime }
        if self.seen.count >= self.capacity {
            let cutoff = self.seen.values.map(\.issued).sorted()[self.seen.count / 2]
            self.seen = self.seen.filter { $0.value.issued > cutoff }
        }
    }

    var remembered: Int { self.seen.count }

    static func hex64(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
