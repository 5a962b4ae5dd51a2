// LocationStore: AOR -> bindings with expiry (RFC 3261 §10.3; Kamailio's usrloc apart from the registrar logic).

import NIOCore

/// The location service. Users of the proxy's own domains share one namespace keyed by the unescaped user part,
/// so `sip:bob@192.0.2.5`, `sip:bob@192.0.2.5:5070` and `sip:bob@lab.example` are one user.
public struct LocationStore: Sendable {
    private var bindings: [String: [Binding]] = [:]
    /// Users that have ever registered: a call to one of them without a binding gets 480, not 404.
    private var known: Set<String> = []
    /// Contact-URI key -> user key, so in-dialog requests to a phone's Contact reuse its registered flow.
    private var byContact: [String: String] = [:]
    /// Bindings per source address (the flow a REGISTER came from): a source with one is a registered phone,
    /// which the relay policy lets call other domains.
    private var bySource: [SocketAddress: Int] = [:]
    /// Bindings per owning proxy's address (`127.0.0.51:5060`) when another proxy of a shared store holds them:
    /// requests from those proxies are trusted by the relay policy (they forward to phones they hold).
    private var byPeer: [String: Int] = [:]
    /// Bindings stored, expired ones not yet swept included.
    public private(set) var bindingCount = 0
    /// Users by the second their first binding lapses, and each user's second: the sweep visits only the users
    /// with something due instead of every binding, under the lock all shards share (100,000 users would hold it
    /// for milliseconds per sweep; Kamailio's usrloc walks its hash slots one lock at a time for the same reason).
    private var lapsing: [Int64: Set<String>] = [:]
    private var lapseSecond: [String: Int64] = [:]

    /// Users remembered at most (a flood of one-off names must not grow memory without bound).
    static let knownCapacity = 100_000

    public init() {}

    /// The user key of a URI: its user part with escapes normalised (RFC 3261 §19.1.4).
    public static func userKey(_ uri: SIPURI) -> String {
        SIPURI.normalizeEscapes(uri.user ?? "")
    }

    /// Current bindings of a user, highest q first, at `now`.
    public func lookup(_ user: String, now: NIODeadline) -> [Binding] {
        (self.bindings[user] ?? []).filter { $0.expiresAt > now }.sorted { $0.q > $1.q }
    }

    public func isKnown(_ user: String) -> Bool { self.known.contains(user) }

    /// Whether some binding was registered from this socket address.
    public func isRegisteredSource(_ address: SocketAddress) -> Bool { self.bySource[address] != nil }

    /// Whether `address` is a proxy sharing the location store (one that owns some binding here).
    public func isPeerProxy(_ address: SocketAddress) -> Bool {
        guard let ip = address.ipText, let port = address.port else { return false }
        return self.byPeer["\(ip):\(port)"] != nil
    }

    /// `ip:port` of a binding's owning proxy, from its URI; nil for a binding this proxy holds.
    static func peerKey(_ binding: Binding) -> String? {
        guard binding.owner != nil, let text = binding.ownerURI, let uri = SIPURI.parse(text) else { return nil }
        return "\(uri.bareHost):\(uri.port ?? 5060)"
    }

    /// The binding whose Contact URI is `uri`, if any (for flow reuse).
    public func binding(forContact uri: SIPURI, now: NIODeadline) -> Binding? {
        let key = Binding.contactKey(uri)
        guard let user = self.byContact[key] else { return nil }
        return self.bindings[user]?.first { Binding.contactKey($0.contact.uri) == key && $0.expiresAt > now }
    }

    /// Every binding, for `sipctl registrations`.
    public func all(now: NIODeadline) -> [(user: String, binding: Binding)] {
        self.bindings.keys.sorted().flatMap { user in
            self.lookup(user, now: now).map { (user, $0) }
        }
    }

    public var userCount: Int { self.bindings.count }

    /// Replaces the bindings of a user.
    mutating func store(_ user: String, _ list: [Binding]) {
        self.unindexExpiry(user)
        for old in self.bindings[user] ?? [] {
            self.byContact.removeValue(forKey: Binding.contactKey(old.contact.uri))
            if let n = self.bySource[old.source.remote] { self.bySource[old.source.remote] = n > 1 ? n - 1 : nil }
            if let peer = Self.peerKey(old), let n = self.byPeer[peer] { self.byPeer[peer] = n > 1 ? n - 1 : nil }
            self.bindingCount -= 1
        }
        if list.isEmpty {
            self.bindings.removeValue(forKey: user)
        } else {
            // Users are remembered (404 versus 480) only once they have registered: a failed or empty request
            // must not grow the set.
            if self.known.count >= Self.knownCapacity, !self.known.contains(user) {
                // Forget some user without bindings: at worst a call to them gets 404 instead of 480.
                if let stale = self.known.first(where: { self.bindings[$0] == nil }) { self.known.remove(stale) }
            }
            self.known.insert(user)
            self.bindings[user] = list
            self.indexExpiry(user, list)
            for b in list {
                self.byContact[Binding.contactKey(b.contact.uri)] = user
                self.bySource[b.source.remote, default: 0] += 1
                if let peer = Self.peerKey(b) { self.byPeer[peer, default: 0] += 1 }
                self.bindingCount += 1
            }
        }
    }

    /// Raw bindings of a user including expired ones (the registrar prunes them itself).
    func stored(_ user: String) -> [Binding] { self.bindings[user] ?? [] }

    /// Removes expired bindings; returns them.
    @discardableResult
    public mutating func sweep(now: NIODeadline) -> [Binding] {
        self.sweepByUser(now: now).map(\.binding)
    }

    /// Removes expired bindings; returns them with their user keys (what a location backend deletes).
    mutating func sweepByUser(now: NIODeadline) -> [(user: String, binding: Binding)] {
        var removed: [(user: String, binding: Binding)] = []
        let nowSecond = Self.second(of: now)
        // Seconds up to and including the current one: the current second's users may be only partly due.
        // (The due seconds are taken out first: iterating the keys while removing would copy the dictionary.)
        let due = self.lapsing.keys.filter { $0 <= nowSecond }
        for second in due {
            guard let users = self.lapsing.removeValue(forKey: second) else { continue }
            for user in users {
                self.lapseSecond.removeValue(forKey: user)
                guard let list = self.bindings[user] else { continue }
                let alive = list.filter { $0.expiresAt > now }
                if alive.count != list.count {
                    removed += list.filter { $0.expiresAt <= now }.map { (user, $0) }
                    self.store(user, alive)
                } else {
                    self.indexExpiry(user, list)  // later in this second: due at the next sweep
                }
            }
        }
        return removed
    }

    private static func second(of deadline: NIODeadline) -> Int64 {
        Int64(deadline.uptimeNanoseconds / 1_000_000_000)
    }

    private mutating func indexExpiry(_ user: String, _ list: [Binding]) {
        guard let first = list.lazy.map(\.expiresAt).min() else { return }
        let second = Self.second(of: first)
        self.lapseSecond[user] = second
        self.lapsing[second, default: []].insert(user)
    }

    private mutating func unindexExpiry(_ user: String) {
        guard let second = self.lapseSecond.removeValue(forKey: user) else { return }
        if var users = self.lapsing.removeValue(forKey: second) {
            users.remove(user)
            if !users.isEmpty { self.lapsing[second] = users }
        }
    }

    /// Users waiting in the expiry index (tests: it holds each user with bindings once, and no one else).
    var expiryIndexCount: (users: Int, entries: Int) {
        (self.lapseSecond.count, self.lapsing.values.reduce(0) { $0 + $1.count })
    }
}
