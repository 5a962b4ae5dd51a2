// ProxyCore+DNS: requests for other domains (RFC 3263). The next hop's host is a domain name that is not one of
// the proxy's: the request waits (its server transaction and response context exist, a 100 Trying has gone out)
// while the shard's resolver finds the targets, then goes to the first; the others are the failover list of
// RFC 3263 §4.3, tried on a transport error, a timeout (the per-target `failoverTimeout`, shorter than Timer B)
// or a 503.
//
//     INVITE sip:bob@lab-b.test --> 100 Trying --> NAPTR/SRV/A (async, same loop) --> branch to target 1
//                                                                   target 1 silent/503 --> branch to target 2 ...

import NIOCore

extension ProxyCore {
    /// The URI whose host needs resolving before `target` can be sent: the top Route, else the target, when it
    /// names a domain that is not the proxy's (nil for IP literals, registered contacts and our own domains).
    func domainNextHop(_ request: SIPRequest, target: ForwardTarget) -> SIPURI? {
        guard target.binding == nil, target.resolved.isEmpty else { return nil }
        let uri = request.routes.first?.uri ?? target.uri
        let host = SIPURI(host: uri.maddr ?? uri.host).bareHost
        guard uri.isSIP, !host.isEmpty, !SIPServerLocator.isIPLiteral(host), !self.isLocal(uri),
            self.registrar.binding(forContact: uri, now: self.now()) == nil
        else { return nil }
        return uri
    }

    /// Resolves `nextHop` (RFC 3263 §4) without blocking the loop and forwards `request` to what it finds. The
    /// relay policy has already been applied by the caller: strangers never make the proxy look anything up.
    func resolveAndForward(
        _ context: ProxyContext,
        _ request: SIPRequest,
        target: ForwardTarget,
        nextHop: SIPURI,
        entry: ServerEntry,
        from peer: Peer
    ) {
        // §16.2: a lookup may take longer than 200 ms; the 100 stops the caller's retransmissions meanwhile.
        if context.isInvite { self.reply(entry, 100) }
        let locator = SIPServerLocator(uri: nextHop, supported: self.dnsTransports, families: self.dnsFamilies)
        let serverKey = context.serverKey
        let callID = request.callID
        let host = nextHop.maddr ?? nextHop.host
        self.resolver.locate(locator).whenSuccess { [weak self] result in
            guard let self else { return }
            // The resolver's futures complete on this shard's loop (its own).
            self.eventLoop.assertInEventLoop()
            // The caller may have cancelled (487 already sent) or the transaction ended meanwhile.
            guard let context = self.contexts[serverKey], !context.machine.cancelled, !context.machine.finalForwarded,
                let entry = self.transactions.server(serverKey)
            else { return }
            let peers = result.targets.compactMap { self.peer(for: $0, from: peer) }
            guard !peers.isEmpty else {
                // Nothing to send to: the domain has no SIP server we can reach (404, as for an unknown host,
                // RFC 4475 §3.1.1.2), or DNS itself failed (503: the fault is on our side, try later).
                let status = result.failed ? 503 : 404
                self.logger.info(
                    "dns: no target for \(host) (\(result.failed ? "lookup failed" : "no records")), \(status)",
                    metadata: ["sip.call_id": "\(callID)"]
                )
                self.reply(entry, status)
                return
            }
            self.logger.info(
                "dns: \(host) -> \(result.targets.map(\.description).joined(separator: ", "))",
                metadata: ["sip.call_id": "\(callID)"]
            )
            var resolved = target
            resolved.resolved = peers
            if self.startBranches(context, request, targets: [resolved], from: peer) == 0 {
                self.reply(entry, 404)
            }
        }
    }

    /// §16.11 for a 2xx ACK whose next hop is a domain name: it has no transaction to wait in, so it waits in the
    /// lookup's future and goes to the first usable target (the ACK of a 2xx is a transaction of its own, RFC 3263
    /// §4.3 lets it use any). A retransmitted 2xx brings a new ACK, so a lost one is not retried here.
    func resolveStateless(
        _ request: SIPRequest, incoming: SIPRequest, target: ForwardTarget, nextHop: SIPURI, from peer: Peer
    ) {
        let locator = SIPServerLocator(uri: nextHop, supported: self.dnsTransports, families: self.dnsFamilies)
        self.resolver.locate(locator).whenSuccess { [weak self] result in
            guard let self else { return }
            // The resolver's futures complete on this shard's loop (its own).
            self.eventLoop.assertInEventLoop()
            guard let destination = result.targets.lazy.compactMap({ self.peer(for: $0, from: peer) }).first else {
                self.logger.info(
                    "dns: no target for \(nextHop.maddr ?? nextHop.host), \(request.method) dropped",
                    metadata: ["sip.call_id": "\(request.callID)"]
                )
                return
            }
            self.sendStateless(request, incoming: incoming, target: target, to: destination)
        }
    }

    /// A locator target as a socket destination, if the proxy may and can send there: the same refusals as any
    /// destination (no broadcast, multicast or reserved addresses: a DNS answer must not aim the proxy at them),
    /// and a listener of the target's transport and family.
    func peer(for target: SIPServerLocator.Target, from peer: Peer) -> Peer? {
        guard let address = try? SocketAddress(ipAddress: target.ip, port: target.port),
            self.transport.refusal(address) == nil,
            let listener = self.transport.localAddress(for: target.transport, to: address, preferred: peer.local)
        else { return nil }
        return Peer(transport: target.transport, remote: address, local: listener)
    }

    /// Transports the proxy can send on: TLS only with a TLS listener.
    var dnsTransports: Set<TransportKind> {
        Set(self.transport.listenAddresses.map(\.transport)).union([.udp, .tcp])
    }

    /// A always; AAAA when some listener is IPv6 (without one, an IPv6 target could not be reached anyway).
    var dnsFamilies: [DNSRecordType] {
        self.transport.listenAddresses.contains { $0.address.protocol == .inet6 } ? [.a, .aaaa] : [.a]
    }

    // MARK: Failover (RFC 3263 §4.3)

    /// The branch's next DNS target after the one it is sent to, with the rest behind it.
    func nextTarget(after target: ForwardTarget, request: SIPRequest, from peer: Peer) -> ProxyBranch.Fallback? {
        guard target.resolved.count > 1 else { return nil }
        var rest = target
        rest.resolved = Array(target.resolved.dropFirst())
        return ProxyBranch.Fallback(request: request, target: rest, destination: rest.resolved[0], peer: peer)
    }

    /// When more targets remain, a target that gives no response at all within `failoverTimeout` is left for the
    /// next (§4.3 leaves the value to the client; Timer B would make the caller wait 32 s per dead server).
    func armFailover(_ context: ProxyContext, _ index: Int) {
        guard context.branches[index].nextTarget != nil else { return }
        // Whether the branch is then moved on (no response at all, not being cancelled) is the response
        // context's decision (`.failoverTimeout`, `.failOver`).
        context.branches[index].failoverTimer = self.scheduleContextTimer(
            context,
            in: self.configuration.dns.failoverTimeout,
            .failoverTimeout(branch: index),
            clear: { $0.branches[index].failoverTimer = nil }
        )
    }

    /// Sends the request on to the branch's next DNS target, replacing the failed branch. False when there is
    /// none (or the request is being cancelled or answered): the failure then counts as the branch's answer.
    func failover(_ context: ProxyContext, _ index: Int, because reason: String) -> Bool {
        guard let next = context.branches[index].nextTarget, context.machine.mayRetry(index) else { return false }
        let failed = context.branches[index]
        self.timers.cancel(failed.failoverTimer)
        context.branches[index].failoverTimer = nil
        self.logger.info(
            "dns failover: \(failed.destination) failed (\(reason)), trying \(next.destination) (RFC 3263 §4.3)",
            metadata: ["sip.call_id": "\(failed.request.callID)"]
        )
        self.run(context, .branchReplaced(branch: index))
        var branch = self.prepareBranch(
            context, next.request, target: next.target, destination: next.destination, from: next.peer
        )
        branch.nextTarget = self.nextTarget(after: next.target, request: next.request, from: next.peer)
        context.branches.append(branch)
        self.run(context, .branchesAdded(count: 1))
        self.startClient(context, context.branches.count - 1)
        return true
    }
}

extension TimeAmount {
    /// `1500 ms` for logs.
    var prettyMilliseconds: String { "\(self.nanoseconds / 1_000_000) ms" }
}
