// DestinationPolicy: broadcast, multicast, unspecified and reserved targets are refused before any send.

import NIOCore
import Testing

@testable import SIPProxy

@Suite struct DestinationPolicyTests {
    let policy = DestinationPolicy(localBroadcasts: [try! SocketAddress(ipAddress: "192.168.77.255", port: 0)])

    func refusal(_ ip: String, port: Int = 5060) throws -> String? {
        self.policy.refusal(try SocketAddress(ipAddress: ip, port: port))
    }

    @Test(arguments: [
        "255.255.255.255", "192.168.77.255", "224.0.0.1", "239.255.255.250", "240.0.0.1", "0.0.0.0", "0.1.2.3",
        "ff02::1", "::", "::ffff:255.255.255.255", "::ffff:224.0.0.9",
    ])
    func refused(ip: String) throws {
        #expect(try self.refusal(ip) != nil, "\(ip) must be refused")
    }

    @Test(arguments: ["127.0.0.1", "127.1.2.3", "192.168.77.10", "10.0.0.255", "::1", "2001:db8::1", "::ffff:127.0.0.1"])
    func allowed(ip: String) throws {
        #expect(try self.refusal(ip) == nil, "\(ip) is a unicast address")
    }

    @Test func ipKeyReadsRawAddresses() throws {
        #expect(IPKey(try SocketAddress(ipAddress: "192.168.1.2", port: 1))?.ipv4 == 0xc0a8_0102)
        #expect(IPKey(try SocketAddress(ipAddress: "::ffff:192.168.1.2", port: 1))?.ipv4 == 0xc0a8_0102)
        #expect(IPKey(try SocketAddress(ipAddress: "2001:db8::1", port: 1))?.description == "2001:db8:0:0:0:0:0:1")
    }

    @Test func portZeroIsRefused() throws {
        #expect(try self.refusal("127.0.0.1", port: 0) == "port 0")
    }
}

@Suite struct SourceRateLimiterTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    static func address(_ ip: String, port: Int = 5060) -> SocketAddress {
        try! SocketAddress(ipAddress: ip, port: port)
    }

    @Test func floodIsBannedAndOthersAreNot() {
        var limiter = SourceRateLimiter(policy: RateLimitPolicy(limit: 5, window: .seconds(2), banTime: .seconds(10)))
        var verdicts: [SourceRateLimiter.Verdict] = []
        for i in 0..<8 {
            // Another port of the same address counts for the address.
            verdicts.append(limiter.admit(Self.address("127.0.0.66", port: 5000 + i), now: self.t0 + .milliseconds(Int64(i))))
        }
        #expect(verdicts == [.allowed, .allowed, .allowed, .allowed, .allowed, .banned, .dropped, .dropped])
        #expect(limiter.admit(Self.address("127.0.0.11"), now: self.t0 + .milliseconds(10)) == .allowed)
        #expect(limiter.banned(now: self.t0 + .seconds(1)).map(\.description) == ["127.0.0.66"])
        // Still banned within the ban time, even if it is quiet; admitted again after it.
        #expect(limiter.admit(Self.address("127.0.0.66"), now: self.t0 + .seconds(9)) == .dropped)
        #expect(limiter.admit(Self.address("127.0.0.66"), now: self.t0 + .seconds(11)) == .allowed)
        #expect(limiter.banned(now: self.t0 + .seconds(11)).isEmpty)
    }

    @Test func steadyTrafficUnderTheLimitIsNeverBanned() {
        var limiter = SourceRateLimiter(policy: RateLimitPolicy(limit: 5, window: .seconds(1), banTime: .seconds(10)))
        for i in 0..<100 {
            // Four requests per second, every second.
            #expect(limiter.admit(Self.address("127.0.0.11"), now: self.t0 + .milliseconds(Int64(i) * 250)) == .allowed)
        }
    }

    @Test func offAllowsEverything() {
        var limiter = SourceRateLimiter(policy: .off)
        for _ in 0..<10_000 { #expect(limiter.admit(Self.address("127.0.0.66"), now: self.t0) == .allowed) }
        #expect(limiter.trackedSources == 0)
    }

    @Test func tableIsBoundedUnderSpoofedSources() {
        var limiter = SourceRateLimiter(policy: RateLimitPolicy(limit: 5), capacity: 100)
        for i in 0..<10_000 { _ = limiter.admit(IPKey(ipv4: 0x0a00_0000 | UInt32(i)), now: self.t0) }
        #expect(limiter.trackedSources <= 100)
    }
}

@Suite struct LogThrottleTests {
    @Test func oneLinePerKeyPerInterval() {
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        var throttle = LogThrottle(interval: .seconds(10))
        #expect(throttle.admit("a", now: t0) == 0)
        #expect(throttle.admit("a", now: t0 + .seconds(1)) == nil)
        #expect(throttle.admit("a", now: t0 + .seconds(2)) == nil)
        #expect(throttle.admit("b", now: t0 + .seconds(2)) == 0)
        #expect(throttle.admit("a", now: t0 + .seconds(11)) == 2)
    }
}
