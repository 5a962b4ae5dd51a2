// LingerExpiry: lingering transactions end in deadline order across durations, none early, each exactly once.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("LingerExpiry")
struct LingerExpiryTests {
    static func key(_ n: Int) -> TransactionKey { TransactionKey(branch: "z9hG4bK\(n)", sentBy: "", method: .invite) }

    @Test func entriesEndAtTheirDeadlineOnly() {
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var expiry = LingerExpiry()
        // Timer J/L/M (32 s) and Timer K (5 s) entries, interleaved as transactions finish.
        expiry.add(Self.key(1), server: true, due: t0 + .seconds(32), duration: .seconds(32))
        expiry.add(Self.key(2), server: false, due: t0 + .seconds(1) + .seconds(5), duration: .seconds(5))
        expiry.add(Self.key(3), server: true, due: t0 + .seconds(2) + .seconds(32), duration: .seconds(32))
        expiry.add(Self.key(4), server: false, due: t0 + .seconds(3) + .seconds(5), duration: .seconds(5))
        #expect(expiry.count == 4)

        var taken = expiry.takeDue(now: t0 + .seconds(5))
        #expect(taken.due.isEmpty)
        #expect(taken.next == t0 + .seconds(6))

        taken = expiry.takeDue(now: t0 + .seconds(8))
        #expect(taken.due.map(\.key) == [Self.key(2), Self.key(4)])
        #expect(taken.due.allSatisfy { !$0.server })
        #expect(taken.next == t0 + .seconds(32))

        taken = expiry.takeDue(now: t0 + .seconds(33))
        #expect(taken.due.map(\.key) == [Self.key(1)])
        #expect(taken.next == t0 + .seconds(34))

        taken = expiry.takeDue(now: t0 + .seconds(60))
        #expect(taken.due.map(\.key) == [Self.key(3)])
        #expect(taken.next == nil)
        #expect(expiry.count == 0)
        #expect(expiry.takeDue(now: t0 + .seconds(120)).due.isEmpty)
    }
}
