// ProxyCore+Branches: the branches of a proxied request: building each forwarded copy (RFC 3261 §16.6 steps 2-8),
// starting its client transaction, the §18.1.1 switch to TCP for large requests and its UDP retry, and CANCEL on a
// branch (§9.1, §16.10). What to do with the branches' responses is decided by the `ResponseContext`.

import NIOCore

extension ProxyCore {
    /// §16.6 for each target: a copy of `request` per reachable target, appended to the context's branches and
    /// started (also for the later branch groups of call forwarding). Returns the number of branches started.
    func startBranches(
        _ context: ProxyContext,
        _ request: SIPRequest,
        targets: [ForwardTarget],
        from peer: Peer,
        asGroup: Bool = false,
        noAnswerAfter: TimeAmount? = nil
    ) -> Int {
        var prepared: [ProxyBranch] = []
        for target in targets {
            guard let destination = self.destination(for: request, target: target, from: peer) else { continue }
            var branch = self.prepareBranch(context, request, target: target, destination: destination, from: peer)
            if let tcp = self.congestionControlledDestination(for: branch, target: target, from: peer) {
                // §18.1.1: larger than 1300 octets and bound for UDP with an unknown path MTU: sent over TCP, with
                // the Via (and Record-Route) naming TCP. UDP stays the fallback when TCP is refused.
                branch = self.prepareBranch(context, request, target: target, destination: tcp, from: peer)
                branch.udpFallback = ProxyBranch.Fallback(
                    request: request, target: target, destination: destination, peer: peer
                )
            }
            branch.nextTarget = self.nextTarget(after: target, request: request, from: peer)
            prepared.append(branch)
        }
        let first = context.branches.count
        if first == 0, context.isInvite, !prepared.isEmpty, let entry = self.transactions.server(context.serverKey),
            entry.lastWire == nil
        {
            // §16.2 / §16.7 step 5: the INVITE goes on, so a 100 Trying stops the UAC's retransmissions.
            self.reply(entry, 100)
        }
        guard !prepared.isEmpty else { return 0 }
        context.branches.append(contentsOf: prepared)
        // The response context learns of the branches before their transactions start: a send that fails at once
        // reports back synchronously, and its 503 must find its branch.
        self.run(
            context,
            asGroup
                ? .groupStarted(count: prepared.count, noAnswerAfter: noAnswerAfter)
                : .branchesAdded(count: prepared.count)
        )
        for index in first..<context.branches.count { self.startClient(context, index) }
        return prepared.count
    }

    /// Steps 2-8 of §16.6 for one target: the request as it leaves on this branch.
    func prepareBranch(
        _ context: ProxyContext,
        _ request: SIPRequest,
        target: ForwardTarget,
        destination: Peer,
        from peer: Peer
    ) -> ProxyBranch {
        var copy = request
        // Step 2: Request-URI.
        copy.uri = target.uri
        // Step 3: Max-Forwards.
        copy.headers.set("Max-Forwards", String(max(0, (request.maxForwards ?? 71) - 1)))
        // Step 4: Record-Route on dialog-creating requests, so in-dialog requests come back through the
        // proxy. When the two legs use different sockets (transport or interface), both are recorded.
        if !request.isInDialog && Self.dialogCreatingMethods.contains(request.method) {
            if peer.local != destination.local || peer.transport != destination.transport {
                copy.headers.prepend("Record-Route", self.recordRoute(peer.local, peer.transport, callID: request.callID))
            }
            copy.headers.prepend("Record-Route", self.recordRoute(destination.local, destination.transport, callID: request.callID))
        }
        // Step 8: our Via, with a unique branch whose prefix carries the loop-detection hash.
        let branch = self.nextBranch(loopHash: context.loopHash)
        copy.prependVia(self.via(destination, branch: branch))
        return ProxyBranch(
            key: TransactionKey.client(branch: branch, method: request.method),
            request: copy,
            destination: destination
        )
    }

    func startClient(_ context: ProxyContext, _ index: Int) {
        let branch = context.branches[index]
        self.transactions.startClient(
            key: branch.key,
            request: branch.request,
            destination: branch.destination,
            owner: .branch(server: context.serverKey, index: index)
        )
        self.armFailover(context, index)
    }

    /// RFC 3261 §18.1.1: a request over 1300 octets whose path MTU is unknown goes over a congestion-controlled
    /// transport. The TCP destination for such a branch, or nil when it stays on UDP: the request is small, the
    /// target is a phone's registered UDP flow (a phone behind NAT accepts no TCP connection, and its flow is the
    /// path it chose), the request is an ACK (it has no transaction to fall back with), or no TCP listener exists.
    private func congestionControlledDestination(for branch: ProxyBranch, target: ForwardTarget, from peer: Peer) -> Peer? {
        let destination = branch.destination
        guard destination.transport == .udp, destination.connection == nil, target.binding == nil,
            branch.request.method != .ack,
            !self.registrar.isRegisteredSource(destination.remote),
            SIPMessage.request(branch.request).serialize().readableBytes > Self.udpSizeLimit,
            let listener = self.transport.localAddress(for: .tcp, to: destination.remote, preferred: peer.local)
        else { return nil }
        return Peer(transport: .tcp, remote: destination.remote, local: listener)
    }

    /// §18.1.1: 1300 octets, for a path MTU that is not known (1500-octet Ethernet less headers and margin).
    static let udpSizeLimit = 1300

    /// §18.1.1: the TCP connection for a large request was refused (reset, unreachable, timed out): the request is
    /// sent again over UDP on a new branch, which takes the failed one's place. Returns false when the failure
    /// should instead be handled as the branch's final 503 (no fallback, or the branch is being cancelled).
    func retryOverUDP(_ context: ProxyContext, _ index: Int) -> Bool {
        guard let fallback = context.branches[index].udpFallback, context.machine.mayRetry(index) else { return false }
        let failed = context.branches[index]
        self.logger.info(
            "tcp to \(failed.destination.remote.hostPort) failed, sending \(failed.request.method) over udp (RFC 3261 §18.1.1)",
            metadata: ["sip.call_id": "\(failed.request.callID)"]
        )
        self.run(context, .branchReplaced(branch: index))
        let retry = self.prepareBranch(
            context, fallback.request, target: fallback.target, destination: fallback.destination, from: fallback.peer
        )
        context.branches.append(retry)
        self.run(context, .branchesAdded(count: 1))
        self.startClient(context, context.branches.count - 1)
        return true
    }

    /// Sends CANCEL on a branch (§16.10, §9.1), as the response context decided.
    func sendCancel(_ context: ProxyContext, _ index: Int) {
        let branch = context.branches[index]
        // §9.1: same Request-URI, Call-ID, To, From, CSeq number; one Via equal to the branch's top Via; the
        // same Route set.
        var headers = SIPHeaders()
        if let via = branch.request.headers.values("via").first { headers.add("Via", via) }
        for route in branch.request.headers.lines("route") { headers.add("Route", route) }
        headers.add("Max-Forwards", "70")
        headers.add("From", branch.request.headers["from"] ?? branch.request.from.serialized)
        headers.add("To", branch.request.headers["to"] ?? branch.request.to.serialized)
        headers.add("Call-ID", branch.request.callID)
        headers.add("CSeq", "\(branch.request.cseq.number) CANCEL")
        headers.add("Content-Length", "0")
        guard let cancel = try? SIPRequest(method: .cancel, uri: branch.request.uri, headers: headers) else { return }
        let key = TransactionKey.client(branch: branch.key.branch, method: .cancel)
        self.transactions.startClient(key: key, request: cancel, destination: branch.destination, owner: .cancel)
    }
}
