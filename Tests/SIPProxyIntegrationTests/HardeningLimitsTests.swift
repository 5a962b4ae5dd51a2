import Foundation
import SIPProxy
import Testing

/// The proxy's caps as an operator sets and reads them (issue 10, "Bounded resources" and "Relay policy"): the
/// total connection cap, the transaction cap's 503, a peer that stops reading, a Contact that names another host,
/// and the start-up warning of a proxy without authentication on a reachable address.
@Suite("Hardening: caps, stalled peers, foreign contacts", .serialized)
struct HardeningLimitsTests {
    typealias H = HardeningTests

    static func status(_ proxy: ProxyProcess) async throws -> ProxyStatus {
        let run = try await sipctl(["status", "--json"], cwd: proxy.workDirectory)
        guard run.succeeded else { throw TestSupportError("sipctl status failed\n\(run)") }
        return try JSONDecoder().decode(ProxyStatus.self, from: Data(run.stdout.utf8))
    }

    @Test("--max-connections 3: the fourth and fifth connections (from other addresses) are refused; sipctl status shows the caps")
    func totalConnectionCap() async throws {
        let proxy = try await ProxyProcess.start(
            label: "conntotal",
            extraArguments: ["--max-connections", "3", "--max-transactions", "77", "--max-bindings", "555", "--workers", "1"]
        )
        defer { proxy.stopAndRemoveDirectory() }
        var sockets: [RawSocket] = []
        // One address each: the per-source cap (128) plays no part.
        for n in 0..<5 {
            sockets.append(try RawSocket(tcpFrom: "127.0.0.\(71 + n)", to: proxy.ip, port: proxy.port))
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .milliseconds(300))
        let closed = sockets.map { $0.receive(timeout: 0.2).closed }
        #expect(closed == [false, false, false, true, true], "the first three stay, the next two are closed: \(closed)\n\(proxy.logTail())")
        let status = try await Self.status(proxy)
        let limits = try #require(status.limits)
        #expect(limits.connections == 3 && limits.maxConnections == 3 && limits.refusedConnections == 2, "\(limits)")
        #expect(limits.maxTransactions == 77 && limits.maxBindings == 555, "\(limits)")
        let text = try await sipctl(["status"], cwd: proxy.workDirectory)
        #expect(text.stdout.contains("limits:     3/3 tcp connections (128 per address), 77 transactions, 555 bindings"),
                "\(text)")
        #expect(text.stdout.contains("2 connections"), "\(text)")
        #expect(readText(proxy.stderrURL).contains("refused tcp connection from 127.0.0.74: 3 connections open (connection cap)"),
                "\(proxy.logTail())")
    }

    @Test("two shards: TCP connections are accepted on both loops, and the caps count them together")
    func connectionsSpreadOverShards() async throws {
        let proxy = try await ProxyProcess.start(
            label: "connshards", extraArguments: ["--max-connections", "4", "--workers", "2"]
        )
        defer { proxy.stopAndRemoveDirectory() }
        var sockets: [RawSocket] = []
        for n in 0..<6 {
            sockets.append(try RawSocket(tcpFrom: "127.0.0.\(81 + n)", to: proxy.ip, port: proxy.port))
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .milliseconds(300))
        let closed = sockets.map { $0.receive(timeout: 0.2).closed }
        #expect(closed.filter { $0 }.count == 2 && closed.prefix(4).allSatisfy { !$0 },
                "four stay open across both shards, the fifth and sixth are refused: \(closed)\n\(proxy.logTail())")
        let status = try await Self.status(proxy)
        let shards = try #require(status.shards)
        #expect(shards.count == 2 && shards.allSatisfy { $0.connections >= 1 } && shards.reduce(0) { $0 + $1.connections } == 4,
                "each shard holds some of the connections: \(shards.map(\.connections))")
        // A phone on a connection of either shard registers and is answered on its connection.
        let phone = sockets[1]
        _ = phone.write(Array(H.register("bob", ip: "127.0.0.82", port: phone.localPort, transport: "TCP", proxy: proxy).utf8))
        #expect(phone.receive(timeout: 5) { $0.contains { statusCode($0) == 200 } }.messages.contains { statusCode($0) == 200 },
                "\(proxy.logTail())")
    }

    @Test("--max-transactions 2: two unanswered INVITEs are pending, the third gets a stateless 503 with Retry-After")
    func transactionCap() async throws {
        let proxy = try await ProxyProcess.start(
            label: "txcap", extraArguments: ["--max-transactions", "2", "--workers", "1"], logLevel: "info"
        )
        defer { proxy.stopAndRemoveDirectory() }
        // bob is registered and never answers: each INVITE to him keeps a server transaction open (Timer C).
        let bob = try H.registeredPhone("bob", ip: "127.0.0.12", proxy: proxy)
        let alice = try H.registeredPhone("alice", ip: "127.0.0.11", proxy: proxy)
        var answers: [[String]] = []
        for n in 1...3 {
            let invite = H.request("INVITE", "sip:bob@\(proxy.hostPort)", from: "127.0.0.11", port: alice.localPort,
                                   callID: "txcap-\(n)", body: H.sdp(size: 200, ip: "127.0.0.11"))
            try alice.send(invite, to: proxy.ip, port: proxy.port)
            answers.append(alice.receive(timeout: 1) { $0.contains { (statusCode($0) ?? 0) >= 100 } }.messages)
        }
        #expect(answers[0].compactMap(statusCode).first == 100 && answers[1].compactMap(statusCode).first == 100,
                "the first two INVITEs are taken (100 Trying): \(answers)")
        let refusal = try #require(answers[2].first { statusCode($0) == 503 }, "the third is refused: \(answers[2])\n\(proxy.logTail())")
        #expect(headerValue(refusal, "Retry-After") == "5", "\(refusal)")
        // Timer A resends the unanswered INVITEs: count calls, not copies.
        let reached = Set(bob.receive(timeout: 1).messages.filter { $0.hasPrefix("INVITE ") }.compactMap { headerValue($0, "Call-ID") })
        #expect(reached == ["txcap-1", "txcap-2"], "bob got only the two admitted calls: \(reached)")
        let status = try await Self.status(proxy)
        #expect(status.serverTransactions == 2, "\(status)")
        #expect(readText(proxy.stderrURL).contains("2 transactions in progress: answering 503"), "\(proxy.logTail())")
    }

    @Test("a TCP phone that stops reading has its connection closed once 1 MiB waits for it; the proxy stays small and answers")
    func stalledPeerIsClosed() async throws {
        let proxy = try await ProxyProcess.start(
            label: "stalled", extraArguments: ["--rate-limit", "off", "--workers", "1", "--no-trace"], logLevel: "info"
        )
        defer { proxy.stopAndRemoveDirectory() }
        // bob registers over TCP, then never reads again.
        let bob = try RawSocket(tcpFrom: "127.0.0.12", to: proxy.ip, port: proxy.port)
        _ = bob.write(Array(H.register("bob", ip: "127.0.0.12", port: bob.localPort, transport: "TCP", proxy: proxy).utf8))
        #expect(bob.receive(timeout: 5) { $0.contains { statusCode($0) == 200 } }.messages.contains { statusCode($0) == 200 })
        // alice sends 16 KB MESSAGEs to bob over her own connection: far more than the kernel's buffers on both
        // sides of bob's connection (a few MB on loopback) plus the proxy's 1 MiB.
        let alice = try RawSocket(tcpFrom: "127.0.0.11", to: proxy.ip, port: proxy.port)
        _ = alice.write(Array(H.register("alice", ip: "127.0.0.11", port: alice.localPort, transport: "TCP", proxy: proxy).utf8))
        #expect(alice.receive(timeout: 5) { $0.contains { statusCode($0) == 200 } }.messages.contains { statusCode($0) == 200 })
        let text = String(repeating: "0123456789abcdef", count: 1024)
        var status = try await Self.status(proxy)
        var sent = 0
        while sent < 3000, (status.limits?.stalledConnections ?? 0) == 0 {
            for _ in 0..<100 {
                let message = H.request(
                    "MESSAGE", "sip:bob@\(proxy.hostPort)", from: "127.0.0.11", port: alice.localPort, transport: "TCP",
                    callID: "stall-\(sent)", extra: ["Content-Type: text/plain"], body: text
                )
                #expect(alice.write(Array(message.utf8)))
                sent += 1
            }
            _ = alice.receive(timeout: 0.05)  // keep alice's own direction flowing (100s, 408s)
            status = try await Self.status(proxy)
        }
        #expect(status.limits?.stalledConnections == 1, "bob's connection was closed after \(sent) messages\n\(proxy.logTail())")
        #expect(readText(proxy.stderrURL).contains("closing the connection to 127.0.0.12:\(bob.localPort): 1048576 octets not read by the peer"),
                "\(proxy.logTail())")
        let rss = try #require(Self.residentMiB(pid: proxy.pid))
        #expect(rss < 200, "resident memory \(rss) MiB after \(sent) messages of 16 KB to a stalled peer")
        // The proxy still answers, on TCP and UDP.
        let probe = try RawSocket(udpOn: "127.0.0.13")
        try probe.send(H.request("OPTIONS", "sip:\(proxy.hostPort)", from: "127.0.0.13", port: probe.localPort, callID: "after-stall"),
                       to: proxy.ip, port: proxy.port)
        #expect(probe.receive(timeout: 3) { !$0.isEmpty }.messages.compactMap(statusCode).first == 200, "\(proxy.logTail())")
    }

    /// VmRSS of a process in MiB.
    static func residentMiB(pid: Int32) -> Int? {
        let status = readText(URL(fileURLWithPath: "/proc/\(pid)/status"))
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kB = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kB / 1024
    }

    @Test("a REGISTER whose Contact names another host: calls reach the phone at the REGISTER's source, never that host")
    func contactElsewhereGoesThroughTheSource() async throws {
        let proxy = try await ProxyProcess.start(label: "contact-elsewhere", logLevel: "info")
        defer { proxy.stopAndRemoveDirectory() }
        // A victim listening where the Contact points (a spoofed binding would aim the proxy at it).
        let victim = try RawSocket(udpOn: "127.0.0.99")
        let mallory = try RawSocket(udpOn: "127.0.0.12")
        let register = H.request(
            "REGISTER", "sip:\(proxy.hostPort)", from: "127.0.0.12", port: mallory.localPort, callID: "reg-elsewhere",
            extra: ["Contact: <sip:bob@127.0.0.99:\(victim.localPort)>", "Expires: 300"]
        )
        .replacingOccurrences(of: "To: <sip:\(proxy.hostPort)>", with: "To: <sip:bob@\(proxy.hostPort)>")
        .replacingOccurrences(of: "From: <sip:alice@127.0.0.12>", with: "From: <sip:bob@\(proxy.hostPort)>")
        try mallory.send(register, to: proxy.ip, port: proxy.port)
        #expect(mallory.receive(timeout: 5) { $0.contains { statusCode($0) == 200 } }.messages.contains { statusCode($0) == 200 })
        let alice = try H.registeredPhone("alice", ip: "127.0.0.11", proxy: proxy)
        let invite = H.request("INVITE", "sip:bob@\(proxy.hostPort)", from: "127.0.0.11", port: alice.localPort,
                               callID: "elsewhere-1", body: H.sdp(size: 200, ip: "127.0.0.11"))
        try alice.send(invite, to: proxy.ip, port: proxy.port)
        let atSource = mallory.receive(timeout: 3) { $0.contains { $0.hasPrefix("INVITE ") } }.messages
        #expect(atSource.contains { $0.hasPrefix("INVITE sip:bob@127.0.0.99:\(victim.localPort)") },
                "the INVITE (for the registered Contact) went to the REGISTER's source: \(atSource)")
        #expect(victim.receive(timeout: 1).messages.isEmpty, "nothing reached the host the Contact names")
    }

    @Test("a REGISTER query for a user with ten long contacts: the phone's address gets them all, a stranger one short 403")
    func queryIsNoAmplifier() async throws {
        let proxy = try await ProxyProcess.start(label: "query-amp")
        defer { proxy.stopAndRemoveDirectory() }
        let phone = try RawSocket(udpOn: "127.0.0.12")
        let contacts = (0..<10).map { n in
            "Contact: <sip:bob-\(n)-\(String(repeating: "x", count: 600))@127.0.0.12:\(phone.localPort)>"
        }
        func query(_ ip: String, _ socket: RawSocket, _ callID: String, extra: [String] = []) -> String {
            H.request("REGISTER", "sip:\(proxy.hostPort)", from: ip, port: socket.localPort, callID: callID,
                      extra: extra + ["Expires: 300"])
                .replacingOccurrences(of: "To: <sip:\(proxy.hostPort)>", with: "To: <sip:bob@\(proxy.hostPort)>")
        }
        try phone.send(query("127.0.0.12", phone, "reg-long", extra: contacts), to: proxy.ip, port: proxy.port)
        #expect(phone.receive(timeout: 5) { $0.contains { statusCode($0) == 200 } }.messages.contains { statusCode($0) == 200 })
        // The phone itself may list its bindings (§10.3 step 8).
        try phone.send(query("127.0.0.12", phone, "q-own"), to: proxy.ip, port: proxy.port)
        let own = phone.receive(timeout: 3) { $0.contains { statusCode($0) != nil } }.messages
        #expect(own.first.map { headers("Contact", in: $0).count } == 10, "\(own)")
        // A stranger's query: one 403 about as long as the query (a To tag and a Server header more), where the
        // list would be about 25 times longer.
        let stranger = try RawSocket(udpOn: "127.0.0.66")
        let probe = query("127.0.0.66", stranger, "q-stranger")
        try stranger.send(probe, to: proxy.ip, port: proxy.port)
        let got = stranger.receive(timeout: 2).messages
        #expect(got.compactMap(statusCode) == [403], "\(got)")
        #expect(Double(got.reduce(0) { $0 + $1.utf8.count }) <= 1.2 * Double(probe.utf8.count), "\(got)")
    }

    @Test("without --auth on an address that is not loopback, serve warns at start; with --auth it does not (own network namespace)")
    func warnsWithoutAuthentication() async throws {
        guard let unshare = ToolRunner.which("unshare") else {
            Issue.record("unshare (util-linux) is needed to give the proxy a non-loopback address of its own")
            return
        }
        let dir = try TestEnvironment.makeTemporaryDirectory("auth-warning")
        defer { try? FileManager.default.removeItem(at: dir) }
        let users = dir.appendingPathComponent("users.yaml")
        try "users:\n  alice: secret\n".write(to: users, atomically: true, encoding: .utf8)
        let sipctlPath = try TestEnvironment.sipctlBinary()
        func serve(_ extra: [String]) async throws -> String {
            // 10.99.0.1 exists only on the namespace's own loopback device: nothing can reach it or leave it.
            let run = try await ToolRunner.run(
                unshare,
                ["-n", "--", "sh", "-c",
                 "ip link set lo up && ip addr add 10.99.0.1/32 dev lo && exec timeout -s INT 3 \"$0\" \"$@\"",
                 sipctlPath, "serve", "--listen", "10.99.0.1:5060", "--no-trace", "--no-journal"] + extra,
                in: dir, timeout: 30
            )
            return run.stderr + run.stdout
        }
        let open = try await serve([])
        #expect(open.contains("no authentication: anyone who reaches udp:10.99.0.1:5060"), "\(open)")
        let closed = try await serve(["--auth", users.path])
        #expect(closed.contains("SIPProxy ready") && !closed.contains("no authentication"), "\(closed)")
    }
}
