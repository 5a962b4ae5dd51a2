// SIPMicro: what one message costs on SIPProxy's message path (issue 12), measured through the library's public
// API only, so every figure is the code that runs in `sipctl serve`:
//
//   parse      SIPParser().parse of RFC 3261 §24.2 F1 (INVITE), F9 (200 OK with Record-Route, Contact) and a
//              Linphone REGISTER
//   forward    the real ProxyCore (ProxyBenchmarkHarness: in-memory transport, manual clock, no disk, no socket):
//              F1's INVITE in -> 100 Trying + forwarded INVITE out; and the whole call setup, INVITE + 180 + 200
//   serialize  SIPMessage.serialize() of the parsed F1
//
// Each benchmark iteration runs 1,000 messages (or calls); with scalingFactor .kilo the package reports per
// message. The forward benchmarks build a fresh proxy for each iteration outside the measured region, so the
// 1,000 calls of one iteration fill an empty transaction table, as a proxy's does from start, and never collide.

import Benchmark
import NIOCore
import SIPProxy

let benchmarks: @Sendable () -> Void = {
    // Short runs: the figures are taken on a shared 2-core machine (see Benchmarks/README.md).
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal],
        warmupIterations: 2,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 200
    )

    // MARK: parse

    let messages: [(name: String, bytes: [UInt8])] = [
        ("INVITE (RFC 3261 24.2 F1)", Messages.invite),
        ("200 OK (RFC 3261 24.2 F9)", Messages.ok),
        ("REGISTER (Linphone)", Messages.register),
    ]
    for (name, bytes) in messages {
        Benchmark("parse \(name)") { benchmark in
            let parser = SIPParser()
            guard (try? parser.parse(bytes)) != nil else {
                benchmark.error("the parser rejects the \(name)")
                return
            }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(try? parser.parse(bytes))
            }
        }
    }

    // MARK: forward

    Benchmark("forward INVITE (in -> 100 + INVITE out)") { benchmark in
        do {
            let call = try ProxiedCall()
            benchmark.startMeasurement()
            for number in benchmark.scaledIterations {
                blackHole(try call.sendInvite(number))
            }
            benchmark.stopMeasurement()
            // The proxy is torn down after the measured region, not inside it.
            withExtendedLifetime(call) {}
        } catch {
            benchmark.error("\(error)")
        }
    }

    Benchmark("forward call (INVITE, 180, 200: 3 in, 5 out)") { benchmark in
        do {
            let call = try ProxiedCall()
            benchmark.startMeasurement()
            for number in benchmark.scaledIterations {
                try call.answer(try call.sendInvite(number))
            }
            benchmark.stopMeasurement()
            withExtendedLifetime(call) {}
        } catch {
            benchmark.error("\(error)")
        }
    }

    // MARK: serialize

    Benchmark("serialize INVITE (RFC 3261 24.2 F1)") { benchmark in
        guard let invite = try? SIPParser().parse(Messages.invite) else {
            benchmark.error("the parser rejects the INVITE")
            return
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(invite.serialize())
        }
    }
}
