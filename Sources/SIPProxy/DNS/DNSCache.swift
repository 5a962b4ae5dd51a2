// DNSCache: answers kept for their TTL (RFC 1035 §7.4), negative answers for the SOA minimum (RFC 2308 §5).
// A pure value on an injected clock: the resolver that owns it is confined to one event loop.

import NIOCore

/// A bounded cache of lookups by question.
public struct DNSCache: Sendable {
    /// What a lookup found: records (possibly none: NODATA) or that the name does not exist (NXDOMAIN).
    public enum Answer: Sendable, Equatable {
        case records([DNSRecord])
        case nameError
    }

    struct Entry: Sendable {
        var answer: Answer
        var expires: NIODeadline
    }

    /// Entries at most; when full, the one expiring first gives way (it is the least valuable to keep).
    public let capacity: Int
    /// Upper bound of any positive TTL (RFC 2181 §8 allows up to 2^31-1; a day is plenty for SIP servers).
    public let maxTTL: TimeAmount
    /// Upper bound of a negative TTL (RFC 2308 §5 recommends one to three hours at most; a lab changes its zone
    /// more often, so five minutes).
    public let maxNegativeTTL: TimeAmount
    private var entries: [DNSQuestion: Entry] = [:]

    public init(capacity: Int = 4096, maxTTL: TimeAmount = .hours(24), maxNegativeTTL: TimeAmount = .minutes(5)) {
        self.capacity = max(1, capacity)
        self.maxTTL = maxTTL
        self.maxNegativeTTL = maxNegativeTTL
    }

    public var count: Int { self.entries.count }

    /// The answer still valid at `now`, if any (an expired one is dropped).
    public mutating func lookup(_ question: DNSQuestion, now: NIODeadline) -> Answer? {
        guard let entry = self.entries[question] else { return nil }
        guard entry.expires > now else {
            self.entries[question] = nil
            return nil
        }
        return entry.answer
    }

    /// Stores what `message` says about `question`. Positive answers live for their smallest TTL; negative ones
    /// (NXDOMAIN, or no record of the type) for min(SOA TTL, SOA MINIMUM) of the authority section (RFC 2308 §5),
    /// and not at all without an SOA (§5: "negative responses without SOA records SHOULD NOT be cached"). A TTL
    /// of 0 is used once and not kept (RFC 1035 §3.2.1).
    public mutating func store(_ question: DNSQuestion, _ answer: Answer, message: DNSMessage, now: NIODeadline) {
        let ttl: TimeAmount
        switch answer {
        case .records(let records) where !records.isEmpty:
            let seconds = records.map(\.ttl).min() ?? 0
            ttl = min(.seconds(Int64(seconds)), self.maxTTL)
        case .records, .nameError:
            guard
                let soa = message.authority.lazy.compactMap({ record -> UInt32? in
                    if case .soa(let soa) = record.data { return min(record.ttl, soa.minimum) }
                    return nil
                }).first
            else { return }
            ttl = min(.seconds(Int64(soa)), self.maxNegativeTTL)
        }
        guard ttl > .zero else { return }
        if self.entries[question] == nil, self.entries.count >= self.capacity { self.evict(now: now) }
        self.entries[question] = Entry(answer: answer, expires: now + ttl)
    }

    /// Makes room: expired entries go; if none had expired, the one expiring soonest.
    private mutating func evict(now: NIODeadline) {
        let before = self.entries.count
        self.entries = self.entries.filter { $0.value.expires > now }
        guard self.entries.count == before,
            let soonest = self.entries.min(by: { $0.value.expires < $1.value.expires })?.key
        else { return }
        self.entries[soonest] = nil
    }
}
