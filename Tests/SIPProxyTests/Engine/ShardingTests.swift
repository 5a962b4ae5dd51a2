// Shards: the Call-ID picks the shard that owns a call, so a response or CANCEL that the kernel hands to the other
// shard's socket still reaches the transaction it belongs to; the registrar is shared.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("Shards")
struct ShardingTests {
    static func owner(_ text: String, count: Int = 4) -> Int {
        var buffer = ByteBufferAllocator().buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        return ShardRouter.shard(of: buffer, count: count, default: -1)
    }

    @Test("the Call-ID is found in every legal spelling, and only in the header section")
    func callIDScanner() {
        let plain = Self.owner("INVITE sip:b SIP/2.0\r\nVia: x\r\nCall-ID: abc@host\r\n\r\n")
        #expect(plain >= 0)
        for spelling in ["i: abc@host", "call-id:abc@host", "CALL-ID \t:   abc@host  ", "i:abc@host\t"] {
            #expect(Self.owner("SIP/2.0 200 OK\r\nVia: x\r\n\(spelling)\r\nCSeq: 1 INVITE\r\n\r\n") == plain, "\(spelling)")
        }
        #expect(Self.owner("OPTIONS sip:b SIP/2.0\r\nCall-Info: <x>\r\nIdentity: y\r\nid: z\r\n\r\n") == -1,
                "Call-Info, Identity and other i... headers are not the Call-ID")
        #expect(Self.owner("MESSAGE sip:b SIP/2.0\r\nVia: x\r\n\r\nCall-ID: abc@host\r\n") == -1, "a body is not searched")
        #expect(Self.owner("garbage") == -1)
        #expect(Self.owner("") == -1)
    }

    @Test("Call-IDs spread over the shards")
    func spread() {
        var counts = [0, 0, 0, 0]
        for n in 0..<4000 { counts[Self.owner("BYE sip:b SIP/2.0\r\nCall-ID: \(n)-a84b4c76e66710@pc33\r\n\r\n")] += 1 }
        #expect(counts.allSatisfy { $0 > 800 }, "\(counts)")
    }

    /// A Call-ID owned by shard `shard` of two.
    static func callID(ownedBy shard: Int, in net: EngineHarness, prefix: String) -> String {
        (0...).lazy.map { "\(prefix)-\($0)" }.first { net.shard(ofCallID: $0) == shard }!
    }

    @Test("a call whose messages arrive on the other shard's socket completes on the owner; registrar shared")
    func crossShardCall() throws {
        let net = EngineHarness(shards: 2)
        let alice = SimulatedPhone("alice", ip: "127.0.0.11")
        let bob = SimulatedPhone("bob", ip: "127.0.0.12")
        // bob registers through shard 0's socket; the REGISTER's Call-ID decides where it is processed.
        net.deliver(bob.register(), from: bob, arrivingOn: 0)
        #expect(net.received(by: bob).compactMap(\.status) == [200])
        let callID = Self.callID(ownedBy: 1, in: net, prefix: "cross")
        net.deliver(alice.invite("bob", callID: callID), from: alice, arrivingOn: 0)
        #expect(net.received(by: alice).compactMap(\.status) == [100])
        let invite = try #require(net.received(by: bob).compactMap(\.request).first { $0.method == .invite })
        #expect(net.cores[1].transactions.count.client == 1, "the owner shard runs the client transaction")
        #expect(net.cores[0].transactions.count.client == 0)
        #expect(net.cores[0].load.handedOver >= 1, "shard 0's socket handed the INVITE over")
        // bob's answers arrive on shard 0's socket (the kernel's choice): they still reach the transaction.
        net.deliver(bob.respond(to: invite, 180, "Ringing", tag: "b"), from: bob, arrivingOn: 0)
        net.deliver(bob.respond(to: invite, 200, "OK", tag: "b"), from: bob, arrivingOn: 0)
        #expect(net.received(by: alice).compactMap(\.status) == [180, 200])
    }

    @Test("a CANCEL that arrives on the other shard cancels the right INVITE")
    func crossShardCancel() throws {
        let net = EngineHarness(shards: 2)
        let alice = SimulatedPhone("alice", ip: "127.0.0.11")
        let bob = SimulatedPhone("bob", ip: "127.0.0.12")
        net.deliver(bob.register(), from: bob, arrivingOn: 1)
        _ = net.received(by: bob)
        let callID = Self.callID(ownedBy: 0, in: net, prefix: "cancel")
        net.deliver(alice.invite("bob", callID: callID), from: alice, arrivingOn: 0)
        let invite = try #require(net.received(by: bob).compactMap(\.request).first { $0.method == .invite })
        net.deliver(bob.respond(to: invite, 180, "Ringing", tag: "b"), from: bob, arrivingOn: 1)
        _ = net.received(by: alice)
        net.deliver(alice.cancel("bob", callID: callID), from: alice, arrivingOn: 1)
        #expect(net.received(by: alice).compactMap(\.status) == [200], "200 for the CANCEL")
        let cancel = try #require(net.received(by: bob).compactMap(\.request).first { $0.method == .cancel })
        #expect(cancel.topVia?.branch == invite.topVia?.branch, "the CANCEL is for the INVITE's branch (§9.1)")
        net.deliver(bob.respond(to: invite, 487, "Request Terminated", tag: "b"), from: bob, arrivingOn: 1)
        #expect(net.received(by: alice).compactMap(\.status) == [487])
        #expect(net.cores[1].load.handedOver >= 2, "shard 1's socket handed the 180, CANCEL and 487 over")
    }
}
