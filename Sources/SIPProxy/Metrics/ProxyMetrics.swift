// ProxyMetrics: the Prometheus view of one proxy instance (issue 16, item 5). A registry owned by the instance
// (no process-global bootstrap, so two proxies in one test process do not mix), filled at scrape time from what
// the shards count on their own loops, plus a loop latency histogram per shard fed through swift-metrics.

import CoreMetrics
import NIOCore
import Prometheus
import Synchronization

/// Collects every shard's counters and renders the Prometheus text exposition format (version 0.0.4).
///
/// The hot path pays nothing here: shards count into plain integers (`ShardMetrics`, `TransactionLayer`,
/// `OverloadControl`); a scrape asks each shard for a copy on its own loop, sums them and sets the registry's
/// series to the totals, then emits. Scrapes are serialized by a mutex around that last, synchronous, step.
public final class ProxyMetrics: Sendable {
    /// One shard's numbers, read on its loop.
    struct ShardSnapshot: Sendable {
        var traffic: ShardMetrics
        var serverTransactions: Int
        var clientTransactions: Int
        var retransmissions: (received: Int, sent: Int)
        var shed: Int
        var callsInProgress: Int
    }

    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    private let cores: [ProxyCore]
    private let recorder: TraceRecorder?
    private let hep: HEPSender?
    private let publishing = Mutex(())
    private let probes: Mutex<[LoopLatencyProbe]> = Mutex([])

    /// Buckets of the loop latency histogram: a healthy loop runs a task within a millisecond or so; overload
    /// control starts shedding at 200 ms of queueing by default.
    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1),
    ]
    static let latencyName = "sipproxy_loop_latency_seconds"

    init(cores: [ProxyCore], recorder: TraceRecorder?, hep: HEPSender?) {
        self.cores = cores
        self.recorder = recorder
        self.hep = hep
        var factory = PrometheusMetricsFactory(registry: self.registry)
        factory.durationHistogramBuckets[Self.latencyName] = Self.latencyBuckets
        self.factory = factory
    }

    /// Starts the per-shard loop latency probes (one timer per shard, every `interval`).
    func startProbes(interval: TimeAmount = .milliseconds(100)) {
        let started = self.cores.map { core in
            LoopLatencyProbe(
                eventLoop: core.eventLoop, interval: interval,
                timer: CoreMetrics.Timer(
                    label: Self.latencyName, dimensions: [("shard", "\(core.shardIndex)")], factory: self.factory
                )
            )
        }
        for probe in started { probe.start() }
        self.probes.withLock { $0 = started }
    }

    func stopProbes() {
        for probe in self.probes.withLock({ $0 }) { probe.stop() }
    }

    /// Reads every shard and renders the text format.
    public func scrape() async throws -> [UInt8] {
        var shards: [ShardSnapshot] = []
        for core in self.cores {
            shards.append(
                try await core.eventLoop.submit {
                    let counts = core.transactions.count
                    return ShardSnapshot(
                        traffic: core.metrics, serverTransactions: counts.server, clientTransactions: counts.client,
                        retransmissions: core.transactions.retransmissions, shed: Int(core.overload.shedCount),
                        callsInProgress: core.tracker.count
                    )
                }.get()
            )
        }
        var bindings = 0
        var users = 0
        if let core = self.cores.first {
            (bindings, users) = try await core.eventLoop.submit {
                let all = core.registrar.all(now: core.now())
                return (all.count, Set(all.map(\.user)).count)
            }.get()
        }
        let trace = self.recorder?.status()
        let hep = self.hep?.counters
        return self.publishing.withLock { _ in
            self.publish(shards, bindings: bindings, users: users, traceDrops: trace?.drops, hep: hep)
            return self.registry.emitToBuffer()
        }
    }

    // MARK: Publishing

    private func publish(
        _ shards: [ShardSnapshot], bindings: Int, users: Int, traceDrops: Int64?, hep: HEPSender.Counters?
    ) {
        var traffic = ShardMetrics()
        for shard in shards { traffic.add(shard.traffic) }
        for direction in ShardMetrics.Direction.allCases {
            for (m, method) in ShardMetrics.methodLabels.enumerated() {
                let requests = traffic.requests[direction.rawValue][m]
                if requests > 0 {
                    self.counter(
                        "sip_requests", "SIP requests by direction and method.",
                        [("direction", direction.label), ("method", method)], requests
                    )
                }
                for (c, klass) in ShardMetrics.classLabels.enumerated() {
                    let responses = traffic.responses[direction.rawValue][m][c]
                    guard responses > 0 else { continue }
                    self.counter(
                        "sip_responses", "SIP responses by direction, method (of the CSeq) and class.",
                        [("direction", direction.label), ("method", method), ("class", klass)], responses
                    )
                }
            }
        }
        for (code, count) in traffic.registerResults {
            self.counter(
                "register_requests", "REGISTER requests answered by the registrar, by final status code.",
                [("code", "\(code)")], count
            )
        }
        for (outcome, count) in traffic.callsEnded {
            self.counter("calls", "Calls ended, by the journal's outcome.", [("outcome", outcome.rawValue)], count)
        }
        func total(_ f: (ShardSnapshot) -> Int) -> Int { shards.reduce(0) { $0 + f($1) } }
        self.counter(
            "retransmissions", "Request retransmissions received, and requests resent on transaction timers.",
            [("direction", "received")], total { $0.retransmissions.received }
        )
        self.counter(
            "retransmissions", "Request retransmissions received, and requests resent on transaction timers.",
            [("direction", "sent")], total { $0.retransmissions.sent }
        )
        self.counter("shed_requests", "New requests answered 503 by overload control.", [], total { $0.shed })
        self.gauge("calls_in_progress", "Calls started and not yet ended.", [], total { $0.callsInProgress })
        self.gauge(
            "transactions_in_progress", "Transactions in progress, by kind.", [("kind", "server")],
            total { $0.serverTransactions }
        )
        self.gauge(
            "transactions_in_progress", "Transactions in progress, by kind.", [("kind", "client")],
            total { $0.clientTransactions }
        )
        self.gauge("registrations", "Current registrar bindings (contacts).", [], bindings)
        self.gauge("registered_users", "Users with at least one binding.", [], users)
        if let traceDrops {
            self.counter("trace_drops", "Trace events dropped since recording started.", [], Int(traceDrops))
        }
        if let hep {
            self.counter("hep_sent", "HEP packets sent to the collector.", [], Int(hep.sent))
            self.counter("hep_drops", "Messages not sent as HEP (queue full or too large).", [], Int(hep.drops))
        }
    }

    /// Sets a counter series to a total read from the shards (the registry's counters only go up by increments:
    /// reset then add, under the publishing lock so no scrape sees the gap).
    private func counter(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Int) {
        let descriptor = MetricNameDescriptor(
            namespace: "sipproxy", metricName: name, unitName: "total", helpText: help
        )
        let counter = self.registry.makeCounter(descriptor: descriptor, labels: labels)
        counter.reset()
        counter.increment(by: Int64(value))
    }

    private func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Int) {
        let descriptor = MetricNameDescriptor(namespace: "sipproxy", metricName: name, unitName: "", helpText: help)
        self.registry.makeGauge(descriptor: descriptor, labels: labels).set(Int64(value))
    }
}
