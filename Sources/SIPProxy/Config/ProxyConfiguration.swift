// ProxyConfiguration: everything `sipctl serve` can set, with documented defaults; `validate()` throws.

import NIOCore

/// Proxy settings. Plain value; `sipctl serve` fills it from flags and the optional config file.
public struct ProxyConfiguration: Sendable {
    /// Addresses to bind, UDP and TCP each. Empty means port 5060 on every local IPv4 address, so every message
    /// uses a concrete address (never 0.0.0.0 in Via or Record-Route).
    public var listen: [SocketAddress] = []
    /// Addresses to listen on with TLS (`--listen tls:IP:PORT`), with `tlsCertificate` and `tlsKey`.
    public var tlsListen: [SocketAddress] = []
    /// PEM certificate chain and private key of the TLS listeners.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// PEM certificates trusted when the proxy itself connects over TLS (a `sips:` or `;transport=tls` target,
    /// another domain's TLS server); nil trusts the system's store. `tlsVerify` false accepts any certificate
    /// (a closed lab with self-signed certificates): the link is encrypted but its peer unproven.
    public var tlsCA: String?
    public var tlsVerify = true
    /// Extra domain names that count as "this proxy" in Request-URIs and AORs (its addresses always do).
    public var domains: [String] = []
    /// Host written in Via and Record-Route instead of the listener's address (for NAT).
    public var advertise: String?
    public var registrar = RegistrarPolicy()
    public var timers = TransactionTimers.default
    /// Connection caps, message size, TCP timeouts and the per-source rate limit.
    public var limits = TransportLimits()
    /// Whom the proxy forwards for (`--relay`): `local` unless the lab is closed.
    public var relay = RelayPolicy.local
    /// Shards: event loops, each with its own UDP sockets, transactions and timers (`--workers`). One per core.
    public var workers = System.coreCount
    /// Server transactions in progress (not yet answered) at once; past this, new requests get 503 with
    /// Retry-After. Answered transactions that linger to absorb retransmissions count apart (four times this).
    public var maxTransactions = 50_000
    /// Overload control: the queueing delay past which new requests get 503 + Retry-After (`--overload-delay`).
    public var overload = OverloadPolicy()
    /// Users and passwords for digest authentication (`--auth FILE`); nil: no authentication.
    public var auth: UserDirectory?

    /// The realm of digest challenges when the auth file names none: the first domain, else the advertised host,
    /// else the first listening address (what phones have configured as their domain).
    public var realm: String {
        self.auth?.realm ?? self.domains.first ?? self.advertise ?? self.listen.first?.ipAddress ?? "sipproxy"
    }
    /// How often expired bindings are swept.
    public var sweepInterval: TimeAmount = .seconds(5)
    /// Reason phrases (`--phrases sk` or a file); English and relayed phrases untouched by default.
    public var phrases = PhraseBook.standard
    /// What `--phrases` named (a built-in language or a file path), re-read on reload.
    public var phrasesSelection: String?
    /// The trace recorder's settings at start-up; nil starts with recording off (`sipctl trace start` turns it on).
    public var trace: TraceSettings? = TraceSettings()
    /// The group the trace folder and pcap files are shared with (0750/0640); nil keeps them owner-only (0700/0600).
    /// Applies to the start-up recording and to every later `sipctl trace start`.
    public var traceGroup: TraceGroup?

    /// What `sipctl trace start` starts from: the start-up settings (or the defaults), with the trace group.
    public var traceDefaults: TraceSettings {
        var settings = self.trace ?? TraceSettings()
        settings.group = self.traceGroup
        return settings
    }
    /// The call journal; nil for none.
    public var journal: CallJournal.Configuration? = CallJournal.Configuration(
        path: "calls.jsonl",
        textLogPath: "calls.log"
    )
    /// A PostgreSQL database the call journal is copied into as well (`--journal-db postgresql://...`), shared by
    /// several proxies; nil for the file only.
    public var journalDatabase: String?
    /// Where the registrar's bindings persist across restarts (issue 16); nil keeps them in memory only.
    /// `sipctl serve` uses `registrations.sqlite` in the working directory unless told otherwise.
    public var registrations: RegistrationStorage?
    /// This proxy's id as the owner of the flows it holds, in a location backend; nil: the one the backend keeps
    /// (a new backend gets a random one).
    public var instanceID: String?
    /// The control socket's path (relative paths are in the working directory).
    public var controlSocket = ControlServer.defaultPath
    /// Call forwarding rules by user (config `forwarding:`); run-time changes are kept in `forwardingStatePath`.
    public var forwarding: [String: ForwardingRule] = [:]
    /// Where `sipctl forward set/clear` changes are saved and read back at start (nil: not saved).
    /// `sipctl serve` uses `forwarding.json` in the working directory.
    public var forwardingStatePath: String?
    /// Follow 3xx redirects from phones (RFC 3261 §16.5); off relays them to the caller.
    public var followRedirects = true
    /// RTP: phone to phone (the default), or through the proxy's media relay.
    public var media = MediaSettings()
    /// Conference rooms the proxy hosts itself (`--conference 800`).
    public var conference = ConferenceSettings()
    /// Name servers and timeouts for requests to other domains (RFC 3263).
    public var dns = DNSSettings()
    /// Forwards (rules and redirects) one call may take.
    public var forwardingHopLimit = ForwardingPlanner.defaultHopLimit
    /// HEP to a Homer collector (`--hep`); nil sends none.
    public var hep: HEPSettings?
    /// Where `/metrics` and `/health` are served (`--metrics`); nil serves nothing.
    public var metrics: SocketAddress?

    public init() {}

    /// Port 5060 on every local IPv4 address (NIO's device enumeration), loopback included.
    public static func defaultListenAddresses(port: Int = 5060) -> [SocketAddress] {
        let devices = (try? System.enumerateDevices()) ?? []
        var seen = Set<String>()
        var result: [SocketAddress] = []
        for device in devices {
            guard let address = device.address, case .v4 = address, let ip = address.ipAddress, !seen.contains(ip)
            else { continue }
            seen.insert(ip)
            if let a = try? SocketAddress(ipAddress: ip, port: port) { result.append(a) }
        }
        if result.isEmpty, let loopback = try? SocketAddress(ipAddress: "127.0.0.1", port: port) {
            result.append(loopback)
        }
        return result
    }

    /// Adds a `--listen` value: `IP:PORT` (UDP and TCP) or `tls:IP:PORT` (TLS; port 5061 when omitted, RFC 3261
    /// §26.2.2).
    public mutating func addListen(_ text: String) throws {
        if text.lowercased().hasPrefix("tls:") {
            self.tlsListen += try Self.parseListen(String(text.dropFirst(4)), defaultPort: 5061)
        } else {
            self.listen += try Self.parseListen(text)
        }
    }

    /// Parses `IP:PORT`, `[IPv6]:PORT`, or a bare `IP` (port 5060). `0.0.0.0` expands to every local IPv4 address.
    public static func parseListen(_ text: String, defaultPort: Int = 5060) throws -> [SocketAddress] {
        let s = Substring(text)
        guard let (host, port) = SIPGrammar.splitHostPort(s) else {
            // Say what is wrong: a port out of range or not a number is the usual mistake.
            if let colon = text.lastIndex(of: ":"), !text.hasSuffix("]") {
                let portText = text[text.index(after: colon)...]
                if let number = Int(portText) {
                    throw ConfigurationError(
                        "invalid --listen '\(text)': port \(number) is out of range (1-65535)")
                }
                if !portText.isEmpty, !text[..<colon].contains(":") || text.hasPrefix("[") {
                    throw ConfigurationError("invalid --listen '\(text)': port '\(portText)' is not a number")
                }
            }
            throw ConfigurationError("invalid --listen '\(text)': expected IP:PORT, [IPv6]:PORT or IP")
        }
        if let port, !(1...65_535).contains(port) {
            throw ConfigurationError("invalid --listen '\(text)': port \(port) is out of range (1-65535)")
        }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        if bare == "0.0.0.0" { return defaultListenAddresses(port: port ?? defaultPort) }
        do {
            return [try SocketAddress(ipAddress: bare, port: port ?? defaultPort)]
        } catch {
            throw ConfigurationError("invalid --listen '\(text)': '\(bare)' is not an IP address")
        }
    }

    public func validate() throws {
        let r = self.registrar
        guard r.minExpires >= 0, r.maxExpires >= r.minExpires, r.defaultExpires >= r.minExpires,
            r.defaultExpires <= r.maxExpires
        else {
            throw ConfigurationError(
                "registrar expiry limits must satisfy 0 <= min (\(r.minExpires)) <= default (\(r.defaultExpires)) <= max (\(r.maxExpires))"
            )
        }
        if !self.tlsListen.isEmpty && (self.tlsCertificate == nil || self.tlsKey == nil) {
            throw ConfigurationError("a tls: listener needs --tls-cert FILE and --tls-key FILE")
        }
        let l = self.limits
        guard l.maxMessageSize >= 1024, l.maxMessageSize <= 16 << 20 else {
            throw ConfigurationError("max message size must be between 1024 and 16777216 octets")
        }
        guard l.maxConnections >= 1, l.maxConnectionsPerSource >= 1 else {
            throw ConfigurationError("connection limits must be at least 1")
        }
        guard l.rateLimit.limit >= 0, l.rateLimit.window > .zero, l.rateLimit.banTime >= .zero else {
            throw ConfigurationError("invalid rate limit")
        }
        guard self.workers >= 1, self.workers <= 256 else {
            throw ConfigurationError("workers must be between 1 and 256, not \(self.workers)")
        }
        guard self.maxTransactions >= 1 else { throw ConfigurationError("the transaction limit must be at least 1") }
        if let delay = self.overload.queueDelay, delay < .milliseconds(10) || delay > .seconds(30) {
            throw ConfigurationError("the overload delay must be between 10 ms and 30000 ms, or off")
        }
        guard self.overload.retryAfter >= 1, self.overload.retryAfter <= 86_400 else {
            throw ConfigurationError("Retry-After must be between 1 and 86400 seconds")
        }
        guard r.maxContacts >= 1, r.maxBindings >= 1 else {
            throw ConfigurationError("registrar contact and binding limits must be at least 1")
        }
        // RFC 3261 §20.19: an expiry is between 0 and 2**32-1 seconds; larger values are nonsense, not "forever".
        guard r.maxExpires <= RegistrarPolicy.expiresLimit else {
            throw ConfigurationError("registrar max expiry too long: at most \(RegistrarPolicy.expiresLimit) s")
        }
        if let advertise = self.advertise, !SIPGrammar.isValidHost(advertise) {
            throw ConfigurationError("invalid --advertise '\(advertise)'")
        }
        for domain in self.domains where !SIPGrammar.isValidHost(domain) {
            throw ConfigurationError("invalid --domain '\(domain)'")
        }
        for (user, rule) in self.forwarding {
            do throws(ForwardingError) {
                try rule.validate()
            } catch {
                throw ConfigurationError("forwarding rule of \(user): \(error)")
            }
        }
        try self.dns.validate()
        guard self.forwardingHopLimit >= 1 else { throw ConfigurationError("the forwarding hop limit must be >= 1") }
    }
}

/// The one error type of configuration: a bad flag or file value.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
