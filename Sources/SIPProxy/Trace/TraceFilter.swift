// TraceFilter: which SIP messages the trace recorder keeps, and its small expression language.

import NIOCore

/// Selects the events to record. Every criterion is optional; an event matches when every criterion that is set
/// matches (AND), and a criterion matches when any of its values does (OR).
///
/// Expression syntax (`TraceFilter.parse`): terms separated by spaces, each `key=value[,value...]`:
///
/// - `method=INVITE,BYE`: the request method, or for a response its CSeq method (case-insensitive; stored
///   upper-case). Keys `method` / `methods`.
/// - `user=alice,bob`: the From, To or Request-URI user part (case-sensitive, RFC 3261 §19.1.4). Keys `user` /
///   `users`.
/// - `callid=abc@host`: the Call-ID, exact (case-sensitive, RFC 3261 §20.8). Keys `callid` / `call-id` / `callids`.
/// - `peer=127.0.0.11,10.0.0.5:5060,[::1]:5070,::1`: an IP, or an IP and port, that is the source or the
///   destination. Keys `peer` / `peers`.
///
/// Keys are case-insensitive; repeating a key adds values. The empty expression is the empty filter (matches all).
/// Example: `method=INVITE,BYE user=alice peer=127.0.0.11`.
public struct TraceFilter: Sendable, Codable, Equatable, CustomStringConvertible {
    public var methods: [String]?
    public var users: [String]?
    public var callIDs: [String]?
    /// `ip` or `ip:port` (IPv6 with a port in brackets), in the canonical text form of the address.
    public var peers: [String]?

    public init(methods: [String]? = nil, users: [String]? = nil, callIDs: [String]? = nil, peers: [String]? = nil) {
        self.methods = methods
        self.users = users
        self.callIDs = callIDs
        self.peers = peers
    }

    /// Whether no criterion is set (the filter matches every event).
    public var isEmpty: Bool { self.methods == nil && self.users == nil && self.callIDs == nil && self.peers == nil }

    /// Parses the expression language described on the type. Throws `TraceError` of kind `.invalidFilter` naming the
    /// offending term.
    public static func parse(_ expression: String) throws(TraceError) -> TraceFilter {
        var filter = TraceFilter()
        for term in expression.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
            guard let equals = term.firstIndex(of: "=") else {
                throw TraceError(
                    .invalidFilter, "filter term '\(term)' is not key=value (keys: method, user, callid, peer)"
                )
            }
            let key = term[..<equals].lowercased()
            let values = term[term.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false)
                .map(String.init)
            if values.contains(where: \.isEmpty) {
                throw TraceError(.invalidFilter, "filter term '\(term)' has an empty value")
            }
            switch key {
            case "method", "methods":
                for value in values where !value.allSatisfy(Self.isTokenCharacter) {
                    throw TraceError(.invalidFilter, "'\(value)' is not a SIP method name (RFC 3261 §25.1 token)")
                }
                filter.methods = (filter.methods ?? []) + values.map { $0.uppercased() }
            case "user", "users":
                filter.users = (filter.users ?? []) + values
            case "callid", "call-id", "callids":
                filter.callIDs = (filter.callIDs ?? []) + values
            case "peer", "peers":
                var peers: [String] = []
                for value in values { peers.append(try Self.canonicalPeer(value)) }
                filter.peers = (filter.peers ?? []) + peers
            default:
                throw TraceError(.invalidFilter, "unknown filter key '\(key)' (keys: method, user, callid, peer)")
            }
        }
        return filter
    }

    /// Whether the filter looks at parsed fields (method, user, Call-ID): then events need a `summary`.
    public var needsSummary: Bool { self.methods != nil || self.users != nil || self.callIDs != nil }

    /// Whether the event passes the filter. Methods, users and Call-IDs are read from `event.summary`: an event
    /// without a summary fails any of those criteria.
    public func matches(_ event: TraceEvent) -> Bool {
        if let methods = self.methods {
            guard let summary = event.summary else { return false }
            let method = summary.method ?? summary.cseqMethod
            guard let method, methods.contains(where: { $0 == method || $0 == method.uppercased() }) else {
                return false
            }
        }
        if let users = self.users {
            guard let summary = event.summary else { return false }
            let candidates = [summary.fromUser, summary.toUser, summary.requestUser]
            guard candidates.contains(where: { candidate in candidate.map(users.contains) ?? false }) else {
                return false
            }
        }
        if let callIDs = self.callIDs {
            guard let callID = event.summary?.callID, callIDs.contains(callID) else { return false }
        }
        if let peers = self.peers {
            guard Self.matchesPeer(event.source, peers) || Self.matchesPeer(event.destination, peers) else {
                return false
            }
        }
        return true
    }

    /// The filter as an expression that `parse` turns back into an equal filter; empty for the empty filter.
    public var description: String {
        var terms: [String] = []
        if let methods = self.methods { terms.append("method=" + methods.joined(separator: ",")) }
        if let users = self.users { terms.append("user=" + users.joined(separator: ",")) }
        if let callIDs = self.callIDs { terms.append("callid=" + callIDs.joined(separator: ",")) }
        if let peers = self.peers { terms.append("peer=" + peers.joined(separator: ",")) }
        return terms.joined(separator: " ")
    }

    // MARK: Helpers

    /// RFC 3261 §25.1 `token` characters.
    private static func isTokenCharacter(_ c: Character) -> Bool {
        guard c.isASCII, let ascii = c.asciiValue else { return false }
        if c.isLetter || c.isNumber { return true }
        return "-.!%*_+`'~".utf8.contains(ascii)
    }

    /// `ip`, `ip:port`, `[ipv6]`, `[ipv6]:port` or a bare IPv6 address, rewritten to the canonical `ip` or
    /// `SocketAddress.hostPort` form.
    static func canonicalPeer(_ text: String) throws(TraceError) -> String {
        var host = text
        var port: Int?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw TraceError(.invalidFilter, "peer '\(text)': missing ']'")
            }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else {
                    throw TraceError(.invalidFilter, "peer '\(text)': expected [ipv6]:port")
                }
                port = p
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let p = Int(text[text.index(after: colon)...]) else {
                throw TraceError(.invalidFilter, "peer '\(text)': the port is not a number")
            }
            port = p
        }
        if let port, !(0...65_535).contains(port) {
            throw TraceError(.invalidFilter, "peer '\(text)': port \(port) is out of range")
        }
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: host, port: port ?? 0)
        } catch {
            throw TraceError(.invalidFilter, "peer '\(text)': '\(host)' is not an IPv4 or IPv6 address")
        }
        guard port != nil else { return address.ipAddress ?? host }
        return address.hostPort
    }

    private static func matchesPeer(_ address: SocketAddress, _ peers: [String]) -> Bool {
        guard let ip = address.ipAddress else { return false }
        let hostPort = address.hostPort
        return peers.contains { $0 == ip || $0 == hostPort }
    }
}
