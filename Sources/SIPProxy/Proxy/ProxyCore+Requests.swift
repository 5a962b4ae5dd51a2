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
        // A retransmission of a request already answered: the lingering transaction resends the answer.
        if self.transactions.absorbRetransmission(key) { return }
        // Past capacity a share of new work is refused at once, before it costs a transaction (ProxyCore+Overload).
        if self.shedsForOverload(request, key: key, from: peer) { return }
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
        if self.isForConference(request) {
            // A room the proxy hosts: it answers as the UAS of this leg.
            self.handleConference(request, entry: entry, from: peer)
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
            // A proxy sharing the location store forwards to the phones this proxy holds (issue 16 item 2).
            if self.registrar.isPeerProxy(peer.remote) { return true }
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
            extra.append(("Date", self.dateCache.now()))
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
        if self.transactions.absorbRetransmission(cancelKey) { return }
        let entry = self.transactions.createServer(
            key: cancelKey,
            request: request,
            destination: Self.responseDestination(for: request, peer: peer),
            localTag: self.localTag(for: cancelKey)
        )
        var inviteKey = cancelKey
        inviteKey.method = .invite
        guard let invite = self.transactions.server(inviteKey) else {
            // §9.2: an INVITE already answered 2xx (its transaction lingers in "Accepted"): 200, no effect;
            // §16.10: no matching INVITE transaction at all: 481.
            self.reply(entry, self.transactions.isLingering(inviteKey) ? 200 : 481)
            return
        }
        self.reply(entry, 200)
        guard let context = self.contexts[invite.key], !context.machine.cancelled else { return }
        self.logger.info("call cancelled by caller", metadata: ["sip.call_id": "\(request.callID)"])
        self.run(context, .cancel)
    }

    // MARK: Forwarding (§16.6)

    struct ForwardTarget {
        var uri: SIPURI
        var binding: Binding?
        /// Where RFC 3263 resolution says to send it, in order (ProxyCore+DNS); empty when the next hop is an
        /// address already.
        var resolved: [Peer] = []
    }

    /// The response context of a request about to be forwarded, kept until its server transaction ends.
    func makeContext(for entry: ServerEntry, request: SIPRequest) -> ProxyContext {
        let context = ProxyContext(
            serverKey: entry.key,
            request: request,
            loopHash: Self.loopHash(entry.request),
            followRedirects: self.forwarding.followRedirects
        )
        self.contexts[entry.key] = context
        return context
    }

    private func forward(_ incoming: SIPRequest, targets: [ForwardTarget], entry: ServerEntry, from peer: Peer) {
        var request = incoming
        guard self.relayMedia(&request, entry: entry, targets: targets, from: peer) else { return }
        let context = self.makeContext(for: entry, request: request)
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
        if targets.count == 1, let uri = self.domainNextHop(request, target: targets[0]) {
            // A domain that is not ours: RFC 3263 first, the branch when the answer is in (ProxyCore+DNS).
            self.resolveAndForward(context, request, target: targets[0], nextHop: uri, entry: entry, from: peer)
            return
        }
        if self.startBranches(context, request, targets: targets, from: peer) == 0 {
            self.logger.info("no reachable target for \(request.uri)", metadata: ["sip.call_id": "\(request.callID)"])
            // A host the proxy cannot resolve is unknown to it (RFC 4475 §3.1.1.2 allows 404); registered
            // contacts that cannot be reached make the user temporarily unavailable.
            self.reply(entry, targets.count == 1 && targets[0].binding == nil ? 404 : 480)
        }
    }

    /// Stateless forwarding of a 2xx ACK (§16.11): Route processing, a Via with a branch derived from the
    /// incoming one (so retransmissions get the same branch), then to the next hop.
    func forwardStateless(_ incoming: SIPRequest, from peer: Peer) {
        var request = incoming
        if request.maxForwards == 0 { return }
        // The ACK of a final response the proxy made itself and sent statelessly: it ends here (§17.2.1).
        if let key = self.serverKey(for: incoming), incoming.to.tag == self.localTag(for: key) { return }
        let followsOwnRoute = self.processRoutes(&request)
        // The ACK of a room's 2xx ends at the room (§13.3.1.4: it stops the 2xx retransmissions).
        if !request.headers.contains("route"), self.isForConference(request) {
            self.roomAnswerAcknowledged(request)
            return
        }
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
        if let nextHop = self.domainNextHop(request, target: target) {
            // A next hop named by a domain (RFC 3263): the ACK leaves when the lookup is done (ProxyCore+DNS).
            self.resolveStateless(request, incoming: incoming, target: target, nextHop: nextHop, from: peer)
            return
        }
        guard let destination = self.destination(for: request, target: target, from: peer) else { return }
        self.sendStateless(request, incoming: incoming, target: target, to: destination)
    }

    /// The rest of §16.11 once the next hop is known: Max-Forwards, a Via with a branch derived from the incoming one
    /// (so retransmissions get the same branch), out.
    func sendStateless(_ forwarded: SIPRequest, incoming: SIPRequest, target: ForwardTarget, to destination: Peer) {
        var request = forwarded
        request.headers.set("Max-Forwards", String(max(0, (request.maxForwards ?? 71) - 1)))
        if request.method == .ack { self.relayMedia(ack: &request) }
        var hash = FNV1a()
        hash.combine(incoming.topVia?.branch ?? "")
        hash.combine(incoming.callID)
        hash.combine(target.uri.serialized)
        request.prependVia(self.via(destination, branch: "\(Via.magicCookie)-sa\(String(hash.value, radix: 36))"))
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
        if status >= 200, entry.request.method != .invite, self.contexts[entry.key] == nil,
            self.shared.authenticator == nil
        {
            // A non-INVITE request the proxy answers itself (REGISTER, OPTIONS, a 404): answered statelessly, as
            // Kamailio's registrar does (RFC 3261 §8.2.7 stateless UAS). A retransmission is answered again, which
            // for these requests gives the same answer (§10.3 step 7 ignores a REGISTER already applied), and no
            // transaction waits 32 s for it: at 5,000 registrations a second that was 160,000 of them. With
            // digest auth the transaction stays: a retransmission must get the cached answer, since its nonce
            // may be used only once.
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
        let sourceIP = peer.remote.ipText ?? ""
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
            SIPGrammar.containsBytes(line, marker)
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
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The rfc1123-date of a moment (RFC 3261 §20.17: always GMT).
    static func format(_ seconds: time_t) -> String {
        var t = seconds
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(Self.days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(Self.months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    static func now() -> String { Self.format(time(nil)) }

    /// The date of the current second, formatted once per second: a lab registering at once answers thousands of
    /// REGISTERs a second, each with a Date header. One per shard, used on its event loop only.
    struct Cache {
        private var second: time_t = -1
        private var text = ""

        mutating func now() -> String {
            let t = time(nil)
            if t != self.second {
                self.second = t
                self.text = HTTPDate.format(t)
            }
            return self.text
        }
    }
}
