// User-supplied numbers (durations, sizes, intervals, times, expiries) never trap: too large values are refused
// with one line or clamped. Before, `sipctl trace start --duration 9300000000000s` overflowed `seconds * 1_000_000`
// in the trace writer and stopped the proxy.

import Foundation
import NIOCore
import Testing

@testable import SIPProxy

@Suite struct UserNumberLimitsTests {
    // MARK: Trace settings

    @Test func hugeTraceDurationIsRefusedWithOneLine() {
        let options = TraceStartOptions(maxDuration: 9_300_000_000_000)
        #expect(throws: TraceError.self) { try options.apply(to: TraceSettings()) }
        do {
            _ = try options.apply(to: TraceSettings())
        } catch {
            #expect(error.kind == .invalidSettings)
            #expect(error.description == "duration too long: at most 365 days (31536000 s)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test("sizes, flush intervals and file counts beyond their caps are refused",
          arguments: [
            TraceStartOptions(maxFileSize: Int.max),
            TraceStartOptions(maxFiles: Int.max),
            TraceStartOptions(maxDuration: Int.max),
            TraceStartOptions(flushInterval: Int.max),
            TraceStartOptions(flushInterval: 3_600_001),
          ])
    func outOfRangeSettings(options: TraceStartOptions) {
        #expect(throws: TraceError.self) { try options.apply(to: TraceSettings()) }
    }

    @Test func largestAcceptedSettingsAreValid() throws {
        let settings = try TraceStartOptions(
            maxFileSize: TraceSettings.maxFileSizeLimit, maxFiles: TraceSettings.maxFilesLimit,
            maxDuration: TraceSettings.maxDurationLimit, flushInterval: TraceSettings.maxFlushIntervalLimit
        ).apply(to: TraceSettings())
        let writer = PcapWriter.Configuration(settings)
        #expect(writer.maxDuration == Int64(TraceSettings.maxDurationLimit) * 1_000_000)
        #expect(writer.flushInterval == Int64(TraceSettings.maxFlushIntervalLimit) * 1_000)
    }

    /// Settings that skipped validation (the writer's public initializer) saturate instead of trapping.
    @Test func writerConfigurationSaturates() {
        var settings = TraceSettings()
        settings.maxDuration = 9_300_000_000_000
        settings.flushInterval = Int.max
        let configuration = PcapWriter.Configuration(settings)
        #expect(configuration.maxDuration == Int64.max)
        #expect(configuration.flushInterval == Int64.max)
    }

    @Test func writerWithHugeIntervalsFlushesAndRotatesWithoutTrapping() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("limits-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try PcapWriter(configuration: PcapWriter.Configuration(
            directory: dir, maxFileSize: 1 << 20, maxDuration: .max, maxFiles: 2, flushInterval: .max
        ))
        let event = TraceTest.event(
            .received, from: TraceTest.address("127.0.0.11", 5061), to: TraceTest.address("127.0.0.10", 5060),
            payload: TraceTest.sipRequest("OPTIONS")
        )
        var framer = PacketFramer()
        try writer.write(try framer.frames(for: event))
        writer.tick()
        #expect(writer.microsecondsUntilFlush() ?? 0 > 0)
        writer.close()
    }

    // MARK: Size and duration text

    @Test func durationText() {
        #expect(DurationText.parse("90s") == 90)
        #expect(DurationText.parse("30m") == 1800)
        #expect(DurationText.parse("1h") == 3600)
        #expect(DurationText.parse("2d") == 172_800)
        #expect(DurationText.parse("3600") == 3600)
        #expect(DurationText.parse("9300000000000s") == 9_300_000_000_000)
        // Too large for Int: saturates (and is then refused by the settings' validation).
        #expect(DurationText.parse("9300000000000000h") == Int.max)
        #expect(DurationText.parse("99999999999999999999999") == Int.max)
        for bad in ["", "0", "-5s", "1.5h", "h", "ten", "5x", "٣s"] { #expect(DurationText.parse(bad) == nil, "\(bad)") }
    }

    @Test func sizeText() {
        #expect(SizeText.parse("10MB") == 10_000_000)
        #expect(SizeText.parse("500k") == 500_000)
        #expect(SizeText.parse("2G") == 2 << 30)
        #expect(SizeText.parse("1048576") == 1_048_576)
        #expect(SizeText.parse("99999999999999gb") == Int.max)
        #expect(SizeText.parse("1e300mb") == Int.max)
        for bad in ["", "0", "-1k", "infmb", "nanmb", "1e400gb", "0.0001b", "ten"] {
            #expect(SizeText.parse(bad) == nil, "\(bad)")
        }
    }

    // MARK: Times

    @Test func captureClockParseRefusesTimesNoCaptureHolds() {
        for text in ["nan", "inf", "-inf", "1e300", "1e10", "99999999-01-01 00:00", "2024-01-01 99999999999999999:00",
                     "2024-01-01 12:00:1e300", "9999-12-31 23:59"] {
            #expect(CaptureClock.parse(text) == nil, "\(text)")
        }
        #expect(CaptureClock.parse("1700000000.5") == 1_700_000_000_500_000_000)
        #expect(CaptureClock.parse("2024-05-01 12:00:03") == 1_714_564_803_000_000_000)
    }

    @Test func captureTimesAreClamped() {
        #expect(CaptureClock.time(seconds: 18_446_744_073_709, nanoseconds: 551_615_000) == CaptureClock.latest)
        #expect(CaptureClock.time(seconds: -5, nanoseconds: 0) == 0)
        #expect(CaptureClock.time(seconds: .max, nanoseconds: .max) == CaptureClock.latest)
        #expect(CaptureClock.time(seconds: 1, nanoseconds: 2) == 1_000_000_002)
        #expect(CaptureClock.seconds(-1_500_000) == "-0.002")
        #expect(CaptureClock.seconds(Int64.min) == "-9223372036.855")
        #expect(CaptureClock.seconds(1_234_500_000) == "1.235")
    }

    @Test func callQueryAgesSaturate() throws {
        let now = WallClock(microseconds: 1_800_000_000_000_000)
        let utc = TimeZone(secondsFromGMT: 0)!
        let since = try CallQuery.parseTime("99999999999999999999d", now: now, timeZone: utc)
        #expect(since.microseconds < -9_000_000_000_000_000_000)
        #expect(!since.iso8601(in: utc).isEmpty)
        #expect(WallClock(microseconds: .max).seconds(since: WallClock(microseconds: .min)) > 0)
        #expect(WallClock(seconds: .infinity).microseconds == .max)
        #expect(WallClock(seconds: .nan).microseconds == 0)
    }

    // MARK: Registrar and forwarding

    @Test func registrarExpiryBeyondRFCLimitIsAConfigurationError() {
        var configuration = ProxyConfiguration()
        configuration.registrar.maxExpires = Int.max
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration.registrar.maxExpires = RegistrarPolicy.expiresLimit
        #expect(throws: Never.self) { try configuration.validate() }
    }

    @Test func unvalidatedRegistrarPolicyClampsExpiries() throws {
        var registrar = Registrar(policy: RegistrarPolicy(defaultExpires: 3600, minExpires: 0, maxExpires: .max))
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        let text = [
            "REGISTER sip:127.0.0.10:5060 SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.12:5062;branch=z9hG4bK-1",
            "From: <sip:bob@127.0.0.10>;tag=f1", "To: <sip:bob@127.0.0.10>", "Call-ID: reg-1", "CSeq: 1 REGISTER",
            "Contact: <sip:bob@127.0.0.12:5062>;expires=1099511627776", "Content-Length: 0",
        ].joined(separator: "\r\n") + "\r\n\r\n"
        guard case .request(let request) = try SIPParser().parse(Array(text.utf8)) else {
            Issue.record("not a request")
            return
        }
        let source = Peer(
            transport: .udp, remote: try SocketAddress(ipAddress: "127.0.0.12", port: 5062),
            local: try SocketAddress(ipAddress: "127.0.0.10", port: 5060)
        )
        let result = try registrar.register(request, source: source, now: t0).get()
        #expect(result.bindings.first?.remaining(at: t0) == RegistrarPolicy.expiresLimit)
        var binding = try #require(result.bindings.first)
        binding.expiresAt = .distantFuture
        #expect(binding.remaining(at: .uptimeNanoseconds(0)) > 0)
    }

    @Test func noAnswerTimerStaysWithinItsRange() {
        #expect(ForwardingRule(noAnswer: "carol", noAnswerAfter: .max).noAnswerSeconds == 3600)
        #expect(ForwardingRule(noAnswer: "carol", noAnswerAfter: .min).noAnswerSeconds == 1)
    }
}
