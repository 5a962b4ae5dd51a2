// SIPProxyServer: the composition root. Builds the transport, the SIP core and their event loop, and runs as a
// swift-service-lifecycle Service until graceful shutdown (SIGTERM/SIGINT through the ServiceGroup).

import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The proxy as a Service.
public final class SIPProxyServer: Service, Sendable {
    public let configuration: ProxyConfiguration
    private let logger: Logger
    private let onReady: @Sendable ([Listener]) -> Void

    /// - Parameter onReady: called once every listener is bound (the banner of `sipctl serve`).
    public init(
        configuration: ProxyConfiguration,
        logger: Logger,
        onReady: @escaping @Sendable ([Listener]) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.onReady = onReady
    }

    public func run() async throws {
        // A bad certificate or key is a configuration error: reported before anything starts.
        let tlsContext = try self.makeTLSContext()
        let tlsClientContext = try self.makeTLSClientContext()
        // One shard per worker: an event loop with its own UDP sockets, transactions and timers (issue 11). The
        // registrar, forwarding rules and journal are shared; the Call-ID picks the shard of every message.
        let workers = max(1, self.configuration.workers)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: workers)
        let loops = Array(group.makeIterator())
        // /health answers 503 from the first moment, so a load balancer waits for the listeners (issue 16).
        var metricsServer: MetricsServer?
        var hep: HEPSender?
        do {
            if let address = self.configuration.metrics {
                metricsServer = try await MetricsServer.start(at: address, group: group, logger: self.logger)
            }
            if let settings = self.configuration.hep { hep = try await HEPSender.start(settings, logger: self.logger) }
        } catch {
            await metricsServer?.close()
            try? await group.shutdownGracefully()
            throw error
        }
        // The transport's one trace tap feeds the pcap ring and, as sinks, HEP.
        let recorder = TraceRecorder(logger: self.logger, sinks: hep.map { [$0] } ?? [])
        var journal: CallJournal?
        var journalDatabase: JournalDatabaseWriter?
        var persistence: RegistrationPersistence?
        var control: ControlServer?
        var metrics: ProxyMetrics?
        var hangup: DispatchSourceSignal?
        defer { hangup?.cancel() }
        func closeAll() async {
            await control?.close()
            metrics?.stopProbes()
            await metricsServer?.close()
            recorder.shutdown()
            await hep?.shutdown()
            journal?.close()
            // After the journal: its last records are queued for the database before the copy stops.
            journalDatabase?.close()
            // After the shards stopped: the last registrar changes are written before the file closes.
            persistence?.close()
        }
        let registry = ConnectionRegistry()
        let transports = loops.map { loop in
            TransportManager(
                eventLoop: loop,
                parser: SIPParser(maxMessageSize: self.configuration.limits.maxMessageSize),
                limits: self.configuration.limits,
                destinations: DestinationPolicy.forLocalInterfaces(),
                logger: self.logger,
                tap: recorder,
                registry: registry
            )
        }
        func closeTransports() async {
            for transport in transports { await transport.close() }
        }
        var cores: [ProxyCore] = []
        do {
            // The sockets first: a proxy that cannot have its address (another one runs there) stops before it
            // touches the journal or the traces, which may be that other proxy's.
            // No --listen at all: every local IPv4 address; only tls: listeners given: TLS alone.
            let addresses =
                self.configuration.listen.isEmpty && self.configuration.tlsListen.isEmpty
                ? ProxyConfiguration.defaultListenAddresses() : self.configuration.listen
            if workers > 1 {
                // SO_REUSEPORT would let another process share the port unnoticed: it must be free first.
                for address in addresses { try UDPPortProbe.ensureFree(address) }
            }
            // The first shard binds UDP, TCP and TLS (accepting for every shard); the others a UDP socket each on the
            // same (actual) addresses.
            try await transports[0].bind(
                addresses, tls: self.configuration.tlsListen, tlsContext: tlsContext, tlsClientContext: tlsClientContext,
                sharedUDP: workers > 1, acceptingFor: transports, group: group
            )
            let first = try await loops[0].submit { transports[0].listeners }.get()
            let bound = first.filter { $0.transport == .udp }.map(\.address)
            for transport in transports.dropFirst() {
                try await transport.bind(bound, tlsClientContext: tlsClientContext, sharedUDP: true, udpOnly: true)
                try await transport.adopt(streamListeners: first)
            }
            var interrupted: [CallRecord] = []
            if let journalConfiguration = self.configuration.journal {
                let opened = try CallJournal(configuration: journalConfiguration)
                journal = opened
                // Calls a killed run left in progress are journaled as interrupted before anything new.
                interrupted = try opened.recover()
                if !interrupted.isEmpty {
                    self.logger.notice("journaled \(interrupted.count) call(s) interrupted by the previous run")
                }
            }
            if self.configuration.trace != nil {
                // Blocks until the first file is open: fine here, before any traffic.
                try recorder.start(self.configuration.traceDefaults)
            }
            let media = try self.mediaResources(listeners: try await loops[0].submit { transports[0].listeners }.get(), recorder: recorder)
            persistence = self.openRegistrations()
            if let journal, let url = self.configuration.journalDatabase {
                // The same owner id as the location store's rows, so one name means one proxy in both tables.
                let instance = persistence?.instanceID ?? self.configuration.instanceID ?? self.ownURI
                let writer = JournalDatabaseWriter(
                    store: try PostgresCallStore(url: url, logger: self.logger), instance: instance, logger: self.logger)
                writer.append(interrupted)
                writer.start()
                journal.copy(to: writer)
                journalDatabase = writer
                self.logger.info("call journal: copied to \(writer.status.location) as \(instance)")
            }
            let shared = SharedServices(
                configuration: self.configuration, logger: self.logger, journal: journal, media: media, loops: loops,
                persistence: persistence
            )
            if let persistence {
                // Before any shard runs: a phone registered before a restart is reachable from the first INVITE.
                let started = NIODeadline.now()
                let kept = shared.registrar.restore(now: .now())
                let ms = (NIODeadline.now() - started).nanoseconds / 1_000_000
                self.logger.info("registrations: \(kept) binding(s) loaded from \(persistence.status.location) in \(ms) ms")
                persistence.start()
            }
            cores = zip(loops, transports).enumerated().map { index, pair in
                var logger = self.logger
                if workers > 1 { logger[metadataKey: "shard"] = "\(index)" }
                return ProxyCore(
                    eventLoop: pair.0,
                    transport: pair.1,
                    configuration: self.configuration,
                    logger: logger,
                    shared: shared,
                    shardIndex: index
                )
            }
            let router = ShardRouter(cores: cores)
            for core in cores { core.start(router: router) }
            if let metricsServer {
                let proxyMetrics = ProxyMetrics(cores: cores, recorder: recorder, hep: hep)
                proxyMetrics.startProbes()
                metricsServer.setMetrics(proxyMetrics)
                metrics = proxyMetrics
            }
            let installPhrases: @Sendable (PhraseBook) -> Void = { [cores] book in
                for core in cores { core.setPhrases(book) }
            }
            let reloader = PhraseReloader(
                selection: self.configuration.phrasesSelection, logger: self.logger, install: installPhrases
            )
            hangup = Self.onHangup { reloader.reload { _ in } }
            control = try await ControlServer.start(
                path: self.configuration.controlSocket,
                group: group,
                dispatcher: ProxyControl(
                    cores: cores,
                    transports: transports,
                    startedAt: .now(),
                    phraseReloader: reloader,
                    recorder: recorder,
                    traceDefaults: self.configuration.traceDefaults,
                    journalDatabase: journalDatabase
                ),
                logger: self.logger
            )
            let listeners = try await loops[0].submit { transports[0].listeners }.get()
            metricsServer?.setReady(true)
            self.onReady(listeners)
            // Suspends until the ServiceGroup starts a graceful shutdown (SIGTERM/SIGINT).
            try? await gracefulShutdown()
            metricsServer?.setReady(false)
            self.logger.info("shutting down")
            for core in cores { await core.stop() }
        } catch {
            await closeTransports()
            await closeAll()
            try? await group.shutdownGracefully()
            throw error
        }
        // Sockets first, so nothing new arrives; then the trace file and the journal are flushed and closed.
        await closeTransports()
        await closeAll()
        try? await group.shutdownGracefully()
    }

    /// The location backend (`--registrations`), opened and ready to load; nil for memory only, or when it
    /// cannot be opened at all (logged: the proxy then runs with its registrations in memory, never fails to start).
    private func openRegistrations() -> RegistrationPersistence? {
        guard let storage = self.configuration.registrations else { return nil }
        do {
            let store = try storage.makeStore(
                instanceID: self.configuration.instanceID, ownerURI: self.ownURI, logger: self.logger)
            // A shared store is written sooner than a file (200 ms, not 1 s): with change notices, that delay is
            // most of the time a registration takes to reach the other proxies (issue 16: well within a second).
            let delay: TimeAmount = store is any SharedBindingStore ? .milliseconds(200) : .seconds(1)
            return RegistrationPersistence(store: store, delay: delay, logger: self.logger)
        } catch {
            self.logger.error("registrations: \(error.message); keeping them in memory only")
            return nil
        }
    }

    /// Where other proxies sharing the location store reach this one: `sip:` and the first UDP listener (the
    /// advertised host when set).
    private var ownURI: String {
        guard let listener = self.configuration.listen.first else { return "" }
        let host = self.configuration.advertise ?? listener.ipAddress ?? "127.0.0.1"
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return "sip:\(bracketed):\(listener.port ?? 5060)"
    }

    /// The media relay's port pool and SDP address (`--media relay|nat`): the ports bind to `--media-address`, else
    /// to the first listener that is not loopback (phones on the LAN must reach it), else the first listener; the
    /// SDP names `--advertise` when it is set (the address phones behind NAT see).
    private func mediaResources(listeners: [Listener], recorder: TraceRecorder) throws -> SharedServices.MediaResources? {
        let settings = self.configuration.media
        // The relay's ports serve the conference rooms too.
        guard settings.mode != .direct || !settings.alwaysRelay.isEmpty || self.configuration.conference.hostsRooms
        else { return nil }
        let candidates = listeners.map(\.address).filter { $0.ipAddress != nil }
        let chosen = settings.address
            ?? (candidates.first { !$0.isLoopback } ?? candidates.first)?.ipAddress
        guard let ip = chosen, let bind = try? SocketAddress(ipAddress: ip, port: 0) else {
            throw TransportError(.bindFailed, "no address for the media relay (use --media-address)")
        }
        let advertise = self.configuration.advertise.flatMap { (try? SocketAddress(ipAddress: $0, port: 0)) != nil ? $0 : nil }
        let pool = MediaPortPool(range: settings.ports, address: bind)
        self.logger.info("media relay on \(ip) ports \(pool.range.lowerBound)-\(pool.range.upperBound) (\(pool.capacity / 2) streams)")
        return SharedServices.MediaResources(pool: pool, sdpAddress: advertise ?? ip, recorder: recorder)
    }

    /// The TLS server context from the configured PEM files, nil without TLS listeners.
    private func makeTLSContext() throws -> NIOSSLContext? {
        guard !self.configuration.tlsListen.isEmpty, let certificate = self.configuration.tlsCertificate,
            let key = self.configuration.tlsKey
        else { return nil }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            guard !chain.isEmpty else {
                throw TransportError(.bindFailed, "no certificate in \(certificate)")
            }
            let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
            return try NIOSSLContext(configuration: tls)
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError(.bindFailed, "cannot load the TLS certificate \(certificate) or key \(key): \(error)")
        }
    }

    /// The TLS client context for connections the proxy opens itself (RFC 3261 §26.2: a `sips:` or
    /// `;transport=tls` target), nil without TLS listeners (a TLS request needs one: its Via names it, and the
    /// answers come back on the connection). The proxy's certificate goes along as the client certificate, so two
    /// proxies can authenticate each other (RFC 5922 §7.2). Targets reach the transport as addresses, so the
    /// certificate must name the address connected to (an IP subjectAltName, RFC 5922 §7.1's check made against
    /// what the proxy knows), besides chaining to the trust store: a certificate any CA issued for another name
    /// does not pass.
    private func makeTLSClientContext() throws -> NIOSSLContext? {
        guard !self.configuration.tlsListen.isEmpty else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = self.configuration.tlsVerify ? .fullVerification : .none
        do {
            if let ca = self.configuration.tlsCA {
                let roots = try NIOSSLCertificate.fromPEMFile(ca)
                guard !roots.isEmpty else { throw TransportError(.bindFailed, "no certificate in \(ca)") }
                tls.trustRoots = .certificates(roots)
            }
            if let certificate = self.configuration.tlsCertificate, let key = self.configuration.tlsKey {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            return try NIOSSLContext(configuration: tls)
        } catch let error as TransportError {
            throw error
        } catch {
            throw TransportError(.bindFailed, "cannot load the TLS trust store \(self.configuration.tlsCA ?? "(system)"): \(error)")
        }
    }

    /// SIGHUP reloads the phrase file (the classic daemon convention).
    private static func onHangup(_ action: @escaping @Sendable () -> Void) -> DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler(handler: action)
        source.resume()
        return source
    }
}

