// ProxyCore+Forwarding: call forwarding and redirect recursion in the proxy core (RFC 3261 §16.5, §16.7 step 4).
//
//     INVITE bob --> [rules of bob] --always--> carol's phones          (one branch group per target user)
//                        |--busy (486/600)-------> next group
//                        |--no answer in N s---> CANCEL bob's branches, next group
//                        |--unavailable (no binding, 480, 408, 404, 503)--> next group
//     3xx from a phone ---> its Contacts (by q) as the next group (when follow_redirects is on)
//
// Every forwarded INVITE carries Diversion (RFC 5806) and History-Info (RFC 7044) built from the whole chain;
// the call tracker reads them back from the INVITE it sees sent, so the journal records the forward.
//
// Hooks in the existing files: `process` calls `forwardCall` before the location lookup (§16.5); the response
// context asks for the next target (`.nextTarget`) when a group ends without an answer or its no-answer time runs
// out; the branches of every group are started by `startBranches`.

import Logging
import NIOCore
import Synchronization

/// Call forwarding for every shard: the rules in force and where they are saved. The table sits behind a mutex
/// because `sipctl forward set` changes it while calls on any shard read it; a reader takes a copy (copy-on-write,
/// so a retain, not a copy of the rules).
final class ForwardingService: Sendable {
    private let state: Mutex<ForwardingTable>
    let store: ForwardingStore?
    let followRedirects: Bool
    let hopLimit: Int

    init(configuration: ProxyConfiguration, logger: Logger) {
        self.followRedirects = configuration.followRedirects
        self.hopLimit = configuration.forwardingHopLimit
        var table = ForwardingTable(base: configuration.forwarding)
        if let path = configuration.forwardingStatePath {
            let store = ForwardingStore(path: path)
            self.store = store
            do throws(ForwardingError) {
                // Read once at start-up, before any traffic: a blocking read is fine here.
                table.overrides = try store.load()
                if !table.overrides.isEmpty {
                    logger.info("forwarding: \(table.overrides.count) run-time rule(s) loaded from \(path)")
                }
            } catch {
                logger.warning("forwarding: ignoring the saved rules: \(error)")
            }
        } else {
            self.store = nil
        }
        self.state = Mutex(table)
    }

    /// The rules in force now.
    var table: ForwardingTable { self.state.withLock { $0 } }

    /// Changes the rules (control commands); returns what `body` returns.
    func update<Result>(_ body: (inout ForwardingTable) -> Result) -> Result {
        self.state.withLock { body(&$0) }
    }
}

/// The forwarding state of one call (a ProxyContext of an initial INVITE).
final class ForwardingContext {
    /// The user whose phones the current group rings (nil when it rings a plain URI).
    var user: String?
    /// Every forward taken so far, in order.
    var hops: [ForwardingHop] = []
    /// Users and URIs already tried (loop protection).
    var visited: Set<String> = []

    init(user: String?) {
        self.user = user
    }
}

extension ProxyCore {
    func forwardingPlanner() -> ForwardingPlanner {
        let now = self.now()
        return ForwardingPlanner(
            rules: self.forwarding.table.rules,
            hopLimit: self.forwarding.hopLimit,
            isLocal: { [unowned self] uri in self.isLocal(uri) },
            isRegistered: { [unowned self] user in !self.registrar.lookup(user, now: now).isEmpty }
        )
    }

    // MARK: Start of a call (hook in `process`, §16.5)

    /// Takes over an initial INVITE for a local user who has forwarding rules. Returns false to leave the request
    /// to the normal location lookup (no rules, or a plain unregistered user).
    func forwardCall(_ request: SIPRequest, user: String, entry: ServerEntry, from peer: Peer) -> Bool {
        guard request.method == .invite, !request.isInDialog, self.forwarding.table.rule(for: user) != nil else {
            return false
        }
        let planner = self.forwardingPlanner()
        var visited: Set<String> = []
        let plan = planner.plan(callTo: user, visited: &visited)
        if case .unavailable = plan.outcome, plan.hops.isEmpty { return false }

        var request = request
        guard self.relayMedia(&request, entry: entry, targets: [], from: peer) else { return true }
        let context = self.makeContext(for: entry, request: request)
        let state = ForwardingContext(user: user)
        state.visited = visited
        context.forwarding = state
        self.run(context, .forwardingEnabled)
        self.logger.info(
            "call \(context.callLabel): calling, forwarding rules of \(user): \(self.forwarding.table.rule(for: user)?.summary ?? "none")",
            metadata: ["sip.call_id": "\(request.callID)"]
        )
        switch plan.outcome {
        case .loop:
            self.logForwards(context, plan.hops)
            self.logger.info(
                "call \(context.callLabel): forwarding loop (\(self.chainText(user, plan.hops))), 482",
                metadata: ["sip.call_id": "\(request.callID)"]
            )
            self.reply(entry, 482)
        case .tooManyHops:
            self.logger.info(
                "call \(context.callLabel): more than \(self.forwarding.hopLimit) forwards, 483",
                metadata: ["sip.call_id": "\(request.callID)"]
            )
            self.reply(entry, 483)
        case .unavailable(let target):
            self.logForwards(context, plan.hops)
            state.hops = plan.hops
            self.logger.info(
                "call \(context.callLabel): \(target) is not registered, 480",
                metadata: ["sip.call_id": "\(request.callID)"]
            )
            self.reply(entry, 480)
        case .none:
            self.reply(entry, 480)
        case .user, .uri:
            let serverKey = entry.key
            let uri = request.uri
            let callID = request.callID
            let noTarget: @Sendable () -> Void = { [weak self] in
                guard let self else { return }
                self.eventLoop.assertInEventLoop()
                guard let entry = self.transactions.server(serverKey) else { return }
                self.logger.info("no reachable target for \(uri)", metadata: ["sip.call_id": "\(callID)"])
                self.reply(entry, 480)
            }
            if self.startGroup(context, state, plan, from: peer, onNone: noTarget) == 0 { noTarget() }
        }
        return true
    }

    // MARK: The next target (asked by the response context, §16.7 step 4)

    /// A forwarding group (or a plain call's only group, after a 3xx) ended without an answer, or rang past its
    /// no-answer time: start the next one (the 3xx Contacts, else the rule for `condition`, as the response context
    /// judged the group's outcome), or tell the response context there is none.
    func nextTarget(_ context: ProxyContext, condition: ForwardingCondition?, redirects: [SIPResponse]) {
        guard let peer = self.transactions.server(context.serverKey)?.destination else {
            self.run(context, .noFurtherTarget)
            return
        }
        let state: ForwardingContext
        if let existing = context.forwarding {
            state = existing
        } else {
            // Redirect recursion needs no rule: the state is made on the first 3xx.
            state = ForwardingContext(user: self.redirectingUser(context.request))
            if let user = state.user { state.visited.insert(ForwardingDestination.user(user).visitKey) }
            context.forwarding = state
        }
        let planner = self.forwardingPlanner()
        if !redirects.isEmpty, self.followRedirects(context, state, redirects, planner: planner, from: peer) { return }
        guard let user = state.user, let condition else {
            self.run(context, .noFurtherTarget)
            return
        }
        var visited = state.visited
        let plan = planner.plan(after: condition, of: user, visited: &visited, hopsSoFar: state.hops.count)
        switch plan.outcome {
        case .user, .uri:
            state.visited = visited
            let noTarget = self.noFurtherTarget(context)
            if self.startGroup(context, state, plan, from: peer, onNone: noTarget) > 0 { return }
        case .loop:
            self.logger.info(
                "call \(context.callLabel): forwarding \(user) (\(condition.logWord)) loops back, stopping",
                metadata: ["sip.call_id": "\(context.request.callID)"]
            )
        case .tooManyHops:
            self.logger.info(
                "call \(context.callLabel): forwarding limit of \(self.forwarding.hopLimit) reached, stopping",
                metadata: ["sip.call_id": "\(context.request.callID)"]
            )
        case .unavailable(let target):
            self.logger.info(
                "call \(context.callLabel): forward target \(target) (\(condition.logWord)) is not registered",
                metadata: ["sip.call_id": "\(context.request.callID)"]
            )
        case .none:
            if condition == .noAnswer {
                self.logger.info(
                    "call \(context.callLabel): no answer from \(user), no further target",
                    metadata: ["sip.call_id": "\(context.request.callID)"]
                )
            }
        }
        self.run(context, .noFurtherTarget)
    }

    /// §16.5 / §16.7 step 4: the Contacts of the held 3xx responses, highest q first, become the next group.
    private func followRedirects(
        _ context: ProxyContext,
        _ state: ForwardingContext,
        _ redirects: [SIPResponse],
        planner: ForwardingPlanner,
        from peer: Peer
    ) -> Bool {
        let contacts = redirects.flatMap(\.contacts).enumerated().sorted { a, b in
            let qa = Double(a.element.parameters["q"] ?? "") ?? 1
            let qb = Double(b.element.parameters["q"] ?? "") ?? 1
            return qa != qb ? qa > qb : a.offset < b.offset
        }.map(\.element)
        let from = state.user ?? self.redirectingUser(context.request) ?? "unknown"
        var visited = state.visited
        var targets: [ForwardTarget] = []
        var hops: [ForwardingHop]?
        var groupUser: String?
        for contact in contacts where contact.uri.isSIP {
            var uri = contact.uri
            uri.headers = nil
            let destination: ForwardingDestination =
                self.isLocal(uri) && uri.user != nil ? .user(LocationStore.userKey(uri)) : .uri(uri)
            let plan = planner.plan(redirectTo: destination, from: from, visited: &visited, hopsSoFar: state.hops.count)
            let found = self.targets(for: plan.outcome)
            guard !found.isEmpty else { continue }
            if hops == nil {
                hops = plan.hops
                if case .user(let u) = plan.outcome { groupUser = u }
            }
            targets += found
        }
        guard let hops, !targets.isEmpty else { return false }
        let started = self.startTargets(
            context, state, hops: hops, user: groupUser, targets: targets, from: peer,
            onNone: self.noFurtherTarget(context)
        )
        guard started > 0 else { return false }
        state.visited = visited
        return true
    }

    // MARK: Groups

    /// The branches for a plan's outcome: a user's bindings, or the URI.
    private func targets(for outcome: ForwardingPlan.Outcome) -> [ForwardTarget] {
        switch outcome {
        case .user(let user):
            return self.registrar.lookup(user, now: self.now()).map {
                ForwardTarget(uri: $0.contact.uri, binding: $0)
            }
        case .uri(let uri):
            return [ForwardTarget(uri: uri, binding: nil)]
        default:
            return []
        }
    }

    /// Starts the group a plan leads to; returns the number of branches started.
    @discardableResult
    private func startGroup(
        _ context: ProxyContext,
        _ state: ForwardingContext,
        _ plan: ForwardingPlan,
        from peer: Peer,
        onNone: @escaping @Sendable () -> Void = {}
    ) -> Int {
        var user: String?
        if case .user(let u) = plan.outcome { user = u }
        return self.startTargets(
            context, state, hops: plan.hops, user: user, targets: self.targets(for: plan.outcome), from: peer,
            onNone: onNone
        )
    }

    /// Starts `targets` as the new current group with the chain's Diversion and History-Info; arms the
    /// no-answer timer of the group's user.
    ///
    /// A target naming another domain (a rule's `sip:carol@lab-b.test`, a 3xx Contact) is resolved first (RFC 3263),
    /// without blocking the loop: the group starts when every answer is in, and the count returned is the targets
    /// about to start. If by then none can be reached, `onNone` says what the caller would have done for 0.
    private func startTargets(
        _ context: ProxyContext,
        _ state: ForwardingContext,
        hops: [ForwardingHop],
        user: String?,
        targets: [ForwardTarget],
        from peer: Peer,
        onNone: @escaping @Sendable () -> Void = {}
    ) -> Int {
        guard !targets.isEmpty else { return 0 }
        let lookups = targets.indices.compactMap { i in
            self.domainNextHop(context.request, target: targets[i]).map { (index: i, uri: $0) }
        }
        if lookups.isEmpty {
            return self.startResolvedTargets(context, state, hops: hops, user: user, targets: targets, from: peer)
        }
        let answers = lookups.map { lookup in
            self.resolver.locate(
                SIPServerLocator(uri: lookup.uri, supported: self.dnsTransports, families: self.dnsFamilies)
            ).map { (lookup.index, lookup.uri.maddr ?? lookup.uri.host, $0.targets) }
        }
        let serverKey = context.serverKey
        EventLoopFuture.whenAllComplete(answers, on: self.eventLoop).whenSuccess { [weak self] results in
            guard let self else { return }
            self.eventLoop.assertInEventLoop()
            // The caller may have cancelled, or another branch answered, while DNS was asked.
            guard let context = self.contexts[serverKey], let state = context.forwarding, !context.machine.cancelled,
                !context.machine.finalForwarded, !context.machine.answered
            else { return }
            var resolved = targets
            var unreachable = Set<Int>()
            for (lookup, result) in zip(lookups, results) {
                let found = (try? result.get())?.2 ?? []
                let peers = found.compactMap { self.peer(for: $0, from: peer) }
                let host = lookup.uri.maddr ?? lookup.uri.host
                self.logger.info(
                    peers.isEmpty
                        ? "dns: no target for \(host), forward to \(lookup.uri) skipped"
                        : "dns: \(host) -> \(found.map(\.description).joined(separator: ", "))",
                    metadata: ["sip.call_id": "\(context.request.callID)"]
                )
                if peers.isEmpty { unreachable.insert(lookup.index) } else { resolved[lookup.index].resolved = peers }
            }
            let usable = resolved.indices.filter { !unreachable.contains($0) }.map { resolved[$0] }
            if self.startResolvedTargets(context, state, hops: hops, user: user, targets: usable, from: peer) == 0 {
                onNone()
            }
        }
        return targets.count
    }

    /// "No further target" for a context, to be said later (the context is found again by its key).
    private func noFurtherTarget(_ context: ProxyContext) -> @Sendable () -> Void {
        let serverKey = context.serverKey
        return { [weak self] in
            guard let self, let context = self.contexts[serverKey] else { return }
            self.run(context, .noFurtherTarget)
        }
    }

    private func startResolvedTargets(
        _ context: ProxyContext,
        _ state: ForwardingContext,
        hops: [ForwardingHop],
        user: String?,
        targets: [ForwardTarget],
        from peer: Peer
    ) -> Int {
        guard !targets.isEmpty else { return 0 }
        let allHops = state.hops + hops
        var request = context.request
        if !allHops.isEmpty {
            let base = context.request.uri
            // Newest forward on top, above any Diversion the request arrived with (RFC 5806 §4).
            for value in ForwardingHeaders.diversion(allHops, base: base).reversed() {
                request.headers.prepend("Diversion", value)
            }
            let existing = context.request.headers.values("history-info")
            for value in ForwardingHeaders.historyInfo(allHops, original: base, existing: existing) {
                request.headers.add("History-Info", value)
            }
        }
        let started = self.startBranches(
            context, request, targets: targets, from: peer, asGroup: true, noAnswerAfter: self.noAnswerDelay(of: user)
        )
        guard started > 0 else { return 0 }
        state.hops = allHops
        state.user = user
        self.logForwards(context, hops)
        if context.isCall && hops.isEmpty {
            self.logger.info(
                "call \(context.callLabel): calling \(started) contact(s)",
                metadata: ["sip.call_id": "\(context.request.callID)"]
            )
        }
        return started
    }

    /// `call alice -> bob: forwarded to carol (busy)`, one line per forward.
    private func logForwards(_ context: ProxyContext, _ hops: [ForwardingHop]) {
        for hop in hops {
            let by = hop.from == context.request.to.callParty ? "" : " by \(hop.from)"
            self.logger.info(
                "call \(context.callLabel): forwarded to \(hop.to) (\(hop.reason.logWord))\(by)",
                metadata: ["sip.call_id": "\(context.request.callID)"]
            )
        }
    }

    private func chainText(_ user: String, _ hops: [ForwardingHop]) -> String {
        ([user] + hops.map(\.to.description)).joined(separator: " -> ")
    }

    /// The no-answer time of `user`'s forwarding rule, if it has a no-answer target. The response context starts
    /// the group's timer with it (calls only) and decides what its expiry does.
    private func noAnswerDelay(of user: String?) -> TimeAmount? {
        guard let user, let rule = self.forwarding.table.rule(for: user), rule.noAnswer != nil else { return nil }
        return .seconds(Int64(rule.noAnswerSeconds))
    }

    /// The user a 3xx is attributed to: the Request-URI's user when it is this proxy's, else the To user.
    private func redirectingUser(_ request: SIPRequest) -> String? {
        if self.isLocal(request.uri), request.uri.user != nil { return LocationStore.userKey(request.uri) }
        return request.to.uri.user
    }
}
