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
            top.branch?.contains("-\(self.instanceTag)") == true
        else {
            self.logger.debug("dropping response with no transaction", metadata: ["sip.call_id": "\(response.callID)"])
            return
        }
        var copy = response
        copy.headers.removeFirstValue("via")
        copy.reason = self.phrases.relayed(response.statusCode, original: response.reason, for: nil)
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
        guard case .branch(let context, let index) = owner else { return }  // 200 to our CANCEL: absorbed
        self.branchResponse(context, index, response)
    }

    func transactionLayer(_ layer: TransactionLayer, clientFailed status: Int, owner: ClientOwner) {
        guard case .branch(let context, let index) = owner, index < context.branches.count else { return }
        guard context.branches[index].finalStatus == nil else { return }
        if status == 503, self.retryOverUDP(context, index) { return }
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
        self.branchFinal(context, index, synthesized)
    }

    func transactionLayer(_ layer: TransactionLayer, ackFor2xx ack: SIPRequest, peer: Peer) {
        // Some phones reuse the INVITE branch for the 2xx ACK; it is still end to end (§13.2.2.4).
        self.forwardStateless(ack, from: peer)
    }

    /// §16.7 steps 3-10 for one branch response.
    private func branchResponse(_ context: ProxyContext, _ index: Int, _ response: SIPResponse) {
        guard index < context.branches.count else { return }
        // Step 3: remove our Via.
        var upstream = response
        upstream.headers.removeFirstValue("via")
        guard upstream.headers.contains("via") else { return }
        // Only the phrase may change on the way up (issue: localized phrases); code, headers, body stay.
        upstream.reason = self.phrases.relayed(response.statusCode, original: response.reason, for: context.request)

        if response.isProvisional {
            context.branches[index].provisional = true
            if context.branches[index].cancelPending && context.branches[index].finalStatus == nil {
                self.sendCancel(context, index)
            }
            if context.isInvite && response.statusCode > 100 { self.armTimerC(context, index) }
            if context.isCall, response.statusCode > 100, !context.ringingLogged {
                context.ringingLogged = true
                self.logger.info(
                    "call \(context.callLabel): ringing (\(response.statusCode) \(response.reason))",
                    metadata: ["sip.call_id": "\(response.callID)"]
                )
            }
            // Step 5: 100 Trying is hop by hop and never forwarded.
            guard response.statusCode > 100, !context.finalForwarded,
                let entry = self.transactions.server(context.serverKey)
            else { return }
            self.transactions.respond(entry, upstream)
            return
        }
        self.branchFinal(context, index, upstream)
    }

    /// A branch's final response (received and stripped of our Via, or synthesized).
    private func branchFinal(_ context: ProxyContext, _ index: Int, _ upstream: SIPResponse) {
        guard context.branches[index].finalStatus == nil else {
            // A further 2xx on the same branch (a retransmission or another fork downstream) is still forwarded
            // (§16.7 step 10): the UAC must ACK every 2xx.
            if upstream.isSuccess, context.isInvite, let entry = self.transactions.server(context.serverKey) {
                self.transactions.respond(entry, upstream)
            }
            return
        }
        context.branches[index].finalStatus = upstream.statusCode
        self.timers.cancel(context.branches[index].timerC)
        context.branches[index].timerC = nil
        let entry = self.transactions.server(context.serverKey)

        if upstream.isSuccess {
            // Step 10: every 2xx is forwarded at once; for INVITE the other branches are cancelled.
            if context.isCall && !context.answered {
                self.logger.info(
                    "call \(context.callLabel): answered at \(context.branches[index].destination)",
                    metadata: ["sip.call_id": "\(upstream.callID)"]
                )
            }
            context.answered = true
            context.finalForwarded = true
            if let entry { self.transactions.respond(entry, upstream) }
            if context.isInvite { self.cancelPendingBranches(context, except: index) }
            return
        }
        if context.finalForwarded { return }
        // Call forwarding and redirect recursion (ProxyCore+Forwarding) may try the next target instead.
        switch self.forwardingVerdict(context, index, upstream) {
        case .handled: return
        case .ignore: break
        case .collect: context.finals.append(upstream)
        }
        // A 6xx ends the search: the other branches are cancelled (§16.7 step 5 and 6).
        if upstream.statusCode >= 600 && context.isInvite { self.cancelPendingBranches(context, except: index) }
        guard context.allBranchesFinal, let entry else { return }
        context.finalForwarded = true
        guard var best = context.bestFinal() else { return }
        if best.statusCode == 503 {
            // §16.7 step 6: a 503 is not passed on as such (it would make the UAC try another proxy).
            best = self.localReply(context, 500, toTag: entry.localTag) ?? best
        } else if context.cancelled && best.statusCode == 408 {
            // Cancelled by the caller and no branch answered 487 in time: the caller expects 487 (§16.10).
            best = self.localReply(context, 487, toTag: entry.localTag) ?? best
        } else if best.statusCode == 408 && best.to.tag == nil {
            best = self.localReply(context, 408, toTag: entry.localTag) ?? best
        }
        if context.isCall {
            self.logger.info(
                "call \(context.callLabel): not answered, \(best.statusCode) \(best.reason)",
                metadata: ["sip.call_id": "\(best.callID)"]
            )
        }
        self.transactions.respond(entry, best)
    }

    private func localReply(_ context: ProxyContext, _ status: Int, toTag: String) -> SIPResponse? {
        SIPResponse.reply(
            to: context.request,
            status: status,
            reason: self.phrases.generated(status, for: context.request),
            toTag: toTag
        )
    }
}
