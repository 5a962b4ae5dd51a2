// ResponseContext: the response context of one proxied request (RFC 3261 §16.7) as a pure state machine, like the
// four transaction machines: events in, actions out, no clock, no I/O, no lookups.
//
//     branches added ──► provisional ──► forward 1xx (not 100), CANCEL if pending, restart Timer C
//                        final 2xx ────► forward at once, CANCEL the other branches (step 10)
//                        final 6xx ────► collect, CANCEL the other branches (step 5)
//                        final other ──► collect; held back when a 3xx may be recursed (step 4)
//                        all final ────► forwarding group done? ask for the next target (nextTarget)
//                                        else send the best response (step 6-8)
//
// Call forwarding and redirect recursion are groups of branches: a later group supersedes the earlier ones, whose
// final responses are no longer candidates. What the next group is (a rule, a 3xx's Contacts, the location service)
// is not decided here: the machine asks with `.nextTarget` and the core answers with `.groupStarted` or
// `.noFurtherTarget`. Every timer that carries a SIP decision (Timer C, the no-answer timer, the 64*T1 guard after a
// CANCEL, the RFC 3263 failover time) is started and stopped through actions; its expiry comes back as an event and
// what follows is decided here. The core only arms and cancels the timers and carries the actions out.
//
//     no-answer timer fired ──► ask for the "no answer" target; its group cancels the ringing one (.groupStarted)
//     64*T1 after a CANCEL ───► give the branch up: it counts as a 408 (§9.1, §16.7 step 2)
//     failover time, silent ──► move the branch to the next DNS target (RFC 3263 §4.3)

import NIOCore

/// The §16.7 state of one server transaction's branches.
struct ResponseContext {
    /// What kind of request the context serves; fixed at creation.
    struct Options: Equatable {
        /// INVITE: Timer C runs, 2xx and 6xx cancel the other branches, CANCEL applies.
        var isInvite: Bool
        /// An initial INVITE (a call): forwarding and redirect recursion apply.
        var isCall: Bool
        /// Recurse on 3xx responses (§16.5: "the proxy MAY ... add the Contacts to the target set").
        var followRedirects: Bool
    }

    /// The SIP state of one branch (its request and transaction live with the core).
    struct Branch: Equatable {
        /// A provisional response arrived: a CANCEL may be sent now (§9.1).
        var provisional = false
        /// The final status, once one arrived, was synthesized (408, 503) or the branch was replaced.
        var finalStatus: Int?
        /// Cancelled before any provisional arrived: the CANCEL goes out when one does (§9.1).
        var cancelPending = false
        var cancelSent = false
        var timerCRunning = false
    }

    enum Event {
        /// `count` new branches of the current group were started (the first ones, or a UDP retry).
        case branchesAdded(count: Int)
        /// Forwarding started `count` branches as a new group; the previous group's branches are superseded and
        /// those still ringing are cancelled (no-answer forwarding). `noAnswerAfter`: the no-answer delay of the
        /// rule of the user the group rings, if it has one (the core looks the rule up; the machine decides).
        case groupStarted(count: Int, noAnswerAfter: TimeAmount? = nil)
        /// A forwarding rule applies to this call: when a group ends without an answer, ask for the next target.
        case forwardingEnabled
        /// A provisional response on a branch, already stripped of the proxy's Via.
        case provisional(branch: Int, SIPResponse)
        /// A final response on a branch, received (stripped of the proxy's Via) or synthesized (§16.7 step 2).
        case final(branch: Int, SIPResponse)
        /// Timer C of a branch fired (§16.8).
        case timerC(branch: Int)
        /// The current group's no-answer timer fired (`.startNoAnswerTimer`).
        case noAnswerTimeout
        /// 64*T1 passed since the CANCEL on a branch (`.startCancelGuard`, §9.1).
        case cancelGuardExpired(branch: Int)
        /// The RFC 3263 §4.3 failover time of a branch with a further DNS target passed (the core arms it when it
        /// sends a branch whose target has another behind it).
        case failoverTimeout(branch: Int)
        /// The caller cancelled (§16.10).
        case cancel
        /// The answer to `.nextTarget` when no group was started.
        case noFurtherTarget
        /// A branch's request is sent again on a new branch (§18.1.1 UDP retry); its own outcome no longer counts.
        case branchReplaced(branch: Int)
    }

    enum Action: Equatable {
        /// Send upstream on the server transaction: a provisional (not 100) or a 2xx.
        case forward(SIPResponse)
        /// Send CANCEL on a branch (§16.10, §9.1).
        case cancelBranch(Int)
        /// Start the 64*T1 guard of a cancelled INVITE branch; its expiry is `.cancelGuardExpired` (§9.1).
        case startCancelGuard(Int)
        /// Stop waiting for the branch's response: end its client transaction (the branch is given up).
        case abandonBranch(Int)
        /// Send the branch's request to its next DNS target on a new branch (RFC 3263 §4.3); the old one's
        /// client transaction is abandoned. The core answers with `.branchReplaced` and `.branchesAdded`.
        case failOver(Int)
        case startTimerC(Int)
        case stopTimerC(Int)
        /// Start the current group's no-answer timer; its expiry is `.noAnswerTimeout`.
        case startNoAnswerTimer(TimeAmount)
        /// The group's no-answer timer is no longer needed.
        case stopNoAnswerTimer
        /// The current forwarding group ended without an answer, or rang too long: find the next target and
        /// answer with `.groupStarted` or `.noFurtherTarget`. `condition` is what the group's outcome means for
        /// the forwarding rules (nil: none applies); `redirects` the 3xx responses whose Contacts may be tried.
        case nextTarget(condition: ForwardingCondition?, redirects: [SIPResponse])
        /// Send this final response upstream (§16.7 step 7-8).
        case respond(SIPResponse)
        /// Send a final response made by the proxy itself with this status instead of the best one: 500 for a
        /// 503 (step 6), 487 after the caller's CANCEL, 408 for a timeout without To tag.
        case respondLocally(Int)
    }

    /// A branch's final answer as a candidate for the best response (§16.7 step 6).
    enum Candidate: Equatable {
        /// A response from downstream, stripped of the proxy's Via.
        case response(SIPResponse)
        /// A status the proxy stands in with for a branch that gave none: a branch given up 64*T1 after its
        /// CANCEL counts as a 408 (§9.1, §16.7 step 2). It has no To tag, so it never goes upstream as such.
        case local(Int)

        var statusCode: Int {
            switch self {
            case .response(let response): return response.statusCode
            case .local(let status): return status
            }
        }

        var hasToTag: Bool {
            if case .response(let response) = self { return response.to.tag != nil }
            return false
        }
    }

    let options: Options
    private(set) var branches: [Branch] = []
    /// Final responses that are candidates for the best response.
    private(set) var finals: [Candidate] = []
    private(set) var cancelled = false
    private(set) var answered = false
    /// A final response went upstream; after it only 2xx responses are still forwarded (§16.7 step 10).
    private(set) var finalForwarded = false
    /// Forwarding or redirect recursion is in force.
    private(set) var forwarding = false
    /// The current group's no-answer timer runs.
    private(set) var noAnswerTimerRunning = false
    /// The first branch of the current group.
    private(set) var groupStart = 0
    /// 3xx responses of the current group held back while their Contacts may still be tried.
    private var heldRedirects: [SIPResponse] = []
    /// The final response whose group completion is waiting for `.groupStarted` / `.noFurtherTarget`, and whether it
    /// is a candidate itself.
    private var awaiting: (candidate: Candidate, collect: Bool)?

    init(options: Options) {
        self.options = options
    }

    var allBranchesFinal: Bool { self.branches.allSatisfy { $0.finalStatus != nil } }

    /// Whether a failed branch may be sent again on a new branch (§18.1.1): not when it is being cancelled or the
    /// request is answered.
    func mayRetry(_ index: Int) -> Bool {
        guard index < self.branches.count else { return false }
        let branch = self.branches[index]
        return branch.finalStatus == nil && !branch.cancelPending && !branch.cancelSent && !self.cancelled
            && !self.finalForwarded
    }

    mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .branchesAdded(let count):
            return self.add(count)
        case .groupStarted(let count, let noAnswerAfter):
            return self.startGroup(count, noAnswerAfter: noAnswerAfter)
        case .forwardingEnabled:
            self.forwarding = true
            return []
        case .provisional(let index, let response):
            return self.provisional(index, response)
        case .final(let index, let response):
            return self.final(index, .response(response))
        case .timerC(let index):
            return self.timerC(index)
        case .noAnswerTimeout:
            return self.noAnswerTimeout()
        case .cancelGuardExpired(let index):
            // §9.1: "If there is no final response for the original request in 64*T1 seconds ..., the client SHOULD
            // then consider the original transaction cancelled": a phone that ignores the CANCEL (or answers it but
            // never sends 487) must not keep the caller waiting, nor the INVITE transaction alive, forever. The
            // branch then counts as a timeout (§16.7 step 2).
            guard index < self.branches.count, self.branches[index].cancelSent,
                self.branches[index].finalStatus == nil
            else { return [] }
            return [.abandonBranch(index)] + self.final(index, .local(408))
        case .failoverTimeout(let index):
            // RFC 3263 §4.3: a target that gave no response at all in time is left for the next one. A branch that
            // answered, or is being cancelled or answered elsewhere, keeps its transaction (Timer B or the answer
            // ends it).
            guard index < self.branches.count, !self.branches[index].provisional, self.mayRetry(index) else {
                return []
            }
            return [.failOver(index)]
        case .cancel:
            // §16.10: the caller gave up; every branch without a final response is cancelled.
            guard !self.cancelled else { return [] }
            self.cancelled = true
            var actions = self.cancelPending(except: nil)
            if self.branches.isEmpty && !self.finalForwarded {
                self.finalForwarded = true
                actions.append(.respondLocally(487))
            }
            return actions
        case .noFurtherTarget:
            // Also the answer after a no-answer timeout with nothing to forward to: nothing awaits it, and the
            // group keeps ringing (until an answer or Timer C).
            guard let (candidate, collect) = self.awaiting else { return [] }
            self.awaiting = nil
            // The held 3xx become candidates again, then the response that ended the group.
            self.finals += self.heldRedirects.map(Candidate.response)
            self.heldRedirects.removeAll()
            if collect { self.finals.append(candidate) }
            return self.finishIfDone()
        case .branchReplaced(let index):
            guard index < self.branches.count, self.branches[index].finalStatus == nil else { return [] }
            self.branches[index].finalStatus = 503
            return self.stopTimerC(index)
        }
    }

    // MARK: Branches and groups

    private mutating func add(_ count: Int) -> [Action] {
        let first = self.branches.count
        self.branches += Array(repeating: Branch(), count: count)
        // §16.6 step 11: Timer C for every INVITE branch.
        guard self.options.isInvite else { return [] }
        return (first..<self.branches.count).map { index in
            self.branches[index].timerCRunning = true
            return .startTimerC(index)
        }
    }

    private mutating func startGroup(_ count: Int, noAnswerAfter: TimeAmount?) -> [Action] {
        self.forwarding = true
        // The previous group's phones stop ringing (a CANCEL waits for their provisional, §9.1).
        var actions: [Action] = []
        for index in self.groupStart..<self.branches.count {
            actions += self.cancel(index)
        }
        self.finals.removeAll()
        self.heldRedirects.removeAll()
        self.awaiting = nil
        self.groupStart = self.branches.count
        // The no-answer timer belongs to the group: the new group's user's rule sets it again, or nothing does.
        actions += self.stopNoAnswerTimer()
        actions += self.add(count)
        if self.options.isCall, let noAnswerAfter {
            self.noAnswerTimerRunning = true
            actions.append(.startNoAnswerTimer(noAnswerAfter))
        }
        return actions
    }

    // MARK: Responses

    private mutating func provisional(_ index: Int, _ response: SIPResponse) -> [Action] {
        guard index < self.branches.count else { return [] }
        var actions: [Action] = []
        self.branches[index].provisional = true
        if self.branches[index].cancelPending && self.branches[index].finalStatus == nil {
            actions += self.cancel(index)
        }
        if self.options.isInvite && response.statusCode > 100 && self.branches[index].finalStatus == nil {
            // §16.7 step 2: a provisional response restarts Timer C.
            self.branches[index].timerCRunning = true
            actions.append(.startTimerC(index))
        }
        // Step 5: 100 Trying is hop by hop; after a final response nothing provisional goes up.
        if response.statusCode > 100 && !self.finalForwarded {
            actions.append(.forward(response))
        }
        return actions
    }

    private mutating func final(_ index: Int, _ candidate: Candidate) -> [Action] {
        guard index < self.branches.count else { return [] }
        guard self.branches[index].finalStatus == nil else {
            // Step 10: a further 2xx on the same branch (a retransmission or another fork downstream) is still
            // forwarded; the UAC must ACK every 2xx.
            guard case .response(let response) = candidate, response.isSuccess, self.options.isInvite else { return [] }
            return [.forward(response)]
        }
        let status = candidate.statusCode
        self.branches[index].finalStatus = status
        var actions = self.stopTimerC(index)

        if case .response(let response) = candidate, response.isSuccess {
            // Step 10: every 2xx is forwarded at once; for INVITE the other branches are cancelled.
            self.answered = true
            self.finalForwarded = true
            actions.append(.forward(response))
            actions += self.stopNoAnswerTimer()
            if self.options.isInvite { actions += self.cancelPending(except: index) }
            return actions
        }
        if self.finalForwarded { return actions }

        var collect = true
        if self.options.isCall {
            let isRedirect = (300..<400).contains(status) && self.options.followRedirects
            if isRedirect && !self.forwarding && !self.cancelled {
                // Step 4: recursion needs no rule; it starts with the first 3xx.
                self.forwarding = true
            }
            if self.forwarding {
                if index < self.groupStart {
                    collect = false  // a superseded group's answer
                } else {
                    if isRedirect, case .response(let response) = candidate {
                        self.heldRedirects.append(response)
                        collect = false
                    }
                    if self.branches[self.groupStart...].allSatisfy({ $0.finalStatus != nil }) {
                        actions += self.stopNoAnswerTimer()
                        if !self.cancelled {
                            let statuses = self.branches[self.groupStart...].compactMap(\.finalStatus)
                            self.awaiting = (candidate, collect)
                            let condition = Self.forwardingCondition(for: statuses, cancelled: self.cancelled)
                            actions.append(.nextTarget(condition: condition, redirects: self.heldRedirects))
                            return actions
                        }
                        self.finals += self.heldRedirects.map(Candidate.response)
                        self.heldRedirects.removeAll()
                    }
                }
            }
        }
        if collect { self.finals.append(candidate) }
        // Steps 5-6: a 6xx ends the search; the other branches are cancelled.
        if status >= 600 && self.options.isInvite { actions += self.cancelPending(except: index) }
        return actions + self.finishIfDone()
    }

    /// The condition a group's final codes mean for the forwarding rules: busy wins, then a timeout/cancel (no
    /// answer), then unavailable. A decline (603) or other failures forward nowhere.
    static func forwardingCondition(for statuses: [Int], cancelled: Bool) -> ForwardingCondition? {
        if statuses.contains(where: { $0 == 486 || $0 == 600 }) { return .busy }
        if !cancelled && statuses.contains(487) { return .noAnswer }  // the proxy's Timer C cancelled the phones
        if statuses.contains(where: { [480, 408, 404, 410, 503].contains($0) }) { return .unavailable }
        return nil
    }

    private mutating func timerC(_ index: Int) -> [Action] {
        guard index < self.branches.count, self.branches[index].timerCRunning else { return [] }
        self.branches[index].timerCRunning = false
        let branch = self.branches[index]
        // §16.8: a branch that rang too long is cancelled; one with no response at all is ended by Timer B.
        guard branch.finalStatus == nil, branch.provisional, !branch.cancelSent else { return [] }
        return self.sendCancel(index)
    }

    /// The no-answer forwarding time of the group ran out (a forwarding rule's `no-answer ... after N s`).
    private mutating func noAnswerTimeout() -> [Action] {
        guard self.noAnswerTimerRunning else { return [] }
        self.noAnswerTimerRunning = false
        // Answered, cancelled, or already decided: nothing to forward. A group that ended is asking for its next
        // target already (`awaiting`).
        guard !self.answered, !self.cancelled, !self.finalForwarded, self.awaiting == nil else { return [] }
        // The ringing branches stay until the next group starts (`.groupStarted` cancels them); with no target
        // they ring on.
        return [.nextTarget(condition: .noAnswer, redirects: [])]
    }

    /// Steps 6-8 once every branch is final: the best response goes upstream.
    private mutating func finishIfDone() -> [Action] {
        guard self.allBranchesFinal, !self.finalForwarded, self.awaiting == nil else { return [] }
        self.finalForwarded = true
        guard let best = Self.best(of: self.finals) else { return [.respondLocally(408)] }
        if best.statusCode == 503 {
            // Step 6: a 503 is not passed on as such (it would make the UAC try another proxy).
            return [.respondLocally(500)]
        }
        if self.cancelled && best.statusCode == 408 {
            // Cancelled and no branch answered 487 in time: the caller expects 487 (§16.10).
            return [.respondLocally(487)]
        }
        guard case .response(let response) = best, best.statusCode != 408 || best.hasToTag else {
            return [.respondLocally(best.statusCode)]
        }
        return [.respond(response)]
    }

    /// §16.7 step 6: a 6xx wins; otherwise the lowest class; within a class a phone's own answer beats a
    /// synthesized timeout (408).
    static func best(of finals: [Candidate]) -> Candidate? {
        if let global = finals.first(where: { $0.statusCode >= 600 }) { return global }
        return finals.min { a, b in
            let ca = a.statusCode / 100
            let cb = b.statusCode / 100
            if ca != cb { return ca < cb }
            return a.statusCode != 408 && b.statusCode == 408
        }
    }

    // MARK: CANCEL

    /// Every branch without a final response is cancelled now or, before its provisional, once one arrives.
    private mutating func cancelPending(except skip: Int?) -> [Action] {
        var actions: [Action] = []
        for index in self.branches.indices where index != skip {
            actions += self.cancel(index)
        }
        return actions
    }

    private mutating func cancel(_ index: Int) -> [Action] {
        let branch = self.branches[index]
        guard branch.finalStatus == nil, !branch.cancelSent else { return [] }
        if branch.provisional { return self.sendCancel(index) }
        self.branches[index].cancelPending = true
        return []
    }

    /// CANCEL goes out on a branch that has had a provisional response; for INVITE, the 64*T1 guard starts (§9.1).
    private mutating func sendCancel(_ index: Int) -> [Action] {
        self.branches[index].cancelSent = true
        self.branches[index].cancelPending = false
        return self.options.isInvite ? [.cancelBranch(index), .startCancelGuard(index)] : [.cancelBranch(index)]
    }

    private mutating func stopNoAnswerTimer() -> [Action] {
        guard self.noAnswerTimerRunning else { return [] }
        self.noAnswerTimerRunning = false
        return [.stopNoAnswerTimer]
    }

    private mutating func stopTimerC(_ index: Int) -> [Action] {
        guard self.branches[index].timerCRunning else { return [] }
        self.branches[index].timerCRunning = false
        return [.stopTimerC(index)]
    }
}
