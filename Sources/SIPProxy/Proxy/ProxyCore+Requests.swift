// The request path of the proxy (RFC 3261 §16.3 – §16.6, §16.10, §16.11) and the registrar hand-off (§10.3).

import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ProxyCore {
    func handleRequest(_ received: SIPRequest, from peer: Peer) {
        self.logReceived(.request(received), from: peer)
        let request = Self.stampVia(received, peer: peer)

        switch request.method {
        case .ack:
            // An ACK with the INVITE's branch acknowledges a non-2xx final: absorbed by the server transaction
            // hop by hop (§17.2.1). Any other ACK acknowledges a 2xx and is forwarded statelessly (§16.11).
            if let key = self.serverKey(for: request), let entry = self.transactions.server(key) {
                self.transactions.ack(entry, request)
            } else {
                self.forwardStateless(request, from: peer)
            }
            return
        case .cancel:
            self.handleCancel(request, from: peer)
            return
        default:
            break
        }

        guard let key = self.serverKey(for: request) else { return }
        if let entry = self.transactions.server(key) {
            // §17.2.3: a retransmission is absorbed by its transaction, which resends the last response.
            self.transactions.retransmission(entry)
            return
        }
        // The cap is the proxy's: each shard takes its share (calls are spread evenly by Call-ID).
        let cap = (self.configuration.maxTransactions + self.configuration.workers - 1) / max(1, self.configuration.workers)
        guard self.transactions.count.server < cap else {
            // §21.5.4: overloaded; Retry-After tells a well-behaved client when to come back. Stateless: the
            // table is full, and keeping state for the refusal would defeat the limit.
            self.transport.logThrottled("tx-cap", .warning, "\(self.configuration.maxTransactions) transactions in progress: answering 503")
            self.replyStatelessly(to: request, from: peer, 503, extra: [("Retry-After", "5")])
            return
        }
        let entry = self.transactions.createServer(
            key: key,
            request: request,
            destination: Self.responseDestination(for: request, peer: peer),
            localTag: self.localTag(for: key)
        )
        // 100 Trying (§16.2) goes out when the INVITE is forwarded (`startBranches`): a request the proxy answers
        // itself at once gets its final response alone, so an unknown source gets one datagram for one.
        self.process(request, entry: entry, from: peer)
    }

    /// §16.3 request validation, §16.4 route processing, §16.5 target determination, §16.6 forwarding.
    private func process(_ incoming: SIPRequest, entry: ServerEntry, from peer: Peer) {
        var request = incoming
        // §16.3 step 2: URI scheme.
        guard request.uri.isSIP else {
            self.reply(entry, 416)
            return
        }
        // §16.3 step 6: Proxy-Require lists extensions the proxy must support; it supports none.
        let proxyRequire = request.headers.values("proxy-require")
        if !proxyRequire.isEmpty {
            self.reply(entry, 420, extra: [("Unsupported", proxyRequire.joined(separator: ", "))])
            return
        }
        let requestURIIsLocal = self.isLocal(request.uri)
        let addressedToProxy = requestURIIsLocal && request.uri.user == nil && !request.headers.contains("route")
        // §16.3 step 3: Max-Forwards 0 is refused with 483, unless the request is for the proxy itself
        // (RFC 4475 §3.3.11: OPTIONS answered by the element it targets).
        if request.maxForwards == 0 && !(addressedToProxy && request.method == .options) {
            self.reply(entry, 483)
            return
        }
        // §16.3 step 4: loop detection.
        let loopHash = Self.loopHash(request)
        if self.detectsLoop(request, loopHash: loopHash) {
            self.reply(entry, 482)
            return
        }
        let followsOwnRoute = self.processRoutes(&request)
        let authenticatedUser: String?
        switch self.authenticate(&request, entry: entry, addressedToProxy: addressedToProxy) {
        case .answered: return
        case .notRequired: authenticatedUser = nil
        case .authenticated(let user): authenticatedUser = user
        }

        if request.headers.contains("route") {
            // Loose routing: the Request-URI stays, the next hop is the top Route (§16.6 step 6-7).
            guard authenticatedUser != nil || self.mayRelay(request, from: peer, followsOwnRoute: followsOwnRoute, target: nil) else {
                self.refuseRelay(request, entry: entry, from: peer)
                return
            }
            self.forward(request, targets: [ForwardTarget(uri: request.uri, binding: nil)], entry: entry, from: peer)
            return
        }
        if self.isLocal(request.uri) {
            if request.method == .register {
                self.handleRegister(request, entry: entry, from: peer, authenticated: authenticatedUser != nil)
                return
            }
            if request.uri.user == nil {
                // A request for the proxy itself: it acts as a UAS, so Require tags it does not know get 420
                // (RFC 3261 §8.2.2.3, RFC 4475 §3.3.5).
                let require = request.headers.values("require")
                if !require.isEmpty && request.method != .cancel && request.method != .ack {
                    self.reply(entry, 420, extra: [("Unsupported", require.joined(separator: ", "))])
                    return
                }
                if request.method == .options {
                    self.reply(entry, 200, extra: Self.capabilityHeaders)
                } else {
                    self.reply(entry, 405, extra: [("Allow", Self.allowValue)])
                }
                return
            }
            // §16.5: the location service gives the targets.
            let user = LocationStore.userKey(request.uri)
            // Call forwarding rules of the user (ProxyCore+Forwarding) take over the call when there are any.
            if self.forwardCall(request, user: user, entry: entry, from: peer) { return }
            let bindings = self.registrar.lookup(user, now: self.now())
            if bindings.isEmpty {
                // 404 for a user the proxy has never seen; 480 for one that registered before (§21.4.18).
                self.reply(entry, self.registrar.isKnown(user) ? 480 : 404)
                return
            }
            // One branch per flow: contacts registered over the same socket address reach the same place, and a
            // spoofed REGISTER with many contacts must not multiply every INVITE towards one victim.
            var flows = Set<Peer>()
            let targets = bindings.filter { flows.insert($0.source).inserted }.map {
                ForwardTarget(uri: $0.contact.uri, binding: $0)
            }
            self.forward(request, targets: targets, entry: entry, from: peer)
            return
        }
        // Not ours, no Route: forward to the Request-URI (in-dialog requests to a phone's Contact, §16.5).
        // An authenticated user may call other domains.
        guard authenticatedUser != nil
            || self.mayRelay(request, from: peer, followsOwnRoute: followsOwnRoute, target: request.uri)
        else {
            self.refuseRelay(request, entry: entry, from: peer)
            return
        }
        self.forward(request, targets: [ForwardTarget(uri: request.uri, binding: nil)], entry: entry, from: peer)
    }

    // MARK: Relay policy

    /// Whether a request may go to a destination that is not one of the proxy's users (`RelayPolicy`): always with
    /// `--relay any`; otherwise when it follows the proxy's own Record-Route inside a dialog (§16.12), comes from a
    /// registered phone's address, or goes to a registered phone's Contact.
    func mayRelay(_ request: SIPRequest, from peer: Peer, followsOwnRoute: Bool, target: SIPURI?) -> Bool {
        switch self.configuration.relay {
        case .any:
            return true
        case .local:
            if followsOwnRoute && request.isInDialog { return true }
            if self.registrar.isRegisteredSource(peer.remote) { return true }
            if let target, self.registrar.binding(forContact: target, now: self.now()) != nil { return true }
            return false
        }
    }

    /// 403 for a request the relay policy refuses; nothing is sent onward and no connection is opened.
    private func refuseRelay(_ request: SIPRequest, entry: ServerEntry, from peer: Peer) {
        self.transport.logThrottled(
            "relay:\(peer.remote.ipAddress ?? "")", .notice,
            "relay refused: \(request.method) \(request.uri) from \(peer) (not a registered phone; --relay any allows it)"
        )
        self.reply(entry, 403, reason: "Relaying Denied")
    }

    // MARK: Registrar

    private func handleRegister(_ request: SIPRequest, entry: ServerEntry, from peer: Peer, authenticated: Bool) {
        switch self.registrar.register(request, source: peer, authenticated: authenticated, now: self.now()) {
        case .failure(let error):
            var extra: [(String, String)] = []
            if case .intervalTooBrief(let minimum) = error { extra.append(("Min-Expires", String(minimum))) }
            let status = error.status
            self.logger.info("registration refused: \(request.to.uri) \(status.code) \(status.reason)")
            self.reply(entry, status.code, reason: status.reason, extra: extra)
        case .success(let result):
            let now = self.now()
            for change in result.changes {
                switch change {
                case .added(let b):
                    self.logger.info(
                        "registered \(b.aor) at \(b.contact.uri) via \(b.source), expires in \(b.remaining(at: now)) s"
                    )
                case .refreshed(let b):
                    self.logger.info("refreshed \(b.aor) at \(b.contact.uri), expires in \(b.remaining(at: now)) s")
                case .removed(let b):
                    self.logger.info("unregistered \(b.aor) at \(b.contact.uri)")
                }
            }
            // §10.3 step 8: the 200 lists every current binding with its remaining expiry.
            var extra: [(String, String)] = result.bindings.map { binding in
                var contact = binding.contact
                contact.parameters.set("expires", String(binding.remaining(at: now)))
                return ("Contact", contact.serialized)
            }
            extra.append(("Date", HTTPDate.now()))
            self.reply(entry, 200, extra: extra)
        }
    }

    // MARK: CANCEL (§16.10)

    private func handleCancel(_ request: SIPRequest, from peer: Peer) {
        guard let cancelKey = self.serverKey(for: request) else { return }
        if let existing = self.transactions.server(cancelKey) {
            self.transactions.retransmission(existing)
            return
        }
        let entry = self.transactions.createServer(
            key: cancelKey,
            request: request,
            destination: Self.responseDestination(for: request, peer: peer),
            localTag: self.localTag(for: cancelKey)
        )
        var inviteKey = cancelKey
        inviteKey.method = .invite
        guard let invite = self.transactions.server(inviteKey) else {
            // §16.10: no matching INVITE transaction.
            self.reply(entry, 481)
            return
        }
        self.reply(entry, 200)
        guard let context = self.contexts[invite.key], !context.machine.cancelled else { return }
        self.logger.info("call cancelled by caller", metadata: ["sip.call_id": "\(request.callID)"])
        self.run(context, .cancel)
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
        guard branch.request.method == .invite else { return }
        // §9.1: "If there is no final response for the original request in 64*T1 seconds ..., the client SHOULD
        // then consider the original transaction cancelled": a phone that ignores the CANCEL (or answers it
        // but never sends 487) must not keep the caller waiting, nor the INVITE transaction alive, forever.
        let serverKey = context.serverKey
        context.branches[index].cancelGuard = self.timers.schedule(in: self.configuration.timers.timerB) {
            [weak self] in
            guard let self, let context = self.contexts[serverKey], index < context.branches.count,
                index < context.machine.branches.count, context.machine.branches[index].finalStatus == nil
            else { return }
            self.transactions.abandonClient(context.branches[index].key)
            self.logger.info(
                "no final response 64*T1 after CANCEL on \(context.branches[index].destination): branch given up",
                metadata: ["sip.call_id": "\(context.request.callID)"]
            )
            guard
                let timeout = SIPResponse.reply(
                    to: context.request,
                    status: 408,
                    reason: self.phrases.generated(408, for: context.request),
                    toTag: nil
                )
            else { return }
            self.run(context, .final(branch: index, timeout))
        }
    }

    // MARK: Forwarding (§16.6)

    struct ForwardTarget {
        var uri: SIPURI
        var binding: Binding?
    }

    private func forward(_ request: SIPRequest, targets: [ForwardTarget], entry: ServerEntry, from peer: Peer) {
        let context = ProxyContext(
            serverKey: entry.key,
            request: request,
            loopHash: Self.loopHash(entry.request),
            followRedirects: self.forwarding.followRedirects
        )
        self.contexts[entry.key] = context
        if context.isCall {
            self.logger.info(
                "call \(context.callLabel): calling \(targets.count) contact(s)",
                metadata: ["sip.call_id": "\(request.callID)"]
            )
        } else if request.method == .bye {
            self.logger.info(
                "call \(request.from.callParty) -> \(request.to.callParty): hung up by \(request.from.callParty)",
                metadata: ["sip.call_id": "\(request.callID)"]
            )
        }
        if self.startBranches(context, request, targets: targets, from: peer) == 0 {
            self.logger.info("no reachable target for \(request.uri)", metadata: ["sip.call_id": "\(request.callID)"])
            // A host the proxy cannot resolve is unknown to it (RFC 4475 §3.1.1.2 allows 404); registered
            // contacts that cannot be reached make the user temporarily unavailable.
            self.reply(entry, targets.count == 1 && targets[0].binding == nil ? 404 : 480)
        }
    }

    /// §16.6 for each target: a copy of `request` per reachable target, appended to the context's branches and
    /// started (also for the later branch groups of call forwarding). Returns the number of branches started.
    func startBranches(
        _ context: ProxyContext,
        _ request: SIPRequest,
        targets: [ForwardTarget],
        from peer: Peer,
        asGroup: Bool = false
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
            prepared.append(branch)
        }
        let first = context.branches.count
        if first == 0, context.isInvite, !prepared.isEmpty, let entry = self.transactions.server(context.serverKey) {
            // §16.2 / §16.7 step 5: the INVITE goes on, so a 100 Trying stops the UAC's retransmissions.
            self.reply(entry, 100)
        }
        guard !prepared.isEmpty else { return 0 }
        context.branches.append(contentsOf: prepared)
        // The response context learns of the branches before their transactions start: a send that fails at once
        // reports back synchronously, and its 503 must find its branch.
        self.run(context, asGroup ? .groupStarted(count: prepared.count) : .branchesAdded(count: prepared.count))
        for index in first..<context.branches.count { self.startClient(context, index) }
        return prepared.count
    }

    /// Steps 2-8 of §16.6 for one target: the request as it leaves on this branch.
    private func prepareBranch(
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
        copy.headers.prepend("Via", self.via(destination, branch: branch))
        return ProxyBranch(
            key: TransactionKey.client(branch: branch, method: request.method),
            request: copy,
            destination: destination
        )
    }

    private func startClient(_ context: ProxyContext, _ index: Int) {
        let branch = context.branches[index]
        self.transactions.startClient(
            key: branch.key,
            request: branch.request,
            destination: branch.destination,
            owner: .branch(server: context.serverKey, index: index)
        )
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

    /// Stateless forwarding of a 2xx ACK (§16.11): Route processing, a Via with a branch derived from the
    /// incoming one (so retransmissions get the same branch), then to the next hop.
    func forwardStateless(_ incoming: SIPRequest, from peer: Peer) {
        var request = incoming
        if request.maxForwards == 0 { return }
        // The ACK of a final response the proxy made itself and sent statelessly: it ends here (§17.2.1).
        if let key = self.serverKey(for: incoming), incoming.to.tag == self.localTag(for: key) { return }
        let followsOwnRoute = self.processRoutes(&request)
        var target = ForwardTarget(uri: request.uri, binding: nil)
        if request.headers.contains("route") || !self.isLocal(request.uri) {
            let next = request.routes.first?.uri ?? request.uri
            guard self.mayRelay(request, from: peer, followsOwnRoute: followsOwnRoute, target: next) else {
                self.transport.logThrottled(
                    "relay:\(peer.remote.ipAddress ?? "")", .notice, "relay refused: ACK \(request.uri) from \(peer)"
                )
                return
            }
        }
        if !request.headers.contains("route"), self.isLocal(request.uri) {
            // An ACK sent to the proxy's AOR instead of the callee's Contact: deliver it to the user's phone.
            guard let binding = self.registrar.lookup(LocationStore.userKey(request.uri), now: self.now()).first
            else { return }
            target = ForwardTarget(uri: binding.contact.uri, binding: binding)
            request.uri = binding.contact.uri
        }
        guard let destination = self.destination(for: request, target: target, from: peer) else { return }
        request.headers.set("Max-Forwards", String(max(0, (request.maxForwards ?? 71) - 1)))
        var hash = FNV1a()
        hash.combine(incoming.topVia?.branch ?? "")
        hash.combine(incoming.callID)
        hash.combine(target.uri.serialized)
        request.headers.prepend("Via", self.via(destination, branch: "\(Via.magicCookie)-sa\(String(hash.value, radix: 36))"))
        let message = SIPMessage.request(request)
        self.logSent(message, to: destination)
        self.transport.send(message.serialize(), to: destination)
    }

    // MARK: Local replies

    /// Sends a response the proxy makes itself on a server transaction.
    func reply(_ entry: ServerEntry, _ status: Int, reason: String? = nil, extra: [(String, String)] = []) {
        guard
            let response = SIPResponse.reply(
                to: entry.request,
                status: status,
                reason: self.phrases.generated(status, for: entry.request, detail: reason),
                toTag: entry.localTag,
                extraHeaders: extra
            )
        else { return }
        if status >= 200, self.contexts[entry.key] == nil, entry.request.method == .invite,
            !entry.destination.transport.isReliable,
            !self.registrar.isRegisteredSource(entry.destination.remote)
        {
            // An INVITE server transaction retransmits a final response until the ACK (§17.2.1, Timer G): sent to
            // a forged source, one datagram would buy eleven. A final answer the proxy makes itself, at once, to
            // an unknown UDP source is therefore sent once, statelessly (§16.7 lets a proxy answer statelessly;
            // a lost one is repeated when the INVITE is retransmitted).
            self.transactions.respondStatelessly(entry, response)
            return
        }
        self.transactions.respond(entry, response)
    }

    /// A response sent with no transaction at all, for requests refused before one is created (overload).
    func replyStatelessly(to request: SIPRequest, from peer: Peer, _ status: Int, extra: [(String, String)] = []) {
        guard request.method != .ack, let key = self.serverKey(for: request),
            let response = SIPResponse.reply(
                to: request,
                status: status,
                reason: self.phrases.generated(status, for: request, detail: nil),
                toTag: self.localTag(for: key),
                extraHeaders: extra
            )
        else { return }
        self.transactions.sendResponse(response, to: Self.responseDestination(for: request, peer: peer))
    }

    static let allowValue = SIPMethod.known.map(\.rawValue).joined(separator: ", ")

    static var capabilityHeaders: [(String, String)] {
        [("Allow", allowValue), ("Accept", "application/sdp"), ("Supported", "")].filter { !$0.1.isEmpty }
    }

    /// Requests that create a dialog and so get Record-Route (RFC 3261 §16.6 step 4; RFC 6665 §4.3 SUBSCRIBE and
    /// NOTIFY; RFC 3515 REFER).
    static let dialogCreatingMethods: Set<SIPMethod> = [.invite, .subscribe, .refer, .notify]

    // MARK: Helpers

    /// RFC 3261 §18.2.1 and RFC 3581 §4: `received` when the source address differs from sent-by (or rport was
    /// asked for), `rport` filled with the source port.
    static func stampVia(_ request: SIPRequest, peer: Peer) -> SIPRequest {
        guard var via = request.topVia else { return request }
        let sourceIP = peer.remote.ipAddress ?? ""
        let wantsRport = via.rport != nil
        var changed = false
        if wantsRport || SIPURI(host: via.host).bareHost != sourceIP.lowercased() {
            via.parameters.set("received", sourceIP)
            changed = true
        }
        if wantsRport, let port = peer.remote.port {
            via.parameters.set("rport", String(port))
            changed = true
        }
        guard changed else { return request }
        var copy = request
        copy.headers.replaceFirstValue("via", with: via.serialized)
        return copy
    }

    /// Where responses to a request go (§18.2.2): back over the same TCP connection; for UDP to the source
    /// address, at the rport (RFC 3581) or the Via port.
    static func responseDestination(for request: SIPRequest, peer: Peer) -> Peer {
        guard peer.transport == .udp, let via = request.topVia else { return peer }
        if via.rport != nil { return peer }
        var destination = peer
        if let ip = peer.remote.ipAddress, let address = try? SocketAddress(ipAddress: ip, port: via.port ?? 5060) {
            destination.remote = address
        }
        return destination
    }

    /// The server transaction key; RFC 2543 requests without a magic-cookie branch get a key from Call-ID, CSeq,
    /// From tag and sent-by (§17.2.3's backward-compatible matching).
    func serverKey(for request: SIPRequest) -> TransactionKey? {
        if let key = TransactionKey.server(for: request) { return key }
        guard let via = request.topVia else { return nil }
        let method: SIPMethod = request.method == .ack ? .invite : request.method
        let legacy = "2543:\(request.callID):\(request.cseq.number):\(request.from.tag ?? ""):\(request.uri)"
        return TransactionKey(branch: legacy, sentBy: via.sentBy, method: method)
    }

    func localTag(for key: TransactionKey) -> String {
        var hash = FNV1a()
        hash.combine(key.branch)
        hash.combine(self.instanceTag)
        return "sp" + String(hash.value, radix: 36)
    }

    /// §16.6 step 8 / §16.3 step 4: a hash over the fields that stay the same when a request loops back: the
    /// Request-URI as received, From tag, To tag, Call-ID, CSeq number, Route and Proxy-Require.
    static func loopHash(_ request: SIPRequest) -> UInt64 {
        var hash = FNV1a()
        hash.combine(request.uri.serialized)
        hash.combine(request.from.tag ?? "")
        hash.combine(request.to.tag ?? "")
        hash.combine(request.callID)
        hash.combine(String(request.cseq.number))
        for route in request.headers.values("route") { hash.combine(route) }
        for value in request.headers.values("proxy-require") { hash.combine(value) }
        return hash.value
    }

    /// A loop: one of the Via values is ours and carries the same loop hash (a spiral, where the Request-URI
    /// changed, has another hash and passes).
    func detectsLoop(_ request: SIPRequest, loopHash: UInt64) -> Bool {
        let marker = "\(Via.magicCookie)-sp\(String(loopHash, radix: 36))-"
        // Only Via lines carrying the marker are parsed: on almost every request there is none.
        return request.headers.lines("via").contains { line in
            line.contains(marker)
                && SIPHeaders.splitCommaList(line).contains { value in
                    guard let via = Via.parse(value) else { return false }
                    return (via.branch?.hasPrefix(marker) ?? false) && self.isLocal(via)
                }
        }
    }

    /// §16.4 route information preprocessing, shared by the stateful path and the stateless 2xx ACK:
    /// a strict router before us put our Record-Route URI in the Request-URI and the real target in the last
    /// Route value; then our own Route values are removed from the top (phones send them pre-loaded, and a
    /// double Record-Route gives two). Only the top value is parsed on each step.
    /// Returns whether the request carried the proxy's own URI (a Route value or a strict router's Request-URI),
    /// i.e. it follows a route set the proxy recorded.
    @discardableResult
    func processRoutes(_ request: inout SIPRequest) -> Bool {
        var followsOwnRoute = false
        if self.isLocal(request.uri), request.uri.isLooseRouter, let last = request.routes.last {
            // A strict router upstream put our Route URI in the Request-URI (§16.4).
            followsOwnRoute = self.shared.routeSigner.verifies(request.uri, callID: request.callID)
            request.uri = last.uri
            Self.removeLastRoute(&request)
        }
        while let top = request.headers.firstValue("route").flatMap(NameAddress.parse), self.isLocal(top.uri) {
            request.headers.removeFirstValue("route")
            // Only a Route value the proxy itself recorded for this dialog counts (RouteSigner); one that merely
            // names the proxy is removed all the same (§16.4) but gives no right to relay.
            if self.shared.routeSigner.verifies(top.uri, callID: request.callID) { followsOwnRoute = true }
        }
        return followsOwnRoute
    }

    static func removeLastRoute(_ request: inout SIPRequest) {
        var values = request.headers.values("route")
        guard !values.isEmpty else { return }
        values.removeLast()
        request.headers.remove("route")
        for value in values { request.headers.add("Route", value) }
    }
}

/// RFC 1123 dates for the registrar's Date header (RFC 3261 §20.17).
enum HTTPDate {
    static func now() -> String {
        var t = time(nil)
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
