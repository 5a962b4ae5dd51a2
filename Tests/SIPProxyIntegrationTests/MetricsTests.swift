import Foundation
import SIPProxy
import Testing

/// Prometheus metrics (`--metrics IP:PORT`, issue 16): after registrations and calls made by SIPp phones, `GET
/// /metrics` parses as Prometheus text (a strict reader) and its counters are exactly what was done; `/health`
/// answers 200 "ok".
@Suite("Prometheus metrics", .serialized)
struct MetricsTests {
    @Test("/metrics counts the REGISTERs, INVITEs, 200s and calls by outcome that SIPp made; /health is ok")
    func countersMatchTheTraffic() async throws {
        let ip = "127.0.0.10"
        let metricsPort = PortAllocator.block(on: ip)
        let bed = try await TestBed("metrics", proxyArguments: [
            "--metrics", "\(ip):\(metricsPort)", "--workers", "2", "--no-trace",
        ], logLevel: "info")
        defer { bed.shutdown() }
        let health = try httpGet(ip, metricsPort, "/health")
        #expect(health.status == 200 && health.body == "ok\n", "\(health)")

        // 3 phones register (3 REGISTER, 3 × 200); bob answers 3 calls, dave is busy once, nobody is "nobody".
        let bob = Phone("bob", ip: "127.0.0.12")
        let dave = Phone("dave", ip: "127.0.0.14")
        let carol = Phone("carol", ip: "127.0.0.13")
        var runs: [SIPpResult] = []
        for phone in [bob, dave, carol] { runs.append(try await bed.register(phone)) }
        let uas = try await bed.startUAS("uas-answer.xml", as: bob, calls: 3, timeout: 20)
        let alice = Phone("alice", ip: "127.0.0.11")
        let calls = try await bed.run("uac-call-bye.xml", as: alice, service: "bob", calls: 3, timeout: 20)
        let answered = await uas.wait()
        let busyUAS = try await bed.startUAS("uas-busy.xml", as: dave)
        let busy = try await bed.run("uac-expect-final.xml", as: alice, service: "dave", sets: ["code": "486"])
        let busyDone = await busyUAS.wait()
        let unknown = try await bed.run("uac-expect-final.xml", as: alice, service: "nobody", sets: ["code": "404"])
        #expect(calls.passed && answered.passed && busy.passed && busyDone.passed && unknown.passed,
                "\(bed.diagnostics(calls, answered, busy, busyDone, unknown))")
        runs += [calls, answered, busy, busyDone, unknown]

        // The journal closes a call on the final 200 to BYE or the ACK of a failure: poll until every call ended.
        var metrics = try PrometheusText("")
        var body = ""
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(8)
        repeat {
            let r = try httpGet(ip, metricsPort, "/metrics")
            #expect(r.status == 200 && r.headers.contains("text/plain; version=0.0.4"), "\(r.headers)")
            body = r.body
            metrics = try PrometheusText(body)
            if metrics.value("sipproxy_calls_in_progress") == 0, (metrics.all("sipproxy_calls_total").reduce(0) { $0 + $1.value }) >= 5 {
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        } while clock.now < deadline

        func count(_ name: String, _ labels: [String: String] = [:]) -> Double? { metrics.value(name, labels) }
        let requests = "sipproxy_sip_requests_total"
        let responses = "sipproxy_sip_responses_total"
        // Over loopback every message a phone sent reached the proxy and every one it received came from it, so
        // SIPp's message logs give what each counter must say, retransmissions included (a loaded machine makes
        // phones retransmit; each copy is a message on the wire).
        func tally(_ messages: [String]) -> [String: Double] {
            var out: [String: Double] = [:]
            for m in messages {
                if let code = statusCode(m) {
                    let cseq = headers("CSeq", in: m).first?.split(separator: " ").last.map(String.init) ?? "?"
                    out["\(cseq) \(code / 100)xx", default: 0] += 1
                } else if let method = m.split(separator: " ").first {
                    out[String(method), default: 0] += 1
                }
            }
            return out
        }
        let intoProxy = tally(runs.flatMap(\.sent))
        let fromProxy = tally(runs.flatMap(\.received))
        var wrong: [String] = []
        for (direction, expected) in [("received", intoProxy), ("sent", fromProxy)] {
            for (key, n) in expected {
                let parts = key.split(separator: " ").map(String.init)
                let got = parts.count == 1
                    ? count(requests, ["direction": direction, "method": parts[0]])
                    : count(responses, ["direction": direction, "method": parts[0], "class": parts[1]])
                if got != n { wrong.append("\(direction) \(key): /metrics \(got.map { "\($0)" } ?? "none"), SIPp \(n)") }
            }
        }
        let requestSeries = metrics.all(requests).count + metrics.all(responses).count
        #expect(wrong.isEmpty && requestSeries == intoProxy.count + fromProxy.count,
                "every message SIPp saw is counted, nothing else\n\(wrong.joined(separator: "\n"))\n\(body)")
        // What the scenarios make, when no phone had to retransmit.
        #expect((count(requests, ["direction": "received", "method": "INVITE"]) ?? 0) >= 5, "\(body)")
        #expect((count(requests, ["direction": "sent", "method": "INVITE"]) ?? 0) >= 4, "the call to nobody is not forwarded\n\(body)")
        #expect((count(responses, ["direction": "sent", "method": "INVITE", "class": "2xx"]) ?? 0) >= 3, "\(body)")
        #expect((count(responses, ["direction": "sent", "method": "INVITE", "class": "4xx"]) ?? 0) >= 2, "486 and 404\n\(body)")
        #expect(count("sipproxy_register_requests_total", ["code": "200"]) == fromProxy["REGISTER 2xx"], "\(body)")
        #expect(count("sipproxy_registrations") == 3 && count("sipproxy_registered_users") == 3, "\(body)")
        #expect(count("sipproxy_calls_total", ["outcome": "completed"]) == 3, "\(body)")
        #expect(count("sipproxy_calls_total", ["outcome": "busy"]) == 1, "\(body)")
        #expect(count("sipproxy_calls_total", ["outcome": "unreachable"]) == 1, "\(body)")
        #expect(count("sipproxy_calls_in_progress") == 0, "\(body)")
        #expect(count("sipproxy_shed_requests_total") == 0, "\(body)")
        #expect(count("sipproxy_transactions_in_progress", ["kind": "server"]) != nil, "\(body)")
        #expect(count("sipproxy_retransmissions_total", ["direction": "received"]) != nil, "\(body)")
        #expect(metrics.types["sipproxy_sip_requests_total"] == "counter" && metrics.types["sipproxy_calls_in_progress"] == "gauge")
        // One latency histogram per shard, fed every 100 ms since start.
        #expect(metrics.types["sipproxy_loop_latency_seconds"] == "histogram", "\(body)")
        let shards = Set(metrics.all("sipproxy_loop_latency_seconds_count").compactMap { $0.labels["shard"] })
        #expect(shards == ["0", "1"], "\(body)")
        #expect(metrics.all("sipproxy_loop_latency_seconds_count").allSatisfy { $0.value >= 1 }, "\(body)")

        let notFound = try httpGet(ip, metricsPort, "/nothing")
        #expect(notFound.status == 404)
    }

    @Test("a bad --metrics or --hep is one line and a non-zero exit")
    func badAddresses() async throws {
        for args in [["--metrics", "localhost:99999"], ["--metrics", "nowhere:9090"], ["--hep", "tcp:127.0.0.1:9060"],
                     ["--hep-id", "5"]] {
            let r = try await sipctl(["serve", "--listen", "127.0.0.10:0"] + args, cwd: FileManager.default.temporaryDirectory,
                                     timeout: .seconds(10))
            #expect(r.exitCode != 0 && r.stderr.split(separator: "\n").count == 1, "\(args)\n\(r)")
        }
        let dir = try TestEnvironment.makeTemporaryDirectory("metrics-yaml")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (yaml, error) in [("metrics: 127.0.0.1\n", "invalid metrics in"), ("hep:\n  collector: udp:127.0.0.1\n", "invalid --hep"),
                              ("hep:\n  id: 5\n", "hep.id in"), ("hep:\n  colector: x\n", "did you mean 'hep.collector'")] {
            try yaml.write(to: dir.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
            let r = try await sipctl(["serve", "--listen", "127.0.0.10:0", "--config", "p.yaml"], cwd: dir, timeout: .seconds(10))
            #expect(r.exitCode != 0 && r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(error), "\(yaml)\n\(r)")
        }
    }
}
