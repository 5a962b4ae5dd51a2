// SRVOrdering: RFC 2782 priority order and weighted random selection, with the random source injected.

import Testing

@testable import SIPProxy

@Suite("SRVOrdering (RFC 2782)")
struct SRVOrderingTests {
    static func srv(_ priority: UInt16, _ weight: UInt16, _ target: String) -> SRVRecord {
        SRVRecord(priority: priority, weight: weight, port: 5060, target: target)
    }

    @Test("lower priority first, whatever the weights")
    func priorityFirst() {
        let records = [Self.srv(20, 100, "b"), Self.srv(10, 0, "a"), Self.srv(30, 5, "c")]
        #expect(SRVOrdering.order(records, random: { $0 }).map(\.target) == ["a", "b", "c"])
    }

    @Test("within a priority the draw picks by running sum: weights 10, 30, 60")
    func weightedDraw() {
        let records = [Self.srv(10, 10, "w10"), Self.srv(10, 30, "w30"), Self.srv(10, 60, "w60")]
        // Running sums 10, 40, 100: a draw of 0-10 takes w10, 11-40 w30, 41-100 w60; then the rest again.
        #expect(SRVOrdering.order(records, random: { _ in 5 }).map(\.target) == ["w10", "w30", "w60"])
        #expect(SRVOrdering.order(records, random: { _ in 40 }).map(\.target) == ["w30", "w60", "w10"])
        #expect(SRVOrdering.order(records, random: { $0 }).map(\.target) == ["w60", "w30", "w10"])
    }

    @Test("weight 0 records come first in the list but a draw above 0 passes them")
    func zeroWeights() {
        let records = [Self.srv(10, 50, "heavy"), Self.srv(10, 0, "zero")]
        #expect(SRVOrdering.order(records, random: { _ in 0 }).map(\.target) == ["zero", "heavy"])
        #expect(SRVOrdering.order(records, random: { _ in 1 }).map(\.target) == ["heavy", "zero"])
    }

    @Test("over many draws the share follows the weights (seeded generator)")
    func distribution() {
        var rng = SplitMix64(seed: 42)
        let records = [Self.srv(1, 25, "a"), Self.srv(1, 75, "b")]
        var firsts = ["a": 0, "b": 0]
        for _ in 0..<4000 {
            let first = SRVOrdering.order(records, random: { Int.random(in: 0...$0, using: &rng) })[0].target
            firsts[first, default: 0] += 1
        }
        #expect((850...1150).contains(firsts["a"]!), "about 25 % of 4000: \(firsts)")
    }

    @Test("an out-of-range random value is clamped, never traps")
    func clamped() {
        let records = [Self.srv(1, 1, "a"), Self.srv(1, 1, "b")]
        #expect(SRVOrdering.order(records, random: { _ in -5 }).count == 2)
        #expect(SRVOrdering.order(records, random: { _ in 1_000 }).count == 2)
    }
}
