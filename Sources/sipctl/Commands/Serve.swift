// `sipctl serve`: builds a ProxyConfiguration from flags and an optional YAML file and runs the proxy in a
// ServiceGroup (SIGTERM and SIGINT shut it down gracefully).

import ArgumentParser
import Configuration
import Foundation
import Logging
import NIOCore
import SIPProxy
import ServiceLifecycle
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the SIP proxy and registrar.",
        discussion: """
            Without --listen, listens on UDP and TCP port 5060 of every local IPv4 address. Runtime files (traces/, \
            the call journal, registrations.sqlite, the control socket) go into the current directory.

            EXAMPLES:
              sipctl serve
              sipctl serve --listen 192.168.1.10:5060 --phrases sk
              sipctl serve --auth users.yaml
              sipctl serve --listen tls:10.0.0.1:5061 --tls-cert c.pem --tls-key k.pem
              sipctl serve --config proxy.yaml --workers 2
              sipctl serve --hep udp:10.0.0.5:9060 --hep-id 2001 --metrics 127.0.0.1:9090
            """
    )

    @Option(name: .long, help: "Address to listen on (UDP and TCP), as IP:PORT, or tls:IP:PORT for SIP over TLS. Repeatable.")
    var listen: [String] = []

    @Option(name: .long, help: "Extra domain served by the registrar (its own addresses always are). Repeatable.")
    var domain: [String] = []

    @Option(name: .long, help: "Host to write in Via and Record-Route instead of the listening address (NAT).")
    var advertise: String?

    @Option(name: .long, help: "Control socket path (default: $SIPPROXY_SOCKET or ./sipproxy.sock).")
    var socket: String?

    @Option(name: .long, help: "YAML configuration file; flags override its values.")
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String?

    @Option(name: .long, help: "Reason phrases: a built-in language (en, sk) or a YAML phrase file.")
    var phrases: String?

    @Flag(name: .long, help: "Relay phones' reason phrases unchanged (only the proxy's own responses use the table).")
    var keepRelayedPhrases = false

    @Option(name: .long, help: "Trace directory (default: traces).")
    var traceDir: String?

    @Flag(name: .long, help: "Start with trace recording off (`sipctl trace start` turns it on).")
    var noTrace = false

    @Option(name: .long, help: "Rotate trace files at this size (e.g. 10MB).")
    var traceMaxSize: String?

    @Option(name: .long, help: "Keep at most this many trace files.")
    var traceMaxFiles: Int?

    @Option(name: .long, help: "Rotate trace files after this long (e.g. 1h).")
    var traceDuration: String?

    @Option(name: .long, help: "Record only matching messages (see `sipctl trace start --help`).")
    var traceFilter: String?

    @Option(name: .long, help: "Trace records reach the disk within this many milliseconds (0: every record).")
    var traceFlushMs: Int?

    @Option(
        name: .long,
        help: "Let this group read the traces (traces/ 0750, pcaps 0640); by default only the owner can (0700/0600)."
    )
    var traceGroup: String?

    @Option(name: .long, help: "Call journal file (JSON Lines; default: calls.jsonl).")
    var journal: String?

    @Flag(name: .long, help: "Keep no call journal.")
    var noJournal = false

    @Option(name: .long, help: "PostgreSQL database several proxies copy their call journal into (postgresql://user@host[:port]/db); the file is kept too.")
    var journalDb: String?

    @Option(name: .long, help: "File keeping the registrations across restarts (SQLite; default: registrations.sqlite), or 'memory'.")
    var registrations: String?

    @Option(name: .long, help: "PostgreSQL database shared by several proxies for the registrations (postgresql://user@host[:port]/db); replaces --registrations.")
    var location: String?

    @Flag(name: .long, help: "Keep the registrations in memory only (lost at restart).")
    var noRegistrationsFile = false

    @Option(name: .long, help: "This proxy's id as owner of its phones' flows in the registrations store (default: the one kept there).")
    var instanceId: String?

    @Option(name: .long, help: "Shortest registration accepted in seconds (shorter ones get 423).")
    var minExpires: Int?

    @Option(name: .long, help: "Longest registration granted in seconds.")
    var maxExpires: Int?

    @Option(name: .long, help: "Registration length when the phone asks for none, in seconds.")
    var defaultExpires: Int?

    @Option(name: .long, help: "PEM certificate (chain) of the tls: listeners.")
    var tlsCert: String?

    @Option(name: .long, help: "PEM private key of the tls: listeners.")
    var tlsKey: String?

    @Option(name: .long, help: "PEM certificates trusted when the proxy connects over TLS itself (default: the system's).")
    var tlsCa: String?

    @Flag(name: .long, help: "Connect over TLS without checking the server's certificate (closed labs only).")
    var tlsNoVerify = false

    @Option(name: .long, help: "Digest authentication: a YAML file with 'users:' then 'name: password' lines (optional 'realm:', 'admins:').")
    var auth: String?

    @Option(name: .long, help: "Whom to forward for: local (own users and domains, registered phones; others get 403) or any (open relay, closed labs only).")
    var relay: String?

    @Option(name: .long, help: "Largest SIP message on TCP in octets (larger: 513 and the connection is closed; default 65535).")
    var maxMessageSize: Int?

    @Option(name: .long, help: "TCP connections open at once (default 2048).")
    var maxConnections: Int?

    @Option(name: .long, help: "TCP connections from one IP address (default 128).")
    var maxConnectionsPerSource: Int?

    @Option(name: .long, help: "Close a TCP connection after this many seconds without a complete message (default 3900).")
    var tcpIdleTimeout: Int?

    @Option(name: .long, help: "Requests per source address: N/SECONDS (default 400/2), or off.")
    var rateLimit: String?

    @Option(name: .long, help: "Seconds a source over the rate limit is ignored (default 60).")
    var rateLimitBan: Int?

    @Option(name: .long, help: "Transactions in progress (not yet answered) at once; more get 503 (default 50000).")
    var maxTransactions: Int?

    @Option(name: .long, help: "Overload control: past this queueing delay in milliseconds, a share of new requests gets 503 at once (default 200), or off.")
    var overloadDelay: String?

    @Option(name: .long, help: "Seconds in the Retry-After of the proxy's 503s (default 5).")
    var retryAfter: Int?

    @Option(name: .long, help: "Shards: event loops with their own UDP sockets, one per core (default: the number of cores).")
    var workers: Int?

    @Option(name: .long, help: "Contacts per user (default 10).")
    var maxContacts: Int?

    @Option(name: .long, help: "Bindings in the location store in all (default 100000).")
    var maxBindings: Int?

    @Flag(name: .long, help: "Relay 3xx redirects from phones to the caller instead of following their Contacts.")
    var noFollowRedirects = false

    @Option(name: .long, help: "File keeping `sipctl forward` changes across restarts (default: forwarding.json).")
    var forwardingState: String?

    @OptionGroup(title: "Media relay") var mediaOptions: MediaOptions

    @OptionGroup(title: "HEP and metrics") var observabilityOptions: ObservabilityOptions

    @OptionGroup(title: "Other domains (DNS, RFC 3263)") var dnsOptions: DNSOptions

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("invalid --log-level '\(logLevel)': one of \(levels)")
        }
    }

    func run() async throws {
        var settings = ProxyConfiguration()
        // Registrations survive restarts by default (issue 16); the library's default is memory only.
        settings.registrations = .sqlite(path: "registrations.sqlite")
        var level = Logger.Level.info
        do {
            if let config {
                try await Self.apply(file: config, to: &settings, level: &level)
            }
            if !self.listen.isEmpty {
                settings.listen = []
                settings.tlsListen = []
                for value in self.listen { try settings.addListen(value) }
            }
            if let tlsCert { settings.tlsCertificate = tlsCert }
            if let tlsKey { settings.tlsKey = tlsKey }
            if let tlsCa { settings.tlsCA = tlsCa }
            if self.tlsNoVerify { settings.tlsVerify = false }
            if !self.domain.isEmpty { settings.domains = self.domain }
            if let advertise { settings.advertise = advertise }
            if let minExpires { settings.registrar.minExpires = minExpires }
            if let maxExpires { settings.registrar.maxExpires = maxExpires }
            if let defaultExpires { settings.registrar.defaultExpires = defaultExpires }
            if self.noFollowRedirects { settings.followRedirects = false }
            try self.applyLimits(to: &settings)
            try self.mediaOptions.apply(to: &settings.media)
            try self.mediaOptions.apply(to: &settings.conference)
            try self.observabilityOptions.apply(to: &settings)
            try self.dnsOptions.apply(to: &settings.dns)
            settings.forwardingStatePath = self.forwardingState ?? settings.forwardingStatePath ?? "forwarding.json"
            if let logLevel, let parsed = Logger.Level(rawValue: logLevel) { level = parsed }
            if let phrases { settings.phrasesSelection = phrases }
            if let selection = settings.phrasesSelection {
                do throws(PhraseError) {
                    settings.phrases = try PhraseFile.load(selection) { try String(contentsOfFile: $0, encoding: .utf8) }
                } catch {
                    throw ConfigurationError(error.description)
                }
            }
            if self.keepRelayedPhrases { settings.phrases.rewriteRelayed = false }
            try self.applyTraceAndJournal(to: &settings)
            if let socket {
                settings.controlSocket = socket
            } else if let env = ProcessInfo.processInfo.environment["SIPPROXY_SOCKET"], !env.isEmpty {
                settings.controlSocket = env
            }
            try settings.validate()
        } catch let error as ConfigurationError {
            throw SipCtlError(error.description)
        }

        let logLevel = level
        LoggingSystem.bootstrap { label in ConsoleLogHandler(label: label, level: logLevel) }
        // Log lines are written by a thread of their own; what is queued goes out before the process ends.
        defer { LogWriter.standardError.shutdown() }
        let logger = Logger(label: "sipproxy")
        let relayPolicy = settings.relay
        let authenticates = settings.auth != nil
        if let auth = settings.auth {
            logger.info("digest authentication on: \(auth.passwords.count) user(s), realm \"\(settings.realm)\"")
        }
        let server = SIPProxyServer(configuration: settings, logger: logger) { listeners in
            if !authenticates, listeners.contains(where: { !$0.address.isLoopback }) {
                // The assignment wants registration without authentication; on a reachable address say what
                // that means, once.
                logger.warning(
                    "no authentication: anyone who reaches \(listeners.first { !$0.address.isLoopback }!) can register as any user (--auth FILE turns it on)"
                )
            }
            if relayPolicy == .any {
                logger.warning("--relay any: the proxy forwards requests from anyone to anywhere (open relay)")
            }
            var banner = "SIPProxy listening on:\n"
            for listener in listeners { banner += "  \(listener)\n" }
            banner += "SIPProxy ready\n"
            // What was logged while starting (warnings, a recovered journal) is on stderr before "ready" is.
            LogWriter.standardError.flush()
            // Unbuffered write: scripts and tests wait for the "ready" line.
            let bytes = Array(banner.utf8)
            _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch let error as TransportError {
            throw SipCtlError(error.description)
        } catch let error as ControlError {
            throw SipCtlError(error.description)
        }
    }

    private func applyTraceAndJournal(to settings: inout ProxyConfiguration) throws {
        if self.noTrace {
            settings.trace = nil
        } else {
            let options = TraceStartOptions(
                directory: self.traceDir,
                maxFileSize: try self.traceMaxSize.map { text in
                    guard let v = SizeText.parse(text) else { throw ConfigurationError("invalid --trace-max-size '\(text)'") }
                    return v
                },
                maxFiles: self.traceMaxFiles,
                maxDuration: try self.traceDuration.map { text in
                    guard let v = DurationText.parse(text) else { throw ConfigurationError("invalid --trace-duration '\(text)'") }
                    return v
                },
                flushInterval: self.traceFlushMs,
                filter: self.traceFilter
            )
            do throws(TraceError) {
                settings.trace = try options.apply(to: settings.trace ?? TraceSettings())
            } catch {
                throw ConfigurationError("invalid trace settings: \(error)")
            }
        }
        if let name = self.traceGroup ?? settings.traceGroup?.name {
            guard let group = TraceGroup.named(name) else {
                throw ConfigurationError("unknown group '\(name)' (--trace-group / trace_group)")
            }
            settings.traceGroup = group
        }
        if self.noRegistrationsFile {
            settings.registrations = nil
        } else if let value = self.registrations {
            settings.registrations = try Self.registrationStorage(value, source: "--registrations")
        }
        if let location = self.location, !self.noRegistrationsFile {
            settings.registrations = try Self.locationStorage(location, source: "--location")
        }
        if let instanceId { settings.instanceID = instanceId }
        if self.noJournal {
            settings.journal = nil
        } else if let path = self.journal {
            settings.journal = CallJournal.Configuration(path: path, textLogPath: Self.textLog(for: path))
        }
        if let url = self.journalDb { settings.journalDatabase = try Self.journalDatabase(url, source: "--journal-db") }
        if settings.journalDatabase != nil && settings.journal == nil {
            // The database copy is written behind the file: without the file there is nothing to copy.
            throw ConfigurationError("--journal-db copies the call journal: it cannot be combined with --no-journal")
        }
    }

    /// `postgresql://user@host[:port]/db`: the database the call journal is copied into (issue 16 item 2).
    static func journalDatabase(_ text: String, source: String) throws -> String {
        let t = text.trimmingCharacters(in: .whitespaces)
        do {
            try PostgresCallStore.validate(t)
        } catch {
            throw ConfigurationError("invalid \(source) '\(t)': expected postgresql://user@host[:port]/database")
        }
        return t
    }

    /// Reads and checks the `--auth` file.
    static func loadAuth(_ path: String) throws -> UserDirectory {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("cannot read auth file '\(path)': \((error as NSError).localizedDescription)")
        }
        do throws(AuthError) {
            return try UserDirectory.parse(text, name: path)
        } catch {
            throw ConfigurationError(error.description)
        }
    }

    private func applyLimits(to settings: inout ProxyConfiguration) throws {
        if let auth { settings.auth = try Self.loadAuth(auth) }
        if let relay { settings.relay = try Self.relayPolicy(relay, source: "--relay") }
        if let maxMessageSize { settings.limits.maxMessageSize = maxMessageSize }
        if let maxConnections { settings.limits.maxConnections = maxConnections }
        if let maxConnectionsPerSource { settings.limits.maxConnectionsPerSource = maxConnectionsPerSource }
        if let tcpIdleTimeout { settings.limits.idleTimeout = try Self.seconds(tcpIdleTimeout, "--tcp-idle-timeout") }
        if let rateLimit { try Self.applyRateLimit(rateLimit, source: "--rate-limit", to: &settings.limits.rateLimit) }
        if let rateLimitBan { settings.limits.rateLimit.banTime = try Self.seconds(rateLimitBan, "--rate-limit-ban") }
        if let maxTransactions { settings.maxTransactions = maxTransactions }
        if let overloadDelay { settings.overload.queueDelay = try Self.overloadDelay(overloadDelay, source: "--overload-delay") }
        if let retryAfter { settings.overload.retryAfter = retryAfter }
        if let workers { settings.workers = workers }
        if let maxContacts { settings.registrar.maxContacts = maxContacts }
        if let maxBindings { settings.registrar.maxBindings = maxBindings }
    }

    /// Milliseconds (`200`, `200ms`) or `off`.
    static func overloadDelay(_ text: String, source: String) throws -> TimeAmount? {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t == "off" { return nil }
        let digits = t.hasSuffix("ms") ? String(t.dropLast(2)) : t
        guard let ms = Int(digits), ms >= 10, ms <= 30_000 else {
            throw ConfigurationError("invalid \(source) '\(text)': milliseconds between 10 and 30000, or off")
        }
        return .milliseconds(Int64(ms))
    }

    static func relayPolicy(_ text: String, source: String) throws -> RelayPolicy {
        guard let policy = RelayPolicy(rawValue: text.lowercased()) else {
            throw ConfigurationError("invalid \(source) '\(text)': expected local or any")
        }
        return policy
    }

    /// A whole number of seconds, at most a year (a TimeAmount in nanoseconds must not overflow).
    static func seconds(_ value: Int, _ source: String) throws -> TimeAmount {
        guard value >= 0, value <= 366 * 86_400 else {
            throw ConfigurationError("invalid \(source) \(value): expected 0 to \(366 * 86_400) seconds")
        }
        return .seconds(Int64(value))
    }

    /// `N/SECONDS` (e.g. 400/2), `N` (per second) or `off`.
    static func applyRateLimit(_ text: String, source: String, to policy: inout RateLimitPolicy) throws {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t == "off" || t == "0" {
            policy.limit = 0
            return
        }
        let parts = t.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let limit = Int(parts[0]), limit > 0, limit <= 10_000_000,
            let window = parts.count == 2 ? Int(parts[1]) : 1, window > 0, window <= 3600
        else {
            throw ConfigurationError("invalid \(source) '\(text)': expected REQUESTS/SECONDS (e.g. 400/2) or off")
        }
        policy.limit = limit
        policy.window = .seconds(Int64(window))
    }

    /// `memory` (or an empty value) keeps registrations in memory; anything else is the SQLite file's path.
    static func registrationStorage(_ text: String, source: String) throws -> RegistrationStorage? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty || t.lowercased() == "memory" { return nil }
        return .sqlite(path: t)
    }

    /// `postgresql://user@host[:port]/db` (or `postgres://`): the shared location store (issue 16 item 2).
    static func locationStorage(_ text: String, source: String) throws -> RegistrationStorage {
        let t = text.trimmingCharacters(in: .whitespaces)
        do {
            try PostgresBindingStore.validate(t)
        } catch {
            throw ConfigurationError("invalid \(source) '\(t)': expected postgresql://user@host[:port]/database")
        }
        return .postgres(url: t)
    }

    /// `calls.jsonl` -> `calls.log` beside it.
    static func textLog(for path: String) -> String {
        path.hasSuffix(".jsonl") ? String(path.dropLast(6)) + ".log" : path + ".log"
    }

    /// Reads the YAML file through swift-configuration. Keys: `listen` (list), `domains` (list), `advertise`,
    /// `log_level`, `phrases` (en, sk or a phrase file), `registrations` (file or memory), `instance_id`, `location`,
    /// `journal`, `journal_db` (PostgreSQL URL), `trace.*`, `trace_group`, `registrar.min_expires`,
    /// `registrar.max_expires`, `registrar.default_expires`, `follow_redirects`,
    /// `forwarding_state`, `forwarding_hop_limit`, `forwarding` (user -> always/busy/no_answer/no_answer_after/unavailable).
    static func apply(file path: String, to settings: inout ProxyConfiguration, level: inout Logger.Level)
        async throws
    {
        // Unknown keys and values of the wrong kind are refused first, with their line (the reader would skip them).
        let text = try? String(contentsOfFile: path, encoding: .utf8)
        if let text {
            try ConfigSchema.check(text, name: path)
            // `conferences:` may hold mappings, which the generic reader refuses: read on its own, with lines.
            try ConferenceConfig.apply(yaml: text, name: path, to: &settings.conference)
        }
        let reader: ConfigReader
        do {
            if let text, let rest = ConferenceConfig.withoutConferences(yaml: text) {
                reader = ConfigReader(provider: try YAMLTextProvider(text: rest, name: path))
            } else {
                reader = ConfigReader(provider: try await FileProvider<YAMLSnapshot>(filePath: FilePath(path)))
            }
        } catch {
            throw ConfigurationError("cannot read config file '\(path)': \(error)")
        }
        if let listen = reader.stringArray(forKey: "listen") {
            settings.listen = []
            settings.tlsListen = []
            for value in listen { try settings.addListen(value) }
        }
        if let v = reader.string(forKey: "tls.certificate") { settings.tlsCertificate = v }
        if let v = reader.string(forKey: "tls.key") { settings.tlsKey = v }
        if let v = reader.string(forKey: "tls.ca") { settings.tlsCA = v }
        if let v = reader.bool(forKey: "tls.verify") { settings.tlsVerify = v }
        if let domains = reader.stringArray(forKey: "domains") { settings.domains = domains }
        if let advertise = reader.string(forKey: "advertise") { settings.advertise = advertise }
        if let text = reader.string(forKey: "log_level") {
            guard let parsed = Logger.Level(rawValue: text) else {
                throw ConfigurationError("invalid log_level '\(text)' in \(path)")
            }
            level = parsed
        }
        if let v = reader.string(forKey: "phrases") { settings.phrasesSelection = v }
        if reader.bool(forKey: "trace.enabled") == false { settings.trace = nil }
        if settings.trace != nil {
            if let v = reader.string(forKey: "trace.directory") { settings.trace?.directory = v }
            if let v = reader.int(forKey: "trace.max_files") { settings.trace?.maxFiles = v }
            if let v = reader.string(forKey: "trace.max_size") {
                guard let n = SizeText.parse(v) else { throw ConfigurationError("invalid trace.max_size '\(v)' in \(path)") }
                settings.trace?.maxFileSize = n
            }
            if let v = reader.string(forKey: "trace.duration") {
                guard let n = DurationText.parse(v) else { throw ConfigurationError("invalid trace.duration '\(v)' in \(path)") }
                settings.trace?.maxDuration = n
            }
        }
        // Resolved (and refused when unknown) with the flags, in `applyTraceAndJournal`.
        if let v = reader.string(forKey: "trace_group") { settings.traceGroup = TraceGroup(name: v, id: 0) }
        if let v = reader.string(forKey: "registrations") {
            settings.registrations = try Self.registrationStorage(v, source: "registrations in \(path)")
        }
        if let v = reader.string(forKey: "instance_id") { settings.instanceID = v }
        if let v = reader.string(forKey: "location") {
            settings.registrations = try Self.locationStorage(v, source: "location in \(path)")
        }
        if let v = reader.string(forKey: "journal") {
            settings.journal = CallJournal.Configuration(path: v, textLogPath: Self.textLog(for: v))
        }
        if let v = reader.string(forKey: "journal_db") {
            settings.journalDatabase = try Self.journalDatabase(v, source: "journal_db in \(path)")
        }
        if let v = reader.int(forKey: "registrar.min_expires") { settings.registrar.minExpires = v }
        if let v = reader.int(forKey: "registrar.max_expires") { settings.registrar.maxExpires = v }
        if let v = reader.int(forKey: "registrar.default_expires") { settings.registrar.defaultExpires = v }
        if let v = reader.bool(forKey: "follow_redirects") { settings.followRedirects = v }
        if let v = reader.string(forKey: "auth") { settings.auth = try Self.loadAuth(v) }
        if let v = reader.string(forKey: "relay") { settings.relay = try Self.relayPolicy(v, source: "relay in \(path)") }
        if let v = reader.int(forKey: "limits.max_message_size") { settings.limits.maxMessageSize = v }
        if let v = reader.int(forKey: "limits.max_connections") { settings.limits.maxConnections = v }
        if let v = reader.int(forKey: "limits.max_connections_per_source") { settings.limits.maxConnectionsPerSource = v }
        if let v = reader.int(forKey: "limits.tcp_idle_timeout") {
            settings.limits.idleTimeout = try Self.seconds(v, "limits.tcp_idle_timeout in \(path)")
        }
        if let v = reader.string(forKey: "limits.rate_limit") {
            try Self.applyRateLimit(v, source: "limits.rate_limit in \(path)", to: &settings.limits.rateLimit)
        }
        if let v = reader.int(forKey: "limits.rate_limit_ban") {
            settings.limits.rateLimit.banTime = try Self.seconds(v, "limits.rate_limit_ban in \(path)")
        }
        if let v = reader.int(forKey: "limits.max_transactions") { settings.maxTransactions = v }
        if let v = reader.string(forKey: "limits.overload_delay") {
            settings.overload.queueDelay = try Self.overloadDelay(v, source: "limits.overload_delay in \(path)")
        }
        if let v = reader.int(forKey: "limits.retry_after") { settings.overload.retryAfter = v }
        if let v = reader.int(forKey: "workers") { settings.workers = v }
        if let v = reader.int(forKey: "registrar.max_contacts") { settings.registrar.maxContacts = v }
        if let v = reader.int(forKey: "registrar.max_bindings") { settings.registrar.maxBindings = v }
        if let v = reader.string(forKey: "forwarding_state") { settings.forwardingStatePath = v }
        try MediaOptions.apply(reader: reader, path: path, to: &settings.media)
        try MediaOptions.apply(reader: reader, path: path, to: &settings.conference)
        try ObservabilityOptions.apply(reader: reader, path: path, to: &settings)
        try DNSOptions.apply(reader: reader, path: path, to: &settings.dns)
        if let v = reader.int(forKey: "forwarding_hop_limit") { settings.forwardingHopLimit = v }
        // `forwarding:` maps users to rules: read with the YAML parser (the reader cannot list a section's keys).
        do {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            settings.forwarding = try ForwardingConfig.parse(yaml: text, name: path)
        } catch let error as ForwardingError {
            throw ConfigurationError(error.description)
        } catch {
            throw ConfigurationError("cannot read config file '\(path)': \(error)")
        }
    }
}
