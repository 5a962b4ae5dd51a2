// EngineHarness: the whole SIP core (transactions, registrar, §16 proxy logic, forwarding) in one process with no
// socket and no sleep. Simulated phones hand text to a fake transport on an `EmbeddedEventLoop`; the clock is a
// `ManualClock` the test moves, after which the core's timer wheel fires what is due (the swift-nio-ssh
// back-to-back pattern, with the network replaced by a list of sent messages).

import Logging
import NIOCore
import NIOEmbedded

@testable import SIPProxy

/// A transport that records what the core sends and lets the test deliver messages as if read from a socket.
final class FakeTransport: SIPTransport {
    let eventLoop: EventLoop
    let listenAddresses: [ListenAddress]
    var onReceive: ((ByteBuffer, Peer) -> Void)?
    var onOversized: ((ByteBuffer, Peer) -> Void)?
    /// Everything sent, in order.
    private(set) var sent: [(message: SIPMessage, peer: Peer)] = []
    /// Remote addresses whose (TCP) connection attempts fail, like a closed port.
    var refusing: Set<SocketAddress> = []
    /// Remote addresses a send to fails before returning (like TransportManager without a listener for them).
    var failingAtOnce: Set<SocketAddress> = []
    var openConnections: Set<ConnectionID> = []
    /// What the overload sampler reads: octets waiting in the (pretend) receive queue, messages read so far.
    var queuedOctets = 0
    var readCount: (messages: Int, octets: Int) = (0, 0)

    init(eventLoop: EventLoop, listen: [ListenAddress]) {
        self.eventLoop = eventLoop
        self.listenAddresses = listen
    }

    func localAddress(for transport: TransportKind, to remote: SocketAddress, preferred: SocketAddress?) -> SocketAddress? {
        self.listenAddresses.first { $0.transport == transport }?.address
    }

    func send(_ buffer: ByteBuffer, to peer: Peer, onFailure: (@Sendable (TransportError) -> Void)?) {
        if self.failingAtOnce.contains(peer.remote) {
            onFailure?(TransportError(.sendFailed, "no listener"))
            return
        }
        if self.refusing.contains(peer.remote) {
            if let onFailure { self.eventLoop.execute { onFailure(TransportError(.sendFailed, "refused")) } }
            return
        }
        guard let message = try? SIPParser().parse(Array(buffer.readableBytesView)) else {
            fatalError("the core sent something unparsable: \(String(buffer: buffer))")
        }
        self.sent.append((message, peer))
    }

    func refusal(_ address: SocketAddress) -> String? { nil }
    func isOpen(_ id: ConnectionID) -> Bool { self.openConnections.contains(id) }
    func logThrottled(_ key: String, _ level: Logger.Level, _ message: String) {}
    func receiveQueueOctets() -> Int { self.queuedOctets }

    func takeSent() -> [(message: SIPMessage, peer: Peer)] {
        defer { self.sent.removeAll() }
        return self.sent
    }
}

/// The core (or several shards of it), their loops, clock and fake network.
final class EngineHarness {
    let clock = ManualClock()
    let loops: [EmbeddedEventLoop]
    let transports: [FakeTransport]
    let cores: [ProxyCore]
    let timers: [LoopTimers]
    let router: ShardRouter
    static let proxyAddress = try! SocketAddress(ipAddress: "127.0.0.10", port: 5060)
    /// Messages the phones have not looked at yet, by remote address.
    private var inbox: [SocketAddress: [SIPMessage]] = [:]

    var core: ProxyCore { self.cores[0] }
    var transport: FakeTransport { self.transports[0] }

    /// - Parameter shards: cores on loops of their own, sharing registrar and forwarding, with messages routed by
    ///   Call-ID as in `sipctl serve --workers N`.
    ///   `dns`: the resolver's exchange (a fake answering from a table; the default would use real sockets).
    init(shards: Int = 1, dns: (any DNSExchange)? = nil, configure: (inout ProxyConfiguration) -> Void = { _ in }) {
        var configuration = ProxyConfiguration()
        configuration.trace = nil
        configuration.journal = nil
        configuration.limits.rateLimit = .off
        configuration.workers = shards
        configure(&configuration)
        var logger = Logger(label: "engine-test")
        logger.logLevel = .critical
        let shared = SharedServices(configuration: configuration, logger: logger, journal: nil)
        let clock = self.clock
        let loops = (0..<shards).map { _ in EmbeddedEventLoop() }
        self.loops = loops
        let transports = loops.map { loop in
            FakeTransport(
                eventLoop: loop,
                listen: [
                    ListenAddress(transport: .udp, address: Self.proxyAddress),
                    ListenAddress(transport: .tcp, address: Self.proxyAddress),
                ]
            )
        }
        self.transports = transports
        let timers = loops.map { LoopTimers(eventLoop: $0, clock: { clock.now }, drivesItself: false) }
        self.timers = timers
        self.cores = (0..<shards).map { index in
            ProxyCore(
                eventLoop: loops[index],
                anyTransport: transports[index],
                configuration: configuration,
                logger: logger,
                shared: shared,
                shardIndex: index,
                timers: timers[index],
                dnsExchange: dns ?? DNSSocketExchange(),
                now: { clock.now }
            )
        }
        self.router = ShardRouter(cores: self.cores)
        for core in self.cores { core.start(router: self.router) }
        self.settle()
    }

    deinit {
        for loop in self.loops { try? loop.syncShutdownGracefully() }
    }

    /// Delivers `text` as if read from `phone`'s socket by shard `shard`, runs the loops, and files what was sent.
    func deliver(_ text: String, from phone: SimulatedPhone, arrivingOn shard: Int = 0) {
        var buffer = ByteBufferAllocator().buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        let peer = Peer(transport: .udp, remote: phone.address, local: Self.proxyAddress)
        self.transports[shard].onReceive?(buffer, peer)
        self.settle()
    }

    /// Moves the clock; due timers fire (Timer A..K, C, no-answer).
    func advance(by amount: TimeAmount) {
        // In steps of at most 100 ms, so retransmission timers fire at their own times, as on a real loop.
        var left = amount
        while left > .zero {
            let step = min(left, .milliseconds(100))
            self.clock.advance(by: step)
            for timers in self.timers { timers.fireDue() }
            self.settle()
            left = left - step
        }
    }

    /// Runs every loop until none has work left (a hand-over queues work on another loop).
    private func settle() {
        for _ in 0..<10 {
            for loop in self.loops { loop.run() }
        }
        for transport in self.transports {
            for (message, peer) in transport.takeSent() { self.inbox[peer.remote, default: []].append(message) }
        }
    }

    /// What `phone` received since it last looked.
    func received(by phone: SimulatedPhone) -> [SIPMessage] {
        defer { self.inbox[phone.address] = [] }
        return self.inbox[phone.address] ?? []
    }

    /// Which shard owns a Call-ID.
    func shard(ofCallID callID: String) -> Int {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        buffer.writeString("OPTIONS sip:x SIP/2.0\r\nCall-ID: \(callID)\r\n\r\n")
        return ShardRouter.shard(of: buffer, count: self.cores.count, default: 0)
    }
}

extension SIPMessage {
    var status: Int? { self.response?.statusCode }
}

/// A phone on the fake network: builds the messages a UA sends (RFC 3261 §8.1, §12, §17) for the tests to deliver.
final class SimulatedPhone {
    let user: String
    let address: SocketAddress
    private var counter = 0

    init(_ user: String, ip: String, port: Int = 5060) {
        self.user = user
        self.address = try! SocketAddress(ipAddress: ip, port: port)
    }

    var ip: String { self.address.ipAddress! }
    var contact: String { "<sip:\(self.user)@\(self.address.hostPort)>" }
    var proxy: String { EngineHarness.proxyAddress.hostPort }

    private func nextBranch() -> String {
        self.counter += 1
        return "z9hG4bK-\(self.user)-\(self.counter)"
    }

    func register(expires: Int = 300) -> String {
        self.request("REGISTER", uri: "sip:\(self.proxy)", to: "<sip:\(self.user)@\(self.proxy)>", callID: "reg-\(self.user)",
                     cseq: self.counter + 1, extra: ["Contact: \(self.contact)", "Expires: \(expires)"])
    }

    /// An INVITE to `callee` (a user at the proxy); `branch` lets a test send a retransmission or a CANCEL.
    func invite(_ callee: String, callID: String, branch: String? = nil, extra: [String] = []) -> String {
        self.request("INVITE", uri: "sip:\(callee)@\(self.proxy)", to: "<sip:\(callee)@\(self.proxy)>", callID: callID,
                     cseq: 1, branch: branch ?? "z9hG4bK-\(callID)", extra: ["Contact: \(self.contact)"] + extra,
                     body: "v=0\r\no=- 1 1 IN IP4 \(self.ip)\r\ns=-\r\nc=IN IP4 \(self.ip)\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
    }

    /// CANCEL of the INVITE sent with `invite(_:callID:)` (same branch, §9.1).
    func cancel(_ callee: String, callID: String) -> String {
        self.request("CANCEL", uri: "sip:\(callee)@\(self.proxy)", to: "<sip:\(callee)@\(self.proxy)>", callID: callID,
                     cseq: 1, branch: "z9hG4bK-\(callID)")
    }

    /// ACK for a non-2xx final response: same branch as the INVITE, To with the response's tag (§17.1.1.3).
    func ackFailure(_ callee: String, callID: String, toTag: String?) -> String {
        self.request("ACK", uri: "sip:\(callee)@\(self.proxy)", to: "<sip:\(callee)@\(self.proxy)>" + (toTag.map { ";tag=\($0)" } ?? ""),
                     callID: callID, cseq: 1, branch: "z9hG4bK-\(callID)")
    }

    /// An in-dialog request (ACK for 2xx, BYE) to the remote target, through the route set (§12.2.1.1).
    func inDialog(_ method: String, target: String, routes: [String], callID: String, toTag: String, cseq: Int,
                  fromTag: String? = nil, to: String) -> String {
        self.request(method, uri: target, to: "\(to);tag=\(toTag)", callID: callID, cseq: cseq,
                     extra: routes.map { "Route: \($0)" }, fromTag: fromTag)
    }

    func request(_ method: String, uri: String, to: String, callID: String, cseq: Int, branch: String? = nil,
                 extra: [String] = [], body: String = "", fromTag: String? = nil) -> String {
        var lines = [
            "\(method) \(uri) SIP/2.0",
            "Via: SIP/2.0/UDP \(self.address.hostPort);branch=\(branch ?? self.nextBranch());rport",
            "Max-Forwards: 70",
            "From: <sip:\(self.user)@\(self.proxy)>;tag=\(fromTag ?? "from-\(self.user)")",
            "To: \(to)",
            "Call-ID: \(callID)",
            "CSeq: \(cseq) \(method == "ACK" || method == "CANCEL" ? method : method)",
        ]
        lines += extra
        if !body.isEmpty { lines.append("Content-Type: application/sdp") }
        lines.append("Content-Length: \(body.utf8.count)")
        return lines.joined(separator: "\r\n") + "\r\n\r\n" + body
    }

    /// A response to `request` as this phone sends it: Vias, From, Call-ID, CSeq copied, To with `tag`, Record-Route
    /// echoed and a Contact on dialog-creating responses (§8.2.6, §12.1.1).
    func respond(to request: SIPRequest, _ status: Int, _ reason: String, tag: String? = nil, extra: [String] = []) -> String {
        var lines = ["SIP/2.0 \(status) \(reason)"]
        for via in request.headers.values("via") { lines.append("Via: \(via)") }
        lines.append("From: \(request.headers["from"] ?? "")")
        let to = request.headers["to"] ?? ""
        lines.append("To: \(to)\(tag.map { to.contains(";tag=") ? "" : ";tag=\($0)" } ?? "")")
        lines.append("Call-ID: \(request.callID)")
        lines.append("CSeq: \(request.cseq.number) \(request.cseq.method.rawValue)")
        if status > 100 && status < 300 {
            for rr in request.headers.values("record-route") { lines.append("Record-Route: \(rr)") }
            lines.append("Contact: \(self.contact)")
        }
        lines += extra
        lines.append("Content-Length: 0")
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }
}
