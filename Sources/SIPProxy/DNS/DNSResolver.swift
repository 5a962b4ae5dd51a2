// DNSResolver: a stub resolver (RFC 1035 §7) on one event loop: questions go to the configured servers over UDP,
// truncated answers are asked again over TCP (RFC 7766 §5), every answer must match the query's id and question
// (RFC 5452 §4.3), each query has a fresh random id and a fresh socket with an OS-chosen (randomized) port
// (RFC 5452 §9.2), and answers are cached for their TTL. It also drives the RFC 3263 locator.

import Logging
import NIOCore

/// Sends one query and returns the raw answer bytes; the resolver's only contact with sockets
/// (`DNSSocketExchange` in Transport/, fakes in tests).
public protocol DNSExchange: Sendable {
    /// One UDP query; the future has the first datagram from `server` that `accept` takes, or fails on timeout.
    func udp(
        _ query: [UInt8], to server: SocketAddress, timeout: TimeAmount, on loop: EventLoop,
        accept: @escaping @Sendable ([UInt8]) -> Bool
    ) -> EventLoopFuture<[UInt8]>
    /// One query over TCP (two-octet length prefix, RFC 1035 §4.2.2).
    func tcp(_ query: [UInt8], to server: SocketAddress, timeout: TimeAmount, on loop: EventLoop) -> EventLoopFuture<[UInt8]>
}

/// The resolver of one shard.
///
/// `@unchecked Sendable`: all state (cache, questions in flight) is touched on `eventLoop` only.
final class DNSResolver: @unchecked Sendable {
    let eventLoop: EventLoop
    let servers: [SocketAddress]
    let settings: DNSSettings
    private let exchange: any DNSExchange
    private let now: @Sendable () -> NIODeadline
    private let logger: Logger
    private(set) var cache: DNSCache
    /// The same question asked twice while the first is out shares its answer (one query on the wire).
    private var inFlight: [DNSQuestion: EventLoopFuture<DNSLookupResult>] = [:]
    /// Queries sent (for tests and status).
    private(set) var queriesSent = 0

    init(
        eventLoop: EventLoop, servers: [SocketAddress], settings: DNSSettings, exchange: any DNSExchange,
        logger: Logger, now: @escaping @Sendable () -> NIODeadline = { .now() }
    ) {
        self.eventLoop = eventLoop
        self.servers = servers
        self.settings = settings
        self.exchange = exchange
        self.logger = logger
        self.now = now
        self.cache = DNSCache(capacity: settings.cacheSize)
    }

    // MARK: Lookups

    /// The answer to one question: from the cache, else from the servers. The future never fails.
    func lookup(_ question: DNSQuestion) -> EventLoopFuture<DNSLookupResult> {
        self.eventLoop.assertInEventLoop()
        if let cached = self.cache.lookup(question, now: self.now()) {
            switch cached {
            case .records(let records): return self.eventLoop.makeSucceededFuture(.records(records))
            case .nameError: return self.eventLoop.makeSucceededFuture(.nameError)
            }
        }
        if let pending = self.inFlight[question] { return pending }
        let future = self.attempt(question, 0, lastError: DNSError(.timeout, "no server"))
        self.inFlight[question] = future
        future.whenComplete { _ in self.inFlight[question] = nil }
        return future
    }

    /// Attempt `n`: server `n % count`, so every server is tried once per round (resolv.conf's rotation).
    private func attempt(_ question: DNSQuestion, _ n: Int, lastError: DNSError) -> EventLoopFuture<DNSLookupResult> {
        guard !self.servers.isEmpty, n < self.servers.count * self.settings.attempts else {
            self.logger.debug("dns: \(question) failed: \(lastError)")
            return self.eventLoop.makeSucceededFuture(.failure(lastError))
        }
        let server = self.servers[n % self.servers.count]
        let id = UInt16.random(in: 0...UInt16.max)
        let query: [UInt8]
        do throws(DNSError) {
            query = try DNSMessage.query(id: id, question)
        } catch {
            return self.eventLoop.makeSucceededFuture(.failure(error))
        }
        self.queriesSent += 1
        let timeout = self.settings.queryTimeout
        return self.exchange.udp(query, to: server, timeout: timeout, on: self.eventLoop) { bytes in
            (try? DNSMessage(decoding: bytes))?.answers(id: id, question) ?? false
        }
        .flatMap { bytes -> EventLoopFuture<[UInt8]> in
            // RFC 7766 §5 / RFC 1035 §4.2.1: TC set: the whole answer is asked for over TCP.
            guard let message = try? DNSMessage(decoding: bytes), message.isTruncated else {
                return self.eventLoop.makeSucceededFuture(bytes)
            }
            self.logger.debug("dns: answer to \(question) truncated (TC), asking \(server.hostPort) over TCP")
            return self.exchange.tcp(query, to: server, timeout: timeout, on: self.eventLoop)
        }
        .flatMapThrowing { bytes -> DNSLookupResult in
            let message = try DNSMessage(decoding: bytes)
            guard message.answers(id: id, question), !message.isTruncated else {
                throw DNSError(.truncated, "from \(server.hostPort)")
            }
            return try self.interpret(message, question)
        }
        .flatMapError { error in
            let dnsError = error as? DNSError ?? DNSError(.transport, "\(error)")
            return self.attempt(question, n + 1, lastError: dnsError)
        }
    }

    /// The records a good answer holds for `question` (CNAMEs followed inside the answer, RFC 1034 §3.6.2), stored
    /// in the cache. SERVFAIL, REFUSED and other codes throw, so the next server is asked.
    private func interpret(_ message: DNSMessage, _ question: DNSQuestion) throws -> DNSLookupResult {
        let result: DNSCache.Answer
        switch message.rcode {
        case DNSMessage.noError:
            var names: Set<String> = [question.name]
            for _ in 0..<8 {
                let more = message.answers.compactMap { record -> String? in
                    guard names.contains(record.name), case .cname(let target) = record.data else { return nil }
                    return target
                }
                let before = names.count
                names.formUnion(more)
                if names.count == before { break }
            }
            result = .records(message.answers.filter { $0.type == question.type && names.contains($0.name) })
        case DNSMessage.nameError:
            result = .nameError
        default:
            throw DNSError(.serverFailure(rcode: message.rcode))
        }
        self.cache.store(question, result, message: message, now: self.now())
        switch result {
        case .records(let records): return .records(records)
        case .nameError: return .nameError
        }
    }

    // MARK: RFC 3263

    /// Runs the locator to its end: the targets in the order to try them (empty when there are none).
    func locate(_ locator: SIPServerLocator) -> EventLoopFuture<(targets: [SIPServerLocator.Target], failed: Bool)> {
        let run = LocatorRun(locator)
        return self.drive(run, run.machine.start())
    }

    private func drive(
        _ run: LocatorRun, _ step: SIPServerLocator.Step
    ) -> EventLoopFuture<(targets: [SIPServerLocator.Target], failed: Bool)> {
        switch step {
        case .done(let targets, let failed):
            return self.eventLoop.makeSucceededFuture((targets, failed))
        case .lookup(let questions):
            let answers = questions.map { question in self.lookup(question).map { (question, $0) } }
            return EventLoopFuture.whenAllSucceed(answers, on: self.eventLoop).flatMap { pairs in
                let next = run.machine.next(Dictionary(pairs, uniquingKeysWith: { a, _ in a }))
                return self.drive(run, next)
            }
        }
    }

    /// The locator's state across the asynchronous steps. `@unchecked Sendable`: used on the resolver's loop only.
    private final class LocatorRun: @unchecked Sendable {
        var machine: SIPServerLocator
        init(_ machine: SIPServerLocator) { self.machine = machine }
    }
}
