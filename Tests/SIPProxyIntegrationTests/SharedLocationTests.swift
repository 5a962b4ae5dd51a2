// Several proxies on one PostgreSQL location store (issue 16 item 2): proxy A (127.0.0.51) and proxy B
// (127.0.0.52) share a database the test starts itself; bob registers through A, alice through B, and alice's
// call to bob goes alice → B → A → bob, A sending it over the flow bob registered on.

import Foundation
import SIPProxy
import Testing

@Suite("Shared location store (PostgreSQL)", .serialized)
struct SharedLocationTests {
    static func registrations(_ bed: TestBed) async throws -> [RegistrationInfo] {
        let run = try await sipctl(["registrations", "--json"], cwd: bed.directory)
        guard run.succeeded else { throw TestSupportError("sipctl registrations failed\n\(run)") }
        return try JSONDecoder().decode([RegistrationInfo].self, from: Data(run.stdout.utf8))
    }

    /// Waits (bounded) until `bed`'s proxy lists `user`.
    /// Returns when it was seen: the start of the `sipctl registrations` that listed it (its own run time is not
    /// part of how long the change took to arrive).
    static func waitForBinding(_ user: String, in bed: TestBed, timeout: Duration = .seconds(15),
                               poll: Duration = .milliseconds(100)) async throws -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let asked = ContinuousClock.now
            if try await Self.registrations(bed).contains(where: { $0.user == user }) { return asked }
            try await Task.sleep(for: poll)
        }
        return nil
    }

    @Test("bob registers through A, alice through B: alice's call goes B → A → bob and connects")
    func callThroughOwningProxy() async throws {
        let pg = try await PostgresServer.start(ip: "127.0.0.59")
        defer { pg.remove() }
        let a = try await TestBed("pg-a", proxyArguments: ["--location", pg.url, "--instance-id", "proxy-a"],
                                  logLevel: "info", proxyIP: "127.0.0.51")
        defer { a.shutdown() }
        let b = try await TestBed("pg-b", proxyArguments: ["--location", pg.url, "--instance-id", "proxy-b"],
                                  logLevel: "info", proxyIP: "127.0.0.52")
        defer { b.shutdown() }

        let bob = Phone("bob", ip: "127.0.0.13")
        try await a.register(bob, expires: 600)
        // Written behind by A within a second, read by B's next poll.
        #expect(try await Self.waitForBinding("bob", in: b) != nil, "B never saw bob\n\(b.proxy.logTail(30))\n\(a.proxy.logTail(30))")
        let rows = try await pg.query("SELECT user_key, owner, owner_uri FROM sipproxy_binding WHERE NOT deleted ORDER BY user_key")
        #expect(rows.contains("bob|proxy-a|sip:\(a.proxy.hostPort)"), "\(rows)")

        // A listens for B's change notices (LISTEN/NOTIFY): alice, registered through B, is in A's store well
        // within a second of her 200 OK (B writes within 200 ms, A reads on the notice), not at A's next poll.
        var status = ""
        let listening = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < listening {
            status = try await sipctl(["status"], cwd: a.directory).stdout
            if status.contains("changes by notice") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(status.contains("changes by notice"), "\(status)")
        let alice = Phone("alice", ip: "127.0.0.14")
        try await b.register(alice, expires: 600)
        let registered = ContinuousClock.now
        let seen = try await Self.waitForBinding("alice", in: a, poll: .milliseconds(20))
        #expect(seen != nil, "A never saw alice\n\(a.proxy.logTail(30))")
        if let seen { #expect(seen - registered < .milliseconds(1000), "alice reached A after \(seen - registered)") }

        let uas = try await a.startUAS("uas-answer.xml", as: bob)
        let call = try await b.run("uac-call-bye.xml", as: alice, service: "bob")
        let answered = await uas.wait()
        #expect(call.passed && answered.passed,
                "\(b.diagnostics(call, answered))\nA:\n\(a.proxy.logTail(30))\nB:\n\(b.proxy.logTail(30))")
        let invite = try #require(answered.receivedRequests("INVITE").first, "the INVITE reached bob")
        // Bob sees A's Via on top, then B's, then alice's: the request went B → A → bob.
        let vias = headers("Via", in: invite).flatMap { $0.split(separator: ",").map(String.init) }
        #expect(vias.count == 3, "\(vias)")
        #expect(vias.first?.contains(a.proxy.hostPort) == true, "\(vias)")
        #expect(vias.dropFirst().first?.contains(b.proxy.hostPort) == true, "\(vias)")
        let routes = headers("Record-Route", in: invite).joined(separator: ",")
        #expect(routes.contains(a.proxy.hostPort) && routes.contains(b.proxy.hostPort), "\(routes)")
        #expect(!call.receivedResponses(200).isEmpty, "alice got 200 OK\n\(b.diagnostics(call))")
        // A forwarded B's request: no relay refusal in A's log.
        #expect(!readText(a.proxy.stderrURL).contains("relay refused"), "\(a.proxy.logTail(30))")

        // Bob unregisters through A: his row becomes a tombstone and B forgets him too.
        let removed = try await a.run("register-remove.xml", as: bob)
        #expect(removed.passed, "\(a.diagnostics(removed))")
        var gone = false
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline && !gone {
            gone = try await !Self.registrations(b).contains(where: { $0.user == "bob" })
            if !gone { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(gone, "B still lists bob\n\(b.proxy.logTail(30))")
        let tombstone = try await pg.query("SELECT deleted FROM sipproxy_binding WHERE user_key = 'bob'")
        #expect(tombstone.trimmingCharacters(in: .whitespacesAndNewlines) == "t", "\(tombstone)")
    }

    @Test("the database stops: calls go on from memory, one log line; it returns: a new phone reaches B again")
    func databaseOutage() async throws {
        let pg = try await PostgresServer.start(ip: "127.0.0.59")
        defer { pg.remove() }
        let a = try await TestBed("pg-out-a", proxyArguments: ["--location", pg.url, "--instance-id", "proxy-a"],
                                  logLevel: "info", proxyIP: "127.0.0.51")
        defer { a.shutdown() }
        let b = try await TestBed("pg-out-b", proxyArguments: ["--location", pg.url, "--instance-id", "proxy-b"],
                                  logLevel: "info", proxyIP: "127.0.0.52")
        defer { b.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.13")
        let alice = Phone("alice", ip: "127.0.0.14")
        try await a.register(bob, expires: 600)
        try await b.register(alice, expires: 600)
        #expect(try await Self.waitForBinding("bob", in: b) != nil, "\(b.proxy.logTail(30))")

        try await pg.stopServer()
        // A refresh through A while the database is down: written later, the call is not held up.
        try await a.register(bob, expires: 600)
        let uas = try await a.startUAS("uas-answer.xml", as: bob)
        let call = try await b.run("uac-call-bye.xml", as: alice, service: "bob")
        let answered = await uas.wait()
        #expect(call.passed && answered.passed, "\(b.diagnostics(call, answered))\n\(a.proxy.logTail(30))")
        // sipctl status says the store is unreachable (bounded wait: the next poll or write finds out).
        var status = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            status = try await sipctl(["status"], cwd: a.directory).stdout
            if status.contains("UNREACHABLE") { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(status.contains("UNREACHABLE"), "\(status)")
        try await Task.sleep(for: .seconds(2))  // several polls and a write retry fail meanwhile

        try await pg.startServer()
        let carol = Phone("carol", ip: "127.0.0.15")
        try await a.register(carol, expires: 600)
        #expect(try await Self.waitForBinding("carol", in: b, timeout: .seconds(15)) != nil,
                "B never saw carol after the database came back\n\(a.proxy.logTail(30))\n\(b.proxy.logTail(30))")
        let carolUAS = try await a.startUAS("uas-answer.xml", as: carol)
        let call2 = try await b.run("uac-call-bye.xml", as: alice, service: "carol")
        let answered2 = await carolUAS.wait()
        #expect(call2.passed && answered2.passed, "\(b.diagnostics(call2, answered2))\n\(a.proxy.logTail(30))")

        // One error line per outage and proxy, one line when it is back; the refresh made while down was caught up.
        let logA = readText(a.proxy.stderrURL)
        let errors = logA.components(separatedBy: "\n").filter { $0.contains("calls go on from memory") }
        #expect(errors.count == 1, "\(errors)")
        #expect(logA.contains("reachable again"), "\(a.proxy.logTail(30))")
        let caughtUp = ContinuousClock.now + .seconds(10)
        var pending = -1
        while ContinuousClock.now < caughtUp {
            let json = try await sipctl(["status", "--json"], cwd: a.directory)
            pending = try JSONDecoder().decode(ProxyStatus.self, from: Data(json.stdout.utf8)).registrationStore?.pending ?? -1
            if pending == 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(pending == 0, "A wrote what waited")
        let rows = try await pg.query("SELECT user_key FROM sipproxy_binding WHERE NOT deleted AND owner = 'proxy-a' ORDER BY 1")
        #expect(rows.split(separator: "\n") == ["bob", "carol"], "\(rows)")
    }
}
