// TransactionLayer: runs the pure transaction machines (RFC 3261 §17) against the transport and the event loop's
// timer wheel (`LoopTimers`). It is the only place in the SIP core that schedules anything; the machines never see a clock.

import Logging
import NIOCore

/// Who a client transaction reports to, in the TU's own terms: opaque to the layer.
enum ClientOwner {
    /// Branch `index` of the request of server transaction `server` (RFC 3261 §16.6).
    case branch(server: TransactionKey, index: Int)
    /// A CANCEL the proxy sent on a branch (§16.10): its 200 is absorbed.
    case cancel
    /// A request the proxy sent as a UA (a conference room's BYE or NOTIFY): its responses are absorbed.
    case uac
    /// The INVITE a conference room sent to bring in a referred party (RFC 4579 §5.5), by its Call-ID.
    case referral(callID: String)
}

/// Callbacks from transactions to the proxy core (the "TU" of RFC 3261 §17).
protocol TransactionUser: AnyObject {
    func transactionLayer(_ layer: TransactionLayer, clientResponse response: SIPResponse, owner: ClientOwner)
    /// Timer B/F fired or the transport failed: the TU acts as if 408/503 arrived (§17.1.1.2, §17.1.4).
    func transactionLayer(_ layer: TransactionLayer, clientFailed status: Int, owner: ClientOwner)
    /// An ACK matched an INVITE server transaction in the Accepted state (RFC 6026 §7.1): it acknowledges a 2xx
    /// and is forwarded like any 2xx ACK.
    func transactionLayer(_ layer: TransactionLayer, ackFor2xx ack: SIPRequest, peer: Peer)
    /// A server transaction ended (terminated, or answered statelessly): the TU drops what it kept for it.
    func transactionLayer(_ layer: TransactionLayer, serverEnded key: TransactionKey)
}

/// A server transaction: machine and where its responses go.
final class ServerEntry {
    enum Machine {
        case invite(InviteServerTransaction)
        case nonInvite(NonInviteServerTransaction)
    }

    let key: TransactionKey
    var machine: Machine
    let request: SIPRequest
    /// The peer the request came from, adjusted to where responses must be sent (§18.2.2).
    let destination: Peer
    /// To-tag for responses the proxy itself makes to this request.
    let localTag: String
    var timers: [TransactionTimer: TimerID] = [:]
    /// The last response sent, serialized (kept when the transaction lingers).
    var lastWire: ByteBuffer?

    init(key: TransactionKey, machine: Machine, request: SIPRequest, destination: Peer, localTag: String) {
        self.key = key
        self.machine = machine
        self.request = request
        self.destination = destination
        self.localTag = localTag
    }

    var hasFinalResponse: Bool {
        switch self.machine {
        case .invite(let m): return (m.lastResponse?.statusCode ?? 0) >= 200
        case .nonInvite(let m): return (m.lastResponse?.statusCode ?? 0) >= 200
        }
    }
}

/// A transaction past its final response, kept only for what RFC 3261 §17 still asks of it: resend the final
/// response to a retransmitted request (non-INVITE "Completed", Timer J), absorb INVITE retransmissions (RFC 6026
/// "Accepted", Timer L), pass 2xx retransmissions from other forks up (client "Accepted", Timer M) or absorb late
/// responses (client "Completed", Timer K). It holds the wire bytes it may resend and no parsed message: at
/// 1,000 calls/s some 100,000 transactions are in these states, and a parsed request costs kilobytes.
struct LingeringTransaction {
    /// The final response as sent, resent for each retransmission of the request; nil: retransmissions absorbed.
    let response: ByteBuffer?
    let destination: Peer
    /// Client side: who gets the 2xx responses still arriving (RFC 6026 §8.4).
    let owner: ClientOwner?
    /// When its timer (J, K, L or M) ends it: the entry in `LingerExpiry` that removes exactly this one.
    let expires: NIODeadline
}

/// When lingering transactions end. Each one used to get its own wheel timer, a closure allocated and destroyed
/// per transaction, four per call. Transactions lingering for the same duration end in the order they began, so
/// one queue per duration (Timer J/L/M 64·T1, Timer K T4) in deadline order and one wheel timer for the earliest
/// head do the same work (Kamailio keeps its "wait" list the same way).
struct LingerExpiry {
    struct Entry {
        let due: NIODeadline
        let key: TransactionKey
        let server: Bool
    }

    private(set) var queues: [TimeAmount: CircularBuffer<Entry>] = [:]

    mutating func add(_ key: TransactionKey, server: Bool, due: NIODeadline, duration: TimeAmount) {
        self.queues[duration, default: CircularBuffer(initialCapacity: 1024)].append(Entry(due: due, key: key, server: server))
    }

    /// Removes and returns the entries due at `now`, and the earliest deadline left.
    mutating func takeDue(now: NIODeadline) -> (due: [Entry], next: NIODeadline?) {
        var due: [Entry] = []
        var next: NIODeadline?
        // The durations are copied out first: iterating the dictionary's own keys while changing its queues would
        // keep a second reference to each queue and make every removal copy it.
        for duration in Array(self.queues.keys) {
            while let first = self.queues[duration]?.first, first.due <= now {
                due.append(first)
                self.queues[duration]?.removeFirst()
            }
            if let first = self.queues[duration]?.first { next = min(next ?? first.due, first.due) }
        }
        return (due, next)
    }

    var count: Int { self.queues.values.reduce(0) { $0 + $1.count } }
}

/// A client transaction.
final class ClientEntry {
    enum Machine {
        case invite(InviteClientTransaction)
        case nonInvite(NonInviteClientTransaction)
    }

    let key: TransactionKey
    var machine: Machine
    let destination: Peer
    let owner: ClientOwner
    /// The request's wire form, serialized once and reused for every retransmission.
    let wire: ByteBuffer
    /// Whether the request went out once already: later sends are retransmissions (Timer A/E, §17.1.1.2, §17.1.2.2).
    var sent = false
    var timers: [TransactionTimer: TimerID] = [:]

    init(key: TransactionKey, machine: Machine, destination: Peer, owner: ClientOwner, wire: ByteBuffer) {
        self.key = key
        self.machine = machine
        self.destination = destination
        self.owner = owner
        self.wire = wire
    }
}

/// The transaction tables of one event loop.
///
/// `@unchecked Sendable`: all state is confined to `eventLoop`; timer callbacks are scheduled on it.
final class TransactionLayer: @unchecked Sendable {
    let eventLoop: EventLoop
    let transport: any SIPTransport
    let timers: TransactionTimers
    /// The event loop's timer wheel: every transaction timer lives there (one NIO task for all of them).
    let clock: LoopTimers
    var logger: Logger
    weak var user: TransactionUser?
    /// Observes every message the layer puts on the wire (the proxy core logs them).
    var onSend: ((SIPMessage, Peer) -> Void)?
    /// Request retransmissions that arrived for a transaction in progress or lingering, and requests this layer
    /// sent again on its timers (for `/metrics`).
    private(set) var retransmissions: (received: Int, sent: Int) = (0, 0)

    private(set) var servers: [TransactionKey: ServerEntry] = [:]
    private(set) var clients: [TransactionKey: ClientEntry] = [:]
    /// Transactions past their final response, in compact form (`LingeringTransaction`).
    private var lingeringServers: [TransactionKey: LingeringTransaction] = [:]
    private var lingeringClients: [TransactionKey: LingeringTransaction] = [:]
    /// At most this many lingering transactions per side; past it a transaction ends with its final response
    /// (a retransmission is then handled as a new request), so a flood cannot grow memory without bound.
    var lingeringLimit = 200_000
    /// When each lingering transaction ends, and the one wheel timer armed for the earliest of them.
    private var lingerExpiry = LingerExpiry()
    private var lingerSweep: (id: TimerID, at: NIODeadline)?

    init(eventLoop: EventLoop, transport: any SIPTransport, timers: TransactionTimers, clock: LoopTimers, logger: Logger) {
        self.eventLoop = eventLoop
        self.transport = transport
        self.timers = timers
        self.clock = clock
        self.logger = logger
    }

    // MARK: Server side

    func server(_ key: TransactionKey) -> ServerEntry? { self.servers[key] }

    /// Creates the server transaction for a new request.
    func createServer(key: TransactionKey, request: SIPRequest, destination: Peer, localTag: String) -> ServerEntry {
        self.eventLoop.assertInEventLoop()
        let reliable = destination.transport.isReliable
        let machine: ServerEntry.Machine =
            request.method == .invite
            ? .invite(InviteServerTransaction(request: request, reliable: reliable, timers: self.timers))
            : .nonInvite(NonInviteServerTransaction(request: request, reliable: reliable, timers: self.timers))
        let entry = ServerEntry(
            key: key,
            machine: machine,
            request: request,
            destination: destination,
            localTag: localTag
        )
        self.servers[key] = entry
        return entry
    }

    /// Whether a request retransmission was for a lingering server transaction, and so handled: the final response
    /// resent (non-INVITE, §17.2.2) or the request absorbed (INVITE in "Accepted", RFC 6026 §7.1).
    func absorbRetransmission(_ key: TransactionKey) -> Bool {
        guard let lingering = self.lingeringServers[key] else { return false }
        self.retransmissions.received &+= 1
        if let wire = lingering.response { self.transport.send(wire, to: lingering.destination) }
        return true
    }

    /// Whether an INVITE server transaction with this key has ended in "Accepted" and lingers (a CANCEL for it
    /// gets 200 and changes nothing, §9.2).
    func isLingering(_ key: TransactionKey) -> Bool { self.lingeringServers[key] != nil }

    /// A retransmission of the request arrived (§17.2.1, §17.2.2): the machine resends its last response.
    func retransmission(_ entry: ServerEntry) {
        self.retransmissions.received &+= 1
        self.run(entry, invite: .retransmission, nonInvite: .retransmission)
    }

    /// An ACK matching an INVITE server transaction arrived.
    func ack(_ entry: ServerEntry, _ ack: SIPRequest) {
        self.run(entry, invite: .ack(ack), nonInvite: nil)
    }

    /// The TU sends a response on a server transaction.
    func respond(_ entry: ServerEntry, _ response: SIPResponse) {
        self.run(entry, invite: .sendResponse(response), nonInvite: .sendResponse(response))
    }

    /// Sends a final response once and ends the transaction without its retransmission timers (the proxy's own
    /// answer to an unknown UDP source: see `ProxyCore.reply`). A retransmitted request starts afresh.
    func respondStatelessly(_ entry: ServerEntry, _ response: SIPResponse) {
        self.sendResponse(response, to: entry.destination)
        self.removeServer(entry)
    }

    private func run(
        _ entry: ServerEntry,
        invite: InviteServerTransaction.Event?,
        nonInvite: NonInviteServerTransaction.Event?
    ) {
        switch entry.machine {
        case .invite(var m):
            guard let event = invite else { return }
            let actions = m.handle(event)
            entry.machine = .invite(m)
            for action in actions { self.perform(action, on: entry) }
            if m.state == .accepted { self.linger(entry, response: nil, for: self.timers.timerL) }
        case .nonInvite(var m):
            guard let event = nonInvite else { return }
            let actions = m.handle(event)
            entry.machine = .nonInvite(m)
            for action in actions { self.perform(action, on: entry) }
            if m.state == .completed {
                // Kept in a buffer of its own size: the serializer's 1 KiB would be half empty for 32 s.
                let compact = entry.lastWire.map { wire -> ByteBuffer in
                    var exact = ByteBufferAllocator().buffer(capacity: wire.readableBytes)
                    exact.writeImmutableBuffer(wire)
                    return exact
                }
                self.linger(entry, response: compact, for: self.timers.timerJ(reliable: m.reliable))
            }
        }
    }

    /// Replaces a server transaction that reached "Completed" (non-INVITE) or "Accepted" (INVITE) by its compact
    /// form for the rest of its timer; the TU is told the transaction ended (it has nothing left to decide).
    private func linger(_ entry: ServerEntry, response: ByteBuffer?, for duration: TimeAmount) {
        guard self.servers[entry.key] === entry else { return }
        let key = entry.key
        self.removeServer(entry)
        guard duration > .zero, self.lingeringServers.count < self.lingeringLimit else { return }
        let expires = self.expireLater(key, server: true, after: duration)
        self.lingeringServers[key] = LingeringTransaction(
            response: response, destination: entry.destination, owner: nil, expires: expires
        )
    }

    /// Queues the end of a lingering transaction and makes sure the sweep runs by then; returns its deadline.
    private func expireLater(_ key: TransactionKey, server: Bool, after duration: TimeAmount) -> NIODeadline {
        let due = self.clock.clock() + duration
        self.lingerExpiry.add(key, server: server, due: due, duration: duration)
        self.armLingerSweep(at: due)
        return due
    }

    private func armLingerSweep(at due: NIODeadline) {
        if let sweep = self.lingerSweep, sweep.at <= due { return }
        self.clock.cancel(self.lingerSweep?.id)
        let id = self.clock.schedule(in: max(.zero, due - self.clock.clock())) { [weak self] in
            self?.sweepLingering()
        }
        self.lingerSweep = (id, due)
    }

    /// Ends the lingering transactions whose timer ran out (a key lingering again since is left alone).
    private func sweepLingering() {
        self.lingerSweep = nil
        let (due, next) = self.lingerExpiry.takeDue(now: self.clock.clock())
        for entry in due {
            if entry.server {
                if self.lingeringServers[entry.key]?.expires == entry.due { self.lingeringServers[entry.key] = nil }
            } else if self.lingeringClients[entry.key]?.expires == entry.due {
                self.lingeringClients[entry.key] = nil
            }
        }
        if let next { self.armLingerSweep(at: next) }
    }

    private func perform(_ action: InviteServerTransaction.Action, on entry: ServerEntry) {
        switch action {
        case .send(let response):
            entry.lastWire = self.sendResponse(response, to: entry.destination)
        case .passACKToTU(let ack):
            self.user?.transactionLayer(self, ackFor2xx: ack, peer: entry.destination)
        case .timeout:
            // Timer H: no ACK for a final response (§17.2.1); nothing to report upstream.
            self.logger.debug("no ACK for final response", metadata: ["sip.call_id": "\(entry.request.callID)"])
        case .transportFailure:
            self.logger.debug("transport failure on server transaction", metadata: ["sip.call_id": "\(entry.request.callID)"])
        case .startTimer(let timer, let amount):
            self.schedule(timer, amount, server: entry)
        case .cancelTimer(let timer):
            self.clock.cancel(entry.timers.removeValue(forKey: timer))
        case .terminated:
            self.removeServer(entry)
        }
    }

    private func perform(_ action: NonInviteServerTransaction.Action, on entry: ServerEntry) {
        switch action {
        case .send(let response):
            entry.lastWire = self.sendResponse(response, to: entry.destination)
        case .transportFailure:
            self.logger.debug("transport failure on server transaction", metadata: ["sip.call_id": "\(entry.request.callID)"])
        case .startTimer(let timer, let amount):
            self.schedule(timer, amount, server: entry)
        case .cancelTimer(let timer):
            self.clock.cancel(entry.timers.removeValue(forKey: timer))
        case .terminated:
            self.removeServer(entry)
        }
    }

    private func removeServer(_ entry: ServerEntry) {
        for (_, t) in entry.timers { self.clock.cancel(t) }
        entry.timers.removeAll()
        if self.servers[entry.key] === entry {
            self.servers.removeValue(forKey: entry.key)
            self.user?.transactionLayer(self, serverEnded: entry.key)
        }
    }

    private func schedule(_ timer: TransactionTimer, _ amount: TimeAmount, server entry: ServerEntry) {
        self.clock.cancel(entry.timers.removeValue(forKey: timer))
        let key = entry.key
        entry.timers[timer] = self.clock.schedule(in: amount) { [weak self] in
            guard let self, let entry = self.servers[key] else { return }
            entry.timers.removeValue(forKey: timer)
            self.run(entry, invite: .timerFired(timer), nonInvite: .timerFired(timer))
        }
    }

    @discardableResult
    func sendResponse(_ response: SIPResponse, to peer: Peer) -> ByteBuffer {
        let message = SIPMessage.response(response)
        self.onSend?(message, peer)
        let wire = message.serialize()
        self.transport.send(wire, to: peer)
        return wire
    }

    // MARK: Client side

    /// Starts a client transaction for `request` (already carrying the proxy's Via with `key.branch`).
    func startClient(key: TransactionKey, request: SIPRequest, destination: Peer, owner: ClientOwner) {
        self.eventLoop.assertInEventLoop()
        let reliable = destination.transport.isReliable
        let machine: ClientEntry.Machine =
            request.method == .invite
            ? .invite(InviteClientTransaction(request: request, reliable: reliable, timers: self.timers))
            : .nonInvite(NonInviteClientTransaction(request: request, reliable: reliable, timers: self.timers))
        let message = SIPMessage.request(request)
        self.onSend?(message, destination)
        let entry = ClientEntry(
            key: key,
            machine: machine,
            destination: destination,
            owner: owner,
            wire: message.serialize()
        )
        self.clients[key] = entry
        self.runClient(entry, invite: .start, nonInvite: .start)
    }

    /// Routes a response to its client transaction; false when none matches (§17.1.3), so the core forwards it
    /// statelessly (§16.7: e.g. a 2xx retransmission after the transaction ended).
    func receive(_ response: SIPResponse) -> Bool {
        guard let key = TransactionKey.client(for: response) else { return false }
        guard let entry = self.clients[key] else {
            guard let lingering = self.lingeringClients[key] else { return false }
            // RFC 6026 §8.4: in "Accepted" every 2xx goes to the TU; other late responses are absorbed (§17.1.2.2).
            if response.isSuccess, key.method == .invite, let owner = lingering.owner {
                self.user?.transactionLayer(self, clientResponse: response, owner: owner)
            }
            return true
        }
        self.runClient(entry, invite: .response(response), nonInvite: .response(response))
        return true
    }

    private func runClient(
        _ entry: ClientEntry,
        invite: InviteClientTransaction.Event,
        nonInvite: NonInviteClientTransaction.Event
    ) {
        switch entry.machine {
        case .invite(var m):
            let actions = m.handle(invite)
            entry.machine = .invite(m)
            for action in actions { self.perform(action, on: entry) }
            if m.state == .accepted { self.linger(entry, for: self.timers.timerM) }
        case .nonInvite(var m):
            let actions = m.handle(nonInvite)
            entry.machine = .nonInvite(m)
            for action in actions { self.perform(action, on: entry) }
            if m.state == .completed { self.linger(entry, for: self.timers.timerK(reliable: m.reliable)) }
        }
    }

    /// A client transaction in "Accepted" (INVITE) or "Completed" (non-INVITE) in compact form: no request bytes
    /// (nothing is retransmitted any more), only where late responses go.
    private func linger(_ entry: ClientEntry, for duration: TimeAmount) {
        guard self.clients[entry.key] === entry else { return }
        let key = entry.key
        self.removeClient(entry)
        guard duration > .zero, self.lingeringClients.count < self.lingeringLimit else { return }
        let expires = self.expireLater(key, server: false, after: duration)
        self.lingeringClients[key] = LingeringTransaction(
            response: nil, destination: entry.destination, owner: entry.owner, expires: expires
        )
    }

    private func perform(_ action: InviteClientTransaction.Action, on entry: ClientEntry) {
        switch action {
        case .sendRequest:
            self.sendWire(entry)
        case .sendACK(let ack):
            let message = SIPMessage.request(ack)
            self.onSend?(message, entry.destination)
            self.transport.send(message.serialize(), to: entry.destination)
        case .passToTU(let response):
            self.user?.transactionLayer(self, clientResponse: response, owner: entry.owner)
        case .timeout:
            self.user?.transactionLayer(self, clientFailed: 408, owner: entry.owner)
        case .transportFailure:
            self.user?.transactionLayer(self, clientFailed: 503, owner: entry.owner)
        case .startTimer(let timer, let amount):
            self.schedule(timer, amount, client: entry)
        case .cancelTimer(let timer):
            self.clock.cancel(entry.timers.removeValue(forKey: timer))
        case .terminated:
            self.removeClient(entry)
        }
    }

    private func perform(_ action: NonInviteClientTransaction.Action, on entry: ClientEntry) {
        switch action {
        case .sendRequest:
            self.sendWire(entry)
        case .passToTU(let response):
            self.user?.transactionLayer(self, clientResponse: response, owner: entry.owner)
        case .timeout:
            self.user?.transactionLayer(self, clientFailed: 408, owner: entry.owner)
        case .transportFailure:
            self.user?.transactionLayer(self, clientFailed: 503, owner: entry.owner)
        case .startTimer(let timer, let amount):
            self.schedule(timer, amount, client: entry)
        case .cancelTimer(let timer):
            self.clock.cancel(entry.timers.removeValue(forKey: timer))
        case .terminated:
            self.removeClient(entry)
        }
    }

    private func sendWire(_ entry: ClientEntry) {
        let key = entry.key
        if entry.sent { self.retransmissions.sent &+= 1 }
        entry.sent = true
        self.transport.send(entry.wire, to: entry.destination) { [weak self] _ in
            // Called on the event loop when a TCP connect fails (§17.1.4: transport error).
            guard let self, let entry = self.clients[key] else { return }
            self.runClient(entry, invite: .transportError, nonInvite: .transportError)
        }
    }

    /// Ends a client transaction without a final response (RFC 3261 §9.1: an INVITE whose CANCEL got no 487
    /// within 64*T1 is considered cancelled); a late response then finds no transaction.
    func abandonClient(_ key: TransactionKey) {
        guard let entry = self.clients[key] else { return }
        self.removeClient(entry)
    }

    /// Gives up an INVITE client transaction that is still waiting for its final response (calling or proceeding),
    /// and leaves one that has it alone (it absorbs retransmissions until its own timer ends).
    func abandonClientIfUnanswered(_ key: TransactionKey) {
        guard let entry = self.clients[key], case .invite(let machine) = entry.machine,
            machine.state == .calling || machine.state == .proceeding
        else { return }
        self.removeClient(entry)
    }

    private func removeClient(_ entry: ClientEntry) {
        for (_, t) in entry.timers { self.clock.cancel(t) }
        entry.timers.removeAll()
        if self.clients[entry.key] === entry { self.clients.removeValue(forKey: entry.key) }
    }

    private func schedule(_ timer: TransactionTimer, _ amount: TimeAmount, client entry: ClientEntry) {
        self.clock.cancel(entry.timers.removeValue(forKey: timer))
        let key = entry.key
        entry.timers[timer] = self.clock.schedule(in: amount) { [weak self] in
            guard let self, let entry = self.clients[key] else { return }
            entry.timers.removeValue(forKey: timer)
            self.runClient(entry, invite: .timerFired(timer), nonInvite: .timerFired(timer))
        }
    }

    /// Transactions in progress (not yet past their final response), for the cap, status and tests.
    var count: (server: Int, client: Int) { (self.servers.count, self.clients.count) }
    /// Transactions past their final response, kept compact until their timer ends.
    var lingeringCount: Int { self.lingeringServers.count + self.lingeringClients.count }
}
