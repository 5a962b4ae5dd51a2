// The response path (RFC 3261 §16.7) and the transaction callbacks.

import NIOCore

extension ProxyCore: TransactionUser {
    func handleResponse(_ response: SIPResponse, from peer: Peer) {
        self.logReceived(.response(response), from: peer)
        // §16.7 step 1-2: find the client transaction; it passes the response up (or absorbs retransmissions).
        if self.transactions.receive(response) { return }
        self.forwardResponseStatelessly(response)
    }

    /// §16.7 / §16.11: a response with no client transaction (a 2xx retransmission after the transaction ended)
    /// is forwarded statelessly: remove our Via, send to the next one.
    ///
    /// Only 2xx responses whose top Via carries a branch this process made are forwarded: the 2xx retransmission is
    /// the one response §16.7 expects without a transaction, and anything else would let a forged response aim
    /// the proxy at a third party (the next Via is the sender's to choose).
    private func forwardResponseStatelessly(_ response: SIPResponse) {
        guard let top = response.topVia, self.isLocal(top), (200..<300).contains(response.statusCode),
            SIPGrammar.containsBytes(top.branch ?? "", "-\(self.instanceTag)")
        else {
            self.logger.debug("dropping response with no transaction", metadata: ["sip.call_id": "\(response.callID)"])
            return
        }
        var copy = response
        copy.headers.removeFirstValue("via")
        copy.reason = self.phrases.relayed(response.statusCode, original: response.reason, for: nil)
        self.relayMedia(response: &copy)
        guard let next = copy.topVia, let destination = self.responseDestination(of: next) else { return }
        self.transactions.sendResponse(copy, to: destination)
    }

    /// Where a response goes given the Via it is addressed to (§18.2.2): `received`/`rport` when present.
    private func responseDestination(of via: Via) -> Peer? {
        let host = SIPURI(host: via.received ?? via.host).bareHost
        let port = via.rport.flatMap { Int($0) } ?? via.port ?? 5060
        guard let address = try? SocketAddress(ipAddress: host, port: port) else { return nil }
        let transport = TransportKind(via: via.transport)
        guard let listener = self.transport.localAddress(for: transport, to: address, preferred: nil) else { return nil }
        return Peer(transport: transport, remote: address, local: listener)
    }

    func transactionLayer(_ layer: TransactionLayer, clientResponse response: SIPResponse, owner: ClientOwner) {
        // A 200 to our CANCEL is absorbed; a branch whose request has ended is too, except a 2xx to an INVITE:
        // once the first 2xx is through, the context is gone, and every later 2xx (a retransmission, another
        // fork's answer) still goes upstream (§16.7 step 5, RFC 6026 §8.4).
        if case .referral(let callID) = owner {
            self.referralResponse(response, callID: callID)
            return
        }
        guard case .branch(let server, let index) = owner else { return }
        guard let context = self.contexts[server] else {
            if response.isSuccess, response.cseq.method == .invite { self.forwardResponseStatelessly(response) }
            return
        }
        self.branchResponse(context, index, response)
    }

    func transactionLayer(_ layer: TransactionLayer, clientFailed status: Int, owner: ClientOwner) {
        if case .referral(let callID) = owner {
            self.referralFailed(status: status, callID: callID)
            return
        }
        guard case .branch(let server, let index) = owner, let context = self.contexts[server],
            index < context.branches.count
        else { return }
        if status == 503, self.retryOverUDP(context, index) { return }
        // RFC 3263 §4.3: a transport error or a timeout moves on to the next DNS target, if there is one.
        if self.failover(context, index, because: status == 503 ? "transport error" : "timeout") { return }
        // §16.7 step 2 / §16.8: a timeout acts as a 408, a transport failure as a 503, made from the request as
        // received so it can go upstream.
        guard
            let synthesized = SIPResponse.reply(
                to: context.request,
                status: status,
                reason: self.phrases.generated(status, for: context.request),
                toTag: nil
            )
        else { return }
        self.run(context, .final(branch: index, synthesized))
    }

    func transactionLayer(_ layer: TransactionLayer, serverEnded key: TransactionKey) {
        self.eventLoop.assertInEventLoop()
        // The request is over: its response context and the timers it still holds go with it, except the §9.1
        // guards of cancelled forks, which end those forks' transactions if they never answer (startCancelGuard).
        guard let context = self.contexts.removeValue(forKey: key) else { return }
        for branch in context.branches {
            self.timers.cancel(branch.timerC)
            self.timers.cancel(branch.failoverTimer)
        }
        self.timers.cancel(context.noAnswerTimer)
    }

    func transactionLayer(_ layer: TransactionLayer, ackFor2xx ack: SIPRequest, peer: Peer) {
        // Some phones reuse the INVITE branch for the 2xx ACK; it is still end to end (§13.2.2.4).
        self.forwardStateless(ack, from: peer)
    }

    /// §16.7 step 3 for one branch response: our Via off, the phrase localized; the response context decides.
    private func branchResponse(_ context: ProxyContext, _ index: Int, _ response: SIPResponse) {
        guard index < context.branches.count else { return }
        // Any response shows the target is alive: no more failover by timer (RFC 3263 §4.3).
        self.timers.cancel(context.branches[index].failoverTimer)
        context.branches[index].failoverTimer = nil
        if response.statusCode == 503, self.failover(context, index, because: "503") { return }
        var upstream = response
        upstream.headers.removeFirstValue("via")
        guard upstream.headers.contains("via") else { return }
        // Only the phrase may change on the way up (issue: localized phrases); code, headers, body stay.
        upstream.reason = self.phrases.relayed(response.statusCode, original: response.reason, for: context.request)
        self.relayMedia(response: &upstream)
        if response.isProvisional {
            if context.isCall, response.statusCode > 100, !context.ringingLogged {
                context.ringingLogged = true
                self.logger.info(
                    "call \(context.callLabel): ringing (\(response.statusCode) \(response.reason))",
                    metadata: ["sip.call_id": "\(response.callID)"]
                )
            }
            self.run(context, .provisional(branch: index, upstream))
        } else {
            if upstream.isSuccess, context.isCall, !context.machine.answered {
                self.logger.info(
                    "call \(context.callLabel): answered at \(context.branches[index].destination)",
                    metadata: ["sip.call_id": "\(upstream.callID)"]
                )
            }
            self.run(context, .final(branch: index, upstream))
        }
    }

    // MARK: Executing the response context's decisions

    /// Feeds an event to the context's §16.7 machine and carries out what it decides.
    func run(_ context: ProxyContext, _ event: ResponseContext.Event) {
        self.eventLoop.assertInEventLoop()
        let actions = context.machine.handle(event)
        for action in actions { self.perform(action, context) }
    }

    private func perform(_ action: ResponseContext.Action, _ context: ProxyContext) {
        switch action {
        case .forward(let response):
            guard let entry = self.transactions.server(context.serverKey) else { return }
            self.transactions.respond(entry, response)
            self.relayMediaFinal(response, request: context.request)
        case .cancelBranch(let index):
            self.sendCancel(context, index)
        case .startCancelGuard(let index):
            self.startCancelGuard(context, index)
        case .abandonBranch(let index):
            self.transactions.abandonClient(context.branches[index].key)
            self.logger.info(
                "no final response 64*T1 after CANCEL on \(context.branches[index].destination): branch given up",
                metadata: ["sip.call_id": "\(context.request.callID)"]
            )
        case .failOver(let index):
            self.transactions.abandonClient(context.branches[index].key)
            let timeout = self.configuration.dns.failoverTimeout
            _ = self.failover(context, index, because: "no response in \(timeout.prettyMilliseconds)")
        case .startTimerC(let index):
            self.startTimerC(context, index)
        case .stopTimerC(let index):
            self.timers.cancel(context.branches[index].timerC)
            context.branches[index].timerC = nil
        case .startNoAnswerTimer(let delay):
            self.startNoAnswerTimer(context, after: delay)
        case .stopNoAnswerTimer:
            self.timers.cancel(context.noAnswerTimer)
            context.noAnswerTimer = nil
        case .nextTarget(let condition, let redirects):
            self.nextTarget(context, condition: condition, redirects: redirects)
        case .respond(let response):
            self.respondFinal(context, response)
        case .respondLocally(let status):
            guard let entry = self.transactions.server(context.serverKey),
                let response = SIPResponse.reply(
                    to: context.request,
                    status: status,
                    reason: self.phrases.generated(status, for: context.request),
                    toTag: entry.localTag
                )
            else { return }
            self.respondFinal(context, response)
        }
    }

    private func respondFinal(_ context: ProxyContext, _ response: SIPResponse) {
        guard let entry = self.transactions.server(context.serverKey), !entry.hasFinalResponse else { return }
        if context.isCall {
            self.logger.info(
                "call \(context.callLabel): not answered, \(response.statusCode) \(response.reason)",
                metadata: ["sip.call_id": "\(response.callID)"]
            )
        }
        self.transactions.respond(entry, response)
        self.relayMediaFinal(response, request: context.request)
    }
}
