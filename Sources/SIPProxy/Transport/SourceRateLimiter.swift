// SourceRateLimiter: per-source request rate limit with a ban, in the manner of Kamailio's pike module.
//
// Counted per IP address (not port: a flooder changes ports for free). A source that sends more than `limit`
// requests within one `window` is banned for `banTime`: its messages are dropped before they are parsed, so a
// flood costs little CPU and never reaches the transaction layer, and other sources keep their service.

import NIOCore

/// Rate-limit settings (`sipctl serve --rate-limit`).
public struct RateLimitPolicy: Sendable, Equatable {
    /// Requests allowed per source address within one window; 0 turns the limit off.
    public var limit: Int
    public var window: TimeAmount
    /// How long a source that went over the limit is ignored.
    public var banTime: TimeAmount

    /// 200 requests per second averaged over 2 s is far above what a room of phones behind one NAT sends (a
    /// registration or call costs 2 to 4 requests) and far below a flood.
    public init(limit: Int = 400, window: TimeAmount = .seconds(2), banTime: TimeAmount = .seconds(60)) {
        self.limit = limit
        self.window = window
        self.banTime = banTime
    }

    public static let off = RateLimitPolicy(limit: 0)

    public var isEnabled: Bool { self.limit > 0 }
}

/// The limiter's table. A pure value: time comes from the caller.
struct SourceRateLimiter {
    enum Verdict: Equatable {
        case allowed
        /// The source just went over the limit: log it once.
        case banned
        /// Still banned: drop silently.
        case dropped
    }

    private struct Entry {
        var windowStart: NIODeadline
        var count: Int
        var bannedUntil: NIODeadline?
    }

    let policy: RateLimitPolicy
    /// Sources tracked at most; when full, entries whose window and ban are over are dropped first.
    let capacity: Int
    private var entries: [IPKey: Entry] = [:]
    private(set) var bannedTotal = 0

    init(policy: RateLimitPolicy, capacity: Int = 65_536) {
        self.policy = policy
        self.capacity = capacity
    }

    /// Counts one request from the IP address of `source` (its port does not matter).
    mutating func admit(_ source: SocketAddress, now: NIODeadline) -> Verdict {
        guard self.policy.isEnabled, let key = IPKey(source) else { return .allowed }
        return self.admit(key, now: now)
    }

    mutating func admit(_ source: IPKey, now: NIODeadline) -> Verdict {
        guard self.policy.isEnabled else { return .allowed }
        if var entry = self.entries[source] {
            if let until = entry.bannedUntil {
                if now < until { return .dropped }
                entry.bannedUntil = nil
                entry.windowStart = now
                entry.count = 0
            }
            if now - entry.windowStart >= self.policy.window {
                entry.windowStart = now
                entry.count = 0
            }
            entry.count += 1
            if entry.count > self.policy.limit {
                entry.bannedUntil = now + self.policy.banTime
                self.entries[source] = entry
                self.bannedTotal += 1
                return .banned
            }
            self.entries[source] = entry
            return .allowed
        }
        if self.entries.count >= self.capacity { self.prune(now: now) }
        // Still full of live entries (a spoofed-source flood): forget the oldest windows wholesale rather than grow.
        if self.entries.count >= self.capacity { self.entries.removeAll(keepingCapacity: true) }
        self.entries[source] = Entry(windowStart: now, count: 1, bannedUntil: nil)
        return self.policy.limit >= 1 ? .allowed : .banned
    }

    /// Drops entries whose window and ban are over.
    mutating func prune(now: NIODeadline) {
        self.entries = self.entries.filter { _, entry in
            if let until = entry.bannedUntil { return now < until }
            return now - entry.windowStart < self.policy.window
        }
    }

    /// Sources banned right now.
    func banned(now: NIODeadline) -> [IPKey] {
        self.entries.compactMap { source, entry in
            guard let until = entry.bannedUntil, now < until else { return nil }
            return source
        }
    }

    var trackedSources: Int { self.entries.count }
}

extension TimeAmount {
    /// Whole seconds, for messages and status.
    var wholeSeconds: Int64 { self.nanoseconds / 1_000_000_000 }
}
