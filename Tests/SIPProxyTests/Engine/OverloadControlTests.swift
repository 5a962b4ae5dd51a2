// OverloadControl as a value: made-up samples in, the shed share out (RFC 6357 §3's early refusal), and the whole
// core refusing new work with 503 + Retry-After while in-dialog requests and ACKs pass.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("Overload control")
struct OverloadControlTests {
    static let policy = OverloadPolicy(queueDelay: .milliseconds(200), retryAfter: 7)

    /// A 50 ms interval in which the shard read `read` messages of 500 octets, busy for `busy` (all of it unless
    /// told), and left `queued` datagrams waiting.
    func sample(queued: Int, read: Int, busy: TimeAmount = .milliseconds(50), lag: TimeAmount = .zero) -> OverloadSample {
        OverloadSample(
            queuedOctets: queued * OverloadControl.trueSize(payload: 500), messagesRead: read, octetsRead: read * 500,
            interval: .milliseconds(50), busy: busy, loopLag: lag
        )
    }

    @Test("the kernel's charge per datagram: 1,280 octets for a small SIP message, 2,304 for a 1,000-octet one")
    func trueSize() {
        #expect(OverloadControl.trueSize(payload: 200) == 1280)
        #expect(OverloadControl.trueSize(payload: 500) == 1280)
        #expect(OverloadControl.trueSize(payload: 1000) == 2304)
    }

    @Test("queue delay = datagrams waiting x CPU per message, at least the loop's lateness; nothing waiting, none")
    func delayEstimate() {
        // 100 read with 50 ms of CPU (0.5 ms each), 400 waiting: 200 ms.
        #expect(OverloadControl.estimateDelay(self.sample(queued: 400, read: 100)) == .milliseconds(200))
        #expect(OverloadControl.estimateDelay(self.sample(queued: 0, read: 100)) == .zero)
        // A quiet loop (2 messages, 0.1 ms of CPU) with 5 datagrams just arrived: a quarter of a millisecond.
        #expect(OverloadControl.estimateDelay(self.sample(queued: 5, read: 2, busy: .microseconds(100)))
            == .microseconds(250))
        // Late by 300 ms with datagrams waiting: they waited that long at least.
        #expect(OverloadControl.estimateDelay(self.sample(queued: 3, read: 2, busy: .microseconds(100), lag: .milliseconds(300)))
            == .milliseconds(300))
        #expect(OverloadControl.estimateDelay(self.sample(queued: 0, read: 2, lag: .milliseconds(300))) == .zero,
                "late with nothing waiting: nobody to refuse")
        #expect(OverloadControl.estimateDelay(self.sample(queued: 10, read: 0, lag: .milliseconds(30)))
            == .milliseconds(80), "a loop that read nothing while datagrams waited counts the whole interval")
    }

    @Test("past the target the share rises fast, holds between half and the target, and falls slowly below")
    func controller() {
        var control = OverloadControl(policy: Self.policy)
        control.update(self.sample(queued: 10, read: 100))
        #expect(control.shedPermille == 0, "5 ms of queue is no overload")
        control.update(self.sample(queued: 800, read: 100))  // 400 ms: twice the target
        #expect(control.shedPermille == 100)
        control.update(self.sample(queued: 8000, read: 100))  // 4 s: the largest step
        #expect(control.shedPermille == 300)
        control.update(self.sample(queued: 300, read: 100))  // 150 ms: under the target, over half
        #expect(control.shedPermille == 300, "no change between half the target and the target")
        control.update(self.sample(queued: 10, read: 100, lag: .milliseconds(250)))
        #expect(control.shedPermille == 325, "a late loop with datagrams waiting is overload too")
        for _ in 0..<5 { control.update(self.sample(queued: 0, read: 100)) }
        #expect(control.shedPermille == 125, "40 per sample down")
        control.update(self.sample(queued: 0, read: 100, lag: .seconds(1)))
        #expect(control.shedPermille == 85, "a late loop with nothing waiting refuses nobody")
        for _ in 0..<100 { control.update(self.sample(queued: 100_000, read: 1)) }
        #expect(control.shedPermille == OverloadControl.maximumPermille, "a few new requests always pass")
    }

    @Test("one interval of other work does not make the queue look long: the CPU per message is smoothed")
    func smoothing() {
        var control = OverloadControl(policy: Self.policy)
        // 50 µs per message, 200 waiting: 10 ms.
        for _ in 0..<10 { control.update(self.sample(queued: 200, read: 500, busy: .milliseconds(25))) }
        #expect(control.shedPermille == 0)
        // A sweep takes most of one interval: 2.5 ms per message read, 500 ms for the queue if taken alone.
        control.update(self.sample(queued: 200, read: 20, busy: .milliseconds(50)))
        #expect(control.queueDelay == .nanoseconds(662_500 * 200), "(3 x 50 µs + 2.5 ms) / 4 per message")
        #expect(control.shedPermille == 0)
    }

    @Test("the decision hashes the branch: a share of requests is refused, each one always the same way")
    func admission() {
        var control = OverloadControl(policy: Self.policy)
        for _ in 0..<3 { control.update(self.sample(queued: 8000, read: 100)) }
        #expect(control.shedPermille == 600)
        var refused = 0
        for n in 0..<10_000 {
            var hash = FNV1a()
            hash.combine("z9hG4bK-\(n)")
            let first = control.admits(hash: hash.value)
            #expect(control.admits(hash: hash.value) == first)
            if !first { refused += 1 }
        }
        #expect((5_500...6_500).contains(refused), "60 % refused, got \(refused) of 10000")
        #expect(control.admits(hash: 1, sharedPermille: 0), "nothing refused when no shard sheds")
    }

    @Test("the settings are checked: a delay from 10 ms to 30 s, Retry-After from 1 s to a day")
    func validation() {
        func valid(_ change: (inout ProxyConfiguration) -> Void) -> Bool {
            var configuration = ProxyConfiguration()
            change(&configuration)
            return (try? configuration.validate()) != nil
        }
        #expect(valid { $0.overload = OverloadPolicy(queueDelay: .milliseconds(10)) })
        #expect(valid { $0.overload = OverloadPolicy(queueDelay: nil) })
        #expect(!valid { $0.overload = OverloadPolicy(queueDelay: .milliseconds(5)) })
        #expect(!valid { $0.overload = OverloadPolicy(queueDelay: .seconds(31)) })
        #expect(!valid { $0.overload.retryAfter = 0 })
        #expect(valid { $0.overload.retryAfter = 86_400 })
    }

    @Test("off: no share whatever the queue")
    func disabled() {
        var control = OverloadControl(policy: OverloadPolicy(queueDelay: nil))
        control.update(self.sample(queued: 100_000, read: 1))
        #expect(control.shedPermille == 0)
    }
}

@Suite("Overload control in the core")
struct OverloadEngineTests {
    let alice = SimulatedPhone("alice", ip: "127.0.0.11")
    let bob = SimulatedPhone("bob", ip: "127.0.0.12")

    /// Fills the fake receive queue (2 s of backlog at 1,000 messages/s, the loop busy all the time) and lets
    /// samples run until the share is at its largest.
    func overload(_ net: EngineHarness, shard: Int = 0) {
        let cpu = CPUMeter()
        net.cores[shard].threadCPUTime = { cpu.used }
        for _ in 0..<20 {
            net.transports[shard].readCount.messages += 50
            net.transports[shard].readCount.octets += 50 * 500
            net.transports[shard].queuedOctets = 2000 * 1280
            cpu.used = cpu.used + .milliseconds(50)
            net.advance(by: .milliseconds(50))
        }
    }

    @Test("overloaded: new INVITEs, REGISTERs and OPTIONS get 503 + Retry-After statelessly (a retransmission the same, the ACK absorbed); in-dialog requests and admitted calls go on; the share falls once the queue drains")
    func shedding() throws {
        let net = EngineHarness { $0.overload = OverloadPolicy(queueDelay: .milliseconds(200), retryAfter: 7) }
        net.deliver(self.bob.register(), from: self.bob)
        #expect(net.received(by: self.bob).compactMap(\.status) == [200])
        // A call admitted before the overload, still ringing.
        net.deliver(self.alice.invite("bob", callID: "before", branch: "z9hG4bK-before"), from: self.alice)
        #expect(net.received(by: self.alice).compactMap(\.status) == [100])
        let ringing = try #require(net.received(by: self.bob).compactMap(\.request).first)

        self.overload(net)
        #expect(net.core.overload.shedPermille == OverloadControl.maximumPermille)

        // New INVITEs: most refused with a stateless 503 carrying Retry-After.
        var refused: [String] = []
        var admitted: [String] = []
        for n in 0..<40 {
            let branch = "z9hG4bK-new-\(n)"
            net.deliver(self.alice.invite("bob", callID: "new-\(n)", branch: branch), from: self.alice)
            let replies = net.received(by: self.alice)
            if let reply = replies.first?.response, reply.statusCode == 503 {
                #expect(reply.headers["retry-after"] == "7")
                refused.append(branch)
            } else {
                #expect(replies.compactMap(\.status) == [100])
                admitted.append(branch)
            }
        }
        _ = net.received(by: self.bob)
        #expect(refused.count >= 30, "95 % shed: \(refused.count) of 40 refused")
        #expect(net.core.transactions.count.server <= 2 + admitted.count, "a refusal keeps no transaction")
        // The retransmission of a refused INVITE is refused again, and its ACK ends at the proxy.
        let again = try #require(refused.first)
        let index = again.split(separator: "-").last!
        net.deliver(self.alice.invite("bob", callID: "new-\(index)", branch: again), from: self.alice)
        let second = try #require(net.received(by: self.alice).first?.response)
        #expect(second.statusCode == 503)
        net.deliver(self.alice.ackFailure("bob", callID: "new-\(index)", toTag: second.to.tag), from: self.alice)
        #expect(net.received(by: self.bob).isEmpty, "the ACK of the 503 is absorbed, not forwarded to bob")

        // REGISTER and OPTIONS (out of dialog) are new work too.
        let carol = SimulatedPhone("carol", ip: "127.0.0.13")
        var registerStatuses: [Int] = []
        for _ in 0..<10 {
            net.deliver(carol.register(), from: carol)
            registerStatuses += net.received(by: carol).compactMap(\.status)
        }
        #expect(registerStatuses.contains(503))

        // The call admitted before goes on: bob's 200 reaches alice, the ACK and BYE reach bob.
        net.deliver(self.bob.respond(to: ringing, 200, "OK", tag: "b1"), from: self.bob)
        let ok = try #require(net.received(by: self.alice).first?.response)
        #expect(ok.statusCode == 200)
        let route = try #require(ok.headers.values("record-route").first)
        net.deliver(self.alice.inDialog("BYE", target: "sip:bob@127.0.0.12:5060", routes: [route], callID: "before",
                                        toTag: "b1", cseq: 2, to: "<sip:bob@127.0.0.10:5060>"), from: self.alice)
        #expect(net.received(by: self.bob).compactMap(\.request).map(\.method) == [.bye], "BYE is never shed")

        // The queue drains: 1.2 s later every new request is admitted again.
        net.transport.queuedOctets = 0
        for _ in 0..<25 {
            net.transport.readCount.messages += 10
            net.advance(by: .milliseconds(50))
        }
        #expect(net.core.overload.shedPermille == 0)
        net.deliver(self.alice.invite("bob", callID: "after", branch: "z9hG4bK-after"), from: self.alice)
        #expect(net.received(by: self.alice).compactMap(\.status) == [100])
        #expect(net.core.overload.shedCount >= 31)
    }

    @Test("a shard whose queue is fine refuses by the highest share among the shards")
    func sharedAcrossShards() {
        let net = EngineHarness(shards: 2) { $0.overload = OverloadPolicy(queueDelay: .milliseconds(200)) }
        self.overload(net, shard: 0)
        #expect(net.cores[0].overload.shedPermille > 0)
        #expect(net.cores[1].overload.shedPermille == 0)
        var statuses: [Int] = []
        for n in 0..<40 {
            let callID = "s\(n)"
            net.deliver(self.alice.invite("nobody", callID: callID), from: self.alice, arrivingOn: net.shard(ofCallID: callID))
            statuses += net.received(by: self.alice).compactMap(\.status)
        }
        #expect(statuses.filter { $0 == 503 }.count >= 30, "both shards shed: \(statuses)")
    }

    @Test("off: nothing is refused however long the queue")
    func disabled() {
        let net = EngineHarness { $0.overload = OverloadPolicy(queueDelay: nil) }
        self.overload(net)
        net.deliver(self.alice.invite("nobody", callID: "x"), from: self.alice)
        #expect(net.received(by: self.alice).compactMap(\.status) == [404])
    }
}

/// A made-up CPU clock for the overload sampler.
final class CPUMeter {
    var used = TimeAmount.zero
}
