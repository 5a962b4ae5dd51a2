// DNSSettings: the resolver's configuration (`sipctl serve --dns`, `--dns-failover-timeout`, YAML `dns:`).

import NIOCore

/// How the proxy resolves domain names (RFC 3263).
public struct DNSSettings: Sendable {
    /// Name servers; nil reads /etc/resolv.conf at start (`--dns IP[:PORT]` overrides, repeatable).
    public var servers: [SocketAddress]?
    /// Wait for one answer from one server (resolv.conf's `timeout`, lower: a SIP request is waiting).
    public var queryTimeout: TimeAmount = .seconds(2)
    /// Rounds over the server list before a question counts as failed (resolv.conf's `attempts`).
    public var attempts = 2
    /// RFC 3263 §4.3: when a target gives no response at all for this long and more targets remain, the request
    /// goes to the next one. Well below Timer B (32 s), so a dead first SRV target costs this, not the whole
    /// transaction; long enough for a loaded server across the Internet to send its 100 Trying. Default 5 s.
    public var failoverTimeout: TimeAmount = .seconds(5)
    /// Answers kept at most (positive and negative).
    public var cacheSize = 4096

    public init() {}

    /// The servers in force: configured, else /etc/resolv.conf's.
    public var effectiveServers: [SocketAddress] { self.servers ?? ResolvConf.servers() }

    /// Parses a `--dns` value: `IP`, `IP:PORT` or `[IPv6]:PORT` (port 53 by default).
    public static func parseServer(_ text: String) throws -> SocketAddress {
        guard let (host, port) = SIPGrammar.splitHostPort(Substring(text)) else {
            throw ConfigurationError("invalid --dns '\(text)': expected IP, IP:PORT or [IPv6]:PORT")
        }
        if let port, !(1...65_535).contains(port) {
            throw ConfigurationError("invalid --dns '\(text)': port \(port) is out of range (1-65535)")
        }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        guard let address = try? SocketAddress(ipAddress: bare, port: port ?? 53) else {
            throw ConfigurationError("invalid --dns '\(text)': '\(bare)' is not an IP address")
        }
        return address
    }

    func validate() throws {
        guard self.failoverTimeout >= .milliseconds(100), self.failoverTimeout <= .seconds(32) else {
            throw ConfigurationError("the DNS failover timeout must be between 100 ms and 32 s (Timer B)")
        }
        guard self.queryTimeout >= .milliseconds(10), self.attempts >= 1, self.attempts <= 10, self.cacheSize >= 1
        else { throw ConfigurationError("invalid DNS query settings") }
    }
}

extension DNSSettings {
    /// `--dns-failover-timeout`: `1500ms`, `2s` or plain seconds (`2`), between 100 ms and 32 s.
    public static func parseTimeout(_ text: String, source: String) throws -> TimeAmount {
        let t = text.trimmingSIPWhitespace().lowercased()
        let amount: TimeAmount?
        if t.hasSuffix("ms") {
            amount = DurationText.positiveInteger(String(t.dropLast(2))).map { .milliseconds(Int64(min($0, 1 << 40))) }
        } else {
            amount = DurationText.parse(t).map { .seconds(Int64(min($0, 1 << 30))) }
        }
        guard let amount, amount >= .milliseconds(100), amount <= .seconds(32) else {
            throw ConfigurationError("invalid \(source) '\(text)': between 100ms and 32s (e.g. 5s or 1500ms)")
        }
        return amount
    }
}
