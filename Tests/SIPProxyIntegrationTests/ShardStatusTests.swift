import Foundation
import SIPProxy
import Testing

/// `sipctl status --json` with `--workers 2` (issue 11 item 3): one entry per shard, each with its load. SIPp phones
/// register and call; the shards' message counts add up to at least what the phones sent (every message is
/// processed once, by the shard owning its Call-ID), and each entry names its transactions and timers.
@Suite("Per-shard status", .serialized)
struct ShardStatusTests {
    @Test("two shards: both processed messages, together at least all SIPp sent; transactions and timers are reported")
    func shardLoad() async throws {
        let bed = try await TestBed("shard-status", proxyArguments: ["--workers", "2", "--no-trace"], logLevel: "info")
        defer { bed.shutdown() }
        let alice = Phone("alice", ip: "127.0.0.11")
        let bob = Phone("bob", ip: "127.0.0.12")
        let carol = Phone("carol", ip: "127.0.0.13")
        var runs: [SIPpResult] = []
        for phone in [bob, carol, alice] { runs.append(try await bed.register(phone)) }
        // Twelve calls: twelve Call-IDs (plus three registrations) over two shards, so each shard owns some of
        // them unless the hash put all fifteen on one (one chance in 2^14).
        let calls = 12
        let uas = try await bed.startUAS("uas-answer.xml", as: bob, calls: calls, timeout: 30)
        let uac = try await bed.run("uac-call-bye.xml", as: alice, service: "bob", calls: calls, timeout: 30)
        let answered = await uas.wait()
        #expect(uac.passed && answered.passed, "\(bed.diagnostics(uac, answered))")
        runs += [uac, answered]
        let sent = runs.flatMap(\.sent).count
        #expect(sent >= 3 + 6 * calls, "SIPp's logs list what the phones sent: \(sent)")

        // The last message (bob's 200 for the last BYE) may still be in a socket queue: poll briefly.
        var status: ProxyStatus?
        var raw = ""
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        repeat {
            let run = try await sipctl(["status", "--json"], cwd: bed.proxy.workDirectory)
            #expect(run.succeeded, "\(run)")
            raw = run.stdout
            status = try? JSONDecoder().decode(ProxyStatus.self, from: Data(raw.utf8))
            let total = status?.shards?.reduce(UInt64(0)) { $0 + $1.messages } ?? 0
            if total >= UInt64(sent) { break }
            try await Task.sleep(for: .milliseconds(100))
        } while clock.now < deadline

        let shards = try #require(status?.shards, "no shards in status --json:\n\(raw)")
        #expect(shards.map(\.shard) == [0, 1], "one entry per worker: \(shards)")
        for shard in shards {
            #expect(shard.messages > 0, "shard \(shard.shard) processed messages: \(shards)")
            #expect(shard.timers > 0, "shard \(shard.shard)'s wheel holds at least its binding sweep: \(shards)")
        }
        let total = shards.reduce(UInt64(0)) { $0 + $1.messages }
        #expect(total >= UInt64(sent), "the shards processed every message the phones sent (\(total) < \(sent)): \(shards)")
        #expect(shards.reduce(UInt64(0)) { $0 + $1.handedOver } > 0,
                "a call's messages read by the other shard's socket were handed to its owner: \(shards)")

        // The JSON itself names each shard's transactions and timers (not only what the decoder would default).
        let object = try #require(try JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any])
        let entries = try #require(object["shards"] as? [[String: Any]], "\(raw)")
        #expect(entries.count == 2)
        for entry in entries {
            for key in ["shard", "messages", "handedOver", "serverTransactions", "clientTransactions", "timers"] {
                #expect(entry[key] is NSNumber, "shard entry lacks \(key): \(entry)")
            }
        }
        #expect(bed.proxy.isRunning)
    }
}
