// Overload control on a shard (RFC 3261 §21.5.4, RFC 6357 §3): every 50 ms the shard measures how long messages
// wait in its receive queue and how late its loop runs, feeds `OverloadControl`, and publishes its shed share on
// the `OverloadBoard`. New out-of-dialog requests are refused with a stateless 503 + Retry-After in that share;
// retransmissions (absorbed by their transactions), ACK, CANCEL, in-dialog requests and responses never are.

import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ProxyCore {
    /// What the sampler remembers between samples.
    struct OverloadSampling {
        var at: NIODeadline
        var cpu: TimeAmount
        var messages: Int
        var octets: Int
        var timer: TimerID?
        /// The highest shed share over the shards at the last sample (read per request without a lock).
        var sharedPermille = 0
    }

    func startOverloadSampling() {
        guard self.overload.policy.isEnabled else { return }
        let read = self.transport.readCount
        self.overloadSampling = OverloadSampling(
            at: self.now(), cpu: self.threadCPUTime(), messages: read.messages, octets: read.octets)
        self.scheduleOverloadSample()
    }

    func stopOverloadSampling() {
        self.timers.cancel(self.overloadSampling?.timer)
        self.overloadSampling = nil
    }

    private func scheduleOverloadSample() {
        let expected = self.now() + OverloadPolicy.sampleInterval
        self.overloadSampling?.timer = self.timers.schedule(in: OverloadPolicy.sampleInterval) { [weak self] in
            guard let self, self.overloadSampling != nil else { return }
            self.eventLoop.assertInEventLoop()
            self.sampleOverload(expected: expected)
            self.scheduleOverloadSample()
        }
    }

    /// One sample: the queue, the drain since the last sample, the lateness of this very timer.
    func sampleOverload(expected: NIODeadline) {
        guard var sampling = self.overloadSampling else { return }
        let now = self.now()
        let cpu = self.threadCPUTime()
        let read = self.transport.readCount
        // The wheel fires at most one tick after the deadline by design; only lateness beyond that is the loop's.
        let late = now - expected - self.timers.resolution
        let sample = OverloadSample(
            queuedOctets: self.transport.receiveQueueOctets(),
            messagesRead: read.messages &- sampling.messages,
            octetsRead: read.octets &- sampling.octets,
            interval: max(now - sampling.at, .milliseconds(1)),
            busy: max(.zero, cpu - sampling.cpu),
            loopLag: max(.zero, late)
        )
        let before = self.overload.shedPermille
        self.overload.update(sample)
        let after = self.overload.shedPermille
        sampling.at = now
        sampling.cpu = cpu
        sampling.messages = read.messages
        sampling.octets = read.octets
        sampling.sharedPermille = self.shared.overload.publish(shard: self.shardIndex, permille: after)
        self.overloadSampling = sampling
        if before == 0 && after > 0 {
            self.logger.warning(
                "overload: queue delay \(self.overload.queueDelay.milliseconds) ms, loop lag \(self.overload.loopLag.milliseconds) ms; answering 503 to \(after / 10) % of new requests"
            )
        } else if before > 0 && after == 0 {
            self.logger.notice("overload over: new requests admitted again (\(self.overload.shedCount) refused so far)")
        }
    }

    /// Whether a new out-of-dialog request is refused for overload; if so it has been answered 503.
    func shedsForOverload(_ request: SIPRequest, key: TransactionKey, from peer: Peer) -> Bool {
        guard let shared = self.overloadSampling?.sharedPermille, shared > 0, request.to.tag == nil else { return false }
        var hash = FNV1a()
        hash.combine(key.branch)
        guard !self.overload.admits(hash: hash.value, sharedPermille: shared) else { return false }
        self.overload.shedCount &+= 1
        self.transport.logThrottled(
            "overload", .notice, "overload: refusing \(shared / 10) % of new requests with 503 (Retry-After \(self.overload.policy.retryAfter) s)"
        )
        // Stateless (RFC 3261 §8.2.7): the state a transaction would keep is the load being shed, and a retransmission gets the same 503 again, since the decision hashes its branch.
        self.replyStatelessly(to: request, from: peer, 503, extra: [("Retry-After", String(self.overload.policy.retryAfter))])
        return true
    }
}

extension ProxyCore {
    /// CPU time used by the calling thread (the shard's loop), from the kernel.
    static func currentThreadCPUTime() -> TimeAmount {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return .nanoseconds(Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
}

extension TimeAmount {
    /// Whole milliseconds, for log lines and status.
    var milliseconds: Int64 { self.nanoseconds / 1_000_000 }
}
