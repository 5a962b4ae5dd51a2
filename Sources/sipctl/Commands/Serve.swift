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
            the call journal, the control socket) go into the current directory.
            """
    )

    @Option(name: .long, help: "Address to listen on (UDP and TCP), as IP:PORT. Repeatable.")
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

    @Option(name: .long, help: "Shortest registration accepted in seconds (shorter ones get 423).")
    var minExpires: Int?

    @Option(name: .long, help: "Longest registration granted in seconds.")
    var maxExpires: Int?

    @Option(name: .long, help: "Registration length when the phone asks for none, in seconds.")
    var defaultExpires: Int?

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("invalid --log-level '\(logLevel)'")
        }
    }

    func run() async throws {
        var settings = ProxyConfiguration()
        var level = Logger.Level.info
        do {
            if let config {
                try await Self.apply(file: config, to: &settings, level: &level)
            }
            if !self.listen.isEmpty {
                settings.listen = try self.listen.flatMap { try ProxyConfiguration.parseListen($0) }
            }
            if !self.domain.isEmpty { settings.domains = self.domain }
            if let advertise { settings.advertise = advertise }
            if let minExpires { settings.registrar.minExpires = minExpires }
            if let maxExpires { settings.registrar.maxExpires = maxExpires }
            if let defaultExpires { settings.registrar.defaultExpires = defaultExpires }
            if let logLevel, let parsed = Logger.Level(rawValue: logLevel) { level = parsed }
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
        let logger = Logger(label: "sipproxy")
        let server = SIPProxyServer(configuration: settings, logger: logger) { listeners in
            var banner = "SIPProxy listening on:\n"
            for listener in listeners { banner += "  \(listener)\n" }
            banner += "SIPProxy ready\n"
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

    /// Reads the YAML file through swift-configuration. Keys: `listen` (list), `domains` (list), `advertise`,
    /// `log_level`, `registrar.min_expires`, `registrar.max_expires`, `registrar.default_expires`.
    static func apply(file path: String, to settings: inout ProxyConfiguration, level: inout Logger.Level)
        async throws
    {
        let provider: FileProvider<YAMLSnapshot>
        do {
            provider = try await FileProvider<YAMLSnapshot>(filePath: FilePath(path))
        } catch {
            throw ConfigurationError("cannot read config file '\(path)': \(error)")
        }
        let reader = ConfigReader(provider: provider)
        if let listen = reader.stringArray(forKey: "listen") {
            settings.listen = try listen.flatMap { try ProxyConfiguration.parseListen($0) }
        }
        if let domains = reader.stringArray(forKey: "domains") { settings.domains = domains }
        if let advertise = reader.string(forKey: "advertise") { settings.advertise = advertise }
        if let text = reader.string(forKey: "log_level") {
            guard let parsed = Logger.Level(rawValue: text) else {
                throw ConfigurationError("invalid log_level '\(text)' in \(path)")
            }
            level = parsed
        }
        if let v = reader.int(forKey: "registrar.min_expires") { settings.registrar.minExpires = v }
        if let v = reader.int(forKey: "registrar.max_expires") { settings.registrar.maxExpires = v }
        if let v = reader.int(forKey: "registrar.default_expires") { settings.registrar.defaultExpires = v }
    }
}
