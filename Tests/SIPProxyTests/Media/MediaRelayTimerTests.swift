// The relay's clock-driven endings, on a manual clock: a media timeout counts from the answer or the last packet,
// a session timer (RFC 4028) from the last refresh.

import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import SIPProxy

@Suite("Media: relay timeouts and per-user choices")
struct MediaRelayTimerTests {
    final class Clock: @unchecked Sendable {
        let lock = NIOLock()
        var value = NIODeadline.uptimeNanoseconds(1_000_000_000)
        func now() -> NIODeadline { self.lock.withLock { self.value } }
        func advance(_ amount: TimeAmount) { self.lock.withLock { self.value = self.value + amount } }
    }

    static func relay(timeout: TimeAmount, clock: Clock) throws -> (MediaRelay, EmbeddedEventLoop) {
        let loop = EmbeddedEventLoop()
        var settings = MediaSettings()
        settings.mode = .relay
        settings.timeout = timeout
        let pool = MediaPortPool(range: 39100...39107, address: try SocketAddress(ipAddress: "127.0.0.1", port: 0))
        let relay = MediaRelay(eventLoop: loop, settings: settings, pool: pool, sdpAddress: "127.0.0.1", recorder: nil,
                               logger: Logger(label: "test"), now: { clock.now() })
        return (relay, loop)
    }

    @Test("an answered call without media ends after the timeout, counted from the answer; before it, nothing")
    func mediaTimeout() throws {
        let clock = Clock()
        let (relay, _) = try Self.relay(timeout: .seconds(10), clock: clock)
        var ended: [(String, MediaRelay.Ending)] = []
        relay.onTimeout = { ended.append(($0, $1)) }
        relay.begin(callID: "ringing", callerTag: "a")
        relay.begin(callID: "answered", callerTag: "a")
        clock.advance(.seconds(30))
        relay.answered(callID: "answered")
        clock.advance(.seconds(9))
        relay.expire()
        #expect(ended.isEmpty, "a ringing call never times out; an answered one waits its 10 s")
        clock.advance(.seconds(2))
        relay.expire()
        #expect(ended.map(\.0) == ["answered"] && ended.first?.1 == .mediaTimeout)
        #expect(!relay.has("answered") && relay.has("ringing"))
    }

    @Test("a session timer not refreshed in time ends the session; a refresh moves the deadline")
    func sessionTimer() throws {
        let clock = Clock()
        let (relay, _) = try Self.relay(timeout: .seconds(3600), clock: clock)
        var ended: [(String, MediaRelay.Ending)] = []
        relay.onTimeout = { ended.append(($0, $1)) }
        relay.begin(callID: "c", callerTag: "a")
        relay.answered(callID: "c")
        relay.refreshed(callID: "c", sessionExpires: 90)
        clock.advance(.seconds(80))
        relay.refreshed(callID: "c", sessionExpires: 90)
        clock.advance(.seconds(80))
        relay.expire()
        #expect(ended.isEmpty, "refreshed within the interval")
        clock.advance(.seconds(11))
        relay.expire()
        #expect(ended.map(\.1) == [.sessionExpired] && !relay.has("c"))
    }

    @Test("per-user lists override the mode: never wins over always; unknown users leave it to the mode")
    func perUser() {
        var settings = MediaSettings()
        settings.alwaysRelay = ["carol"]
        settings.neverRelay = ["desk"]
        #expect(settings.override(caller: "Carol", callee: "bob") == true)
        #expect(settings.override(caller: "carol", callee: "desk") == false)
        #expect(settings.override(caller: "alice", callee: nil) == nil)
        #expect(MediaSettings.parsePorts("20000-29999") == 20000...29999)
        for bad in ["", "20000", "29999-20000", "80-90", "20000-20002", "60000-70000", "a-b"] {
            #expect(MediaSettings.parsePorts(bad) == nil, "\(bad)")
        }
    }
}
