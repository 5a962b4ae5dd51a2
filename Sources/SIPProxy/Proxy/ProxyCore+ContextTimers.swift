// ProxyCore+ContextTimers: the timers of a proxied request. The response context (`ResponseContext`) decides when
// each starts and what its expiry means; the core only arms them in the shard's timer wheel and feeds the expiry
// back as an event (RFC 3261 §16.6 step 11 Timer C, §9.1 the 64*T1 guard after a CANCEL, the forwarding rules'
// no-answer time; RFC 3263 §4.3 failover is armed in ProxyCore+DNS through the same path).

import NIOCore

extension ProxyCore {
    /// Arms a timer of a proxied request: when it fires, the request's context is found again by its server
    /// transaction (it may have ended meanwhile, taking its timers with it), `clear` forgets the fired timer's id,
    /// and `event` goes to the context's machine.
    func scheduleContextTimer(
        _ context: ProxyContext,
        in delay: TimeAmount,
        _ event: ResponseContext.Event,
        orphaned: (() -> Void)? = nil,
        clear: @escaping (ProxyContext) -> Void
    ) -> TimerID {
        let serverKey = context.serverKey
        return self.timers.schedule(in: delay) { [weak self, weak context] in
            guard let self else { return }
            // The wheel fires on its own loop; the contexts and machines are confined to it (debug builds check).
            self.eventLoop.assertInEventLoop()
            // The very context that armed it: once that request ended, a new one may hold the same server key
            // (a sender reusing its branch), with other branches at the same indexes.
            guard let context, self.contexts[serverKey] === context else {
                orphaned?()
                return
            }
            clear(context)
            self.run(context, event)
        }
    }

    /// Timer C (§16.6 step 11), (re)started by the machine for a branch; it cancels a branch that rang too long.
    func startTimerC(_ context: ProxyContext, _ index: Int) {
        self.timers.cancel(context.branches[index].timerC)
        context.branches[index].timerC = self.scheduleContextTimer(
            context, in: self.configuration.timers.timerC, .timerC(branch: index),
            clear: { $0.branches[index].timerC = nil }
        )
    }

    /// §9.1: 64*T1 (Timer B's value) after a CANCEL on an INVITE branch the machine gives the branch up if no final
    /// response came. The guard outlives the request's context (`serverEnded` leaves it running): when a 2xx went
    /// upstream and the other forks were cancelled, the context is gone at once, and a fork that ignores the CANCEL
    /// would otherwise keep its INVITE transaction (proceeding, no timer left) for ever.
    func startCancelGuard(_ context: ProxyContext, _ index: Int) {
        self.timers.cancel(context.branches[index].cancelGuard)
        let branchKey = context.branches[index].key
        context.branches[index].cancelGuard = self.scheduleContextTimer(
            context, in: self.configuration.timers.timerB, .cancelGuardExpired(branch: index),
            orphaned: { [weak self] in self?.transactions.abandonClientIfUnanswered(branchKey) },
            clear: { $0.branches[index].cancelGuard = nil }
        )
    }

    /// The no-answer time of the rule of the user the current forwarding group rings.
    func startNoAnswerTimer(_ context: ProxyContext, after delay: TimeAmount) {
        self.timers.cancel(context.noAnswerTimer)
        context.noAnswerTimer = self.scheduleContextTimer(
            context, in: delay, .noAnswerTimeout, clear: { $0.noAnswerTimer = nil }
        )
    }
}
