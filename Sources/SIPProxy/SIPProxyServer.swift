// SIPProxyServer: the composition root. Builds the transport, the SIP core and their event loop, and runs as a
// swift-service-lifecycle Service until graceful shutdown (SIGTERM/SIGINT through the ServiceGroup).

import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

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
        // One event loop for the whole SIP core: no locks in the core. The transaction key (branch) leaves room
        // for several loops later (one per core) by encoding the owning loop in the branch.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let transport = TransportManager(
            eventLoop: loop,
            parser: SIPParser(maxMessageSize: self.configuration.maxMessageSize),
            tcpIdleTimeout: self.configuration.tcpIdleTimeout,
            logger: self.logger
        )
        let core = ProxyCore(
            eventLoop: loop,
            transport: transport,
            configuration: self.configuration,
            logger: self.logger
        )
        var control: ControlServer?
        do {
            let addresses =
                self.configuration.listen.isEmpty
                ? ProxyConfiguration.defaultListenAddresses() : self.configuration.listen
            try await transport.bind(addresses)
            core.start()
            control = try await ControlServer.start(
                path: self.configuration.controlSocket,
                group: group,
                dispatcher: ProxyControl(core: core, startedAt: .now()),
                logger: self.logger
            )
            let listeners = try await loop.submit { transport.listeners }.get()
            self.onReady(listeners)
            // Suspends until the ServiceGroup starts a graceful shutdown (SIGTERM/SIGINT).
            try? await gracefulShutdown()
            self.logger.info("shutting down")
        } catch {
            await control?.close()
            await transport.close()
            try? await group.shutdownGracefully()
            throw error
        }
        core.stop()
        await control?.close()
        await transport.close()
        try? await group.shutdownGracefully()
    }
}
