import Foundation
import SIPProxy
import Testing

/// Call forwarding on the proxy (rules from the config file and from `sipctl forward`) and redirect recursion:
/// each flow checks the caller's view, the forwarded INVITE's Diversion / History-Info and the journal record.
@Suite("Call forwarding and redirects", .serialized)
struct ForwardingTests {
    // Phones: alice calls; bob is the callee with rules; carol, dave, erin are forward targets.
    private func phone(_ user: String) -> Phone {
        let ips = ["alice": "127.0.0.11", "bob": "127.0.0.12", "carol": "127.0.0.13", "dave": "127.0.0.14", "erin": "127.0.0.15"]
        return Phone(user, ip: ips[user] ?? "127.0.0.16")
    }

    /// Runs `sipctl ARGS --socket <proxy dir>/sipproxy.sock`; returns exit status and stdout.
    @discardableResult
    private func sipctl(_ bed: TestBed, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.sipctlBinary())
        process.arguments = arguments + ["--socket", bed.directory.appendingPathComponent("sipproxy.sock").path]
        process.currentDirectoryURL = bed.directory
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    private func setRule(_ bed: TestBed, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try sipctl(bed, ["forward", "set"] + arguments)
        #expect(r.status == 0, "sipctl forward set \(arguments) failed: \(r.output)", sourceLocation: sourceLocation)
    }

    /// The ended journal record of the last call to `callee` (waits for the journal to be written).
    private func journalRecord(_ bed: TestBed, callee: String = "bob", count: Int = 1) async -> CallRecord? {
        let url = bed.directory.appendingPathComponent("calls.jsonl")
        var found: CallRecord?
        _ = await waitUntil(timeout: .seconds(5)) {
            let records = readText(url).split(separator: "\n").compactMap { try? CallRecord.decode(jsonLine: String($0)) }
                .filter { $0.calleeUser == callee && $0.state == "ended" }
            found = records.last
            return records.count >= count
        }
        return found
    }

    /// alice calls bob (uac-call-bye) while `answerer` answers; returns alice's and the answerer's results.
    private func callAnswered(_ bed: TestBed, answerer: Phone) async throws -> (SIPpResult, SIPpResult) {
        let uas = try await bed.startUAS("uas-answer.xml", as: answerer)
        let a = try await bed.run("uac-call-bye.xml", as: phone("alice"), service: "bob")
        let c = await uas.wait()
        return (a, c)
    }

    @Test("unconditional forward from the config file: carol answers, bob's phone is not rung")
    func unconditional() async throws {
        let config = try TestEnvironment.makeTemporaryDirectory("fwd-config").appendingPathComponent("proxy.yaml")
        try "forwarding:\n  bob:\n    always: carol\n".write(to: config, atomically: true, encoding: .utf8)
        let bed = try await TestBed("fwd-always", proxyArguments: ["--config", config.path])
        defer { bed.shutdown() }
        let carol = phone("carol")
        try await bed.register(carol)
        let (a, c) = try await callAnswered(bed, answerer: carol)
        #expect(a.passed, "caller\n\(bed.diagnostics(a, c))")
        #expect(c.passed, "carol\n\(bed.diagnostics(a, c))")
        #expect(!a.receivedResponses(180).isEmpty, "caller got no 180 from carol\n\(bed.diagnostics(a, c))")
        let invite = try #require(c.receivedRequests("INVITE").first, "carol saw no INVITE\n\(bed.diagnostics(a, c))")
        let diversion = headers("Diversion", in: invite)
        #expect(diversion.count == 1 && diversion[0].contains("sip:bob@\(bed.proxy.hostPort)")
                && diversion[0].contains("reason=unconditional") && diversion[0].contains("counter=1"),
                "Diversion\n\(invite)")
        let history = headers("History-Info", in: invite).joined(separator: ",")
        #expect(history.contains("<sip:bob@\(bed.proxy.hostPort)>;index=1"), "History-Info root\n\(invite)")
        #expect(history.contains("sip:carol@\(bed.proxy.hostPort);cause=302>;index=1.1;mp=1"), "History-Info\n\(invite)")
        #expect(headers("To", in: invite).first?.contains("sip:bob@") == true, "To must stay the original callee")
        #expect(bed.proxy.logTail(400).contains("call alice -> bob: forwarded to carol (always)"), "\(bed.proxy.logTail())")
        let record = try #require(await journalRecord(bed), "no journal record\n\(bed.proxy.logTail())")
        #expect(record.callee == "sip:bob@127.0.0.10")
        #expect(record.forwardedTo == "sip:carol@127.0.0.10")
        #expect(record.forwardReason == "unconditional")
        #expect(record.outcome == .completed)
        #expect(record.answeredFrom == carol.address)
    }

    @Test("forward on busy: bob answers 486, carol is tried and answers")
    func onBusy() async throws {
        let bed = try await TestBed("fwd-busy")
        defer { bed.shutdown() }
        let bob = phone("bob"), carol = phone("carol")
        try await bed.register(bob)
        try await bed.register(carol)
        try setRule(bed, ["bob", "--busy", "carol"])
        let busy = try await bed.startUAS("uas-busy.xml", as: bob)
        let (a, c) = try await callAnswered(bed, answerer: carol)
        let b = await busy.wait()
        #expect(a.passed, "caller\n\(bed.diagnostics(a, b, c))")
        #expect(b.passed, "bob (busy)\n\(bed.diagnostics(a, b, c))")
        #expect(c.passed, "carol\n\(bed.diagnostics(a, b, c))")
        #expect(a.receivedResponses(486).isEmpty, "the caller must not see bob's 486\n\(bed.diagnostics(a, b, c))")
        let invite = try #require(c.receivedRequests("INVITE").first, "carol saw no INVITE\n\(bed.diagnostics(a, b, c))")
        #expect(headers("Diversion", in: invite).first?.contains("reason=user-busy") == true, "\(invite)")
        #expect(headers("History-Info", in: invite).joined().contains("cause=486"), "\(invite)")
        #expect(bed.proxy.logTail(400).contains("call alice -> bob: forwarded to carol (busy)"), "\(bed.proxy.logTail())")
        let record = try #require(await journalRecord(bed), "no journal record\n\(bed.proxy.logTail())")
        #expect(record.forwardedTo == "sip:carol@127.0.0.10")
        #expect(record.forwardReason == "user-busy")
        #expect(record.outcome == .completed)
        #expect(record.answeredFrom == carol.address)
    }

    @Test("forward on no answer: after 1 s the proxy CANCELs bob and rings carol")
    func onNoAnswer() async throws {
        let bed = try await TestBed("fwd-noanswer")
        defer { bed.shutdown() }
        let bob = phone("bob"), carol = phone("carol")
        try await bed.register(bob)
        try await bed.register(carol)
        try setRule(bed, ["bob", "--no-answer", "carol", "--after", "1"])
        let ringing = try await bed.startUAS("uas-ring-cancel.xml", as: bob)
        let (a, c) = try await callAnswered(bed, answerer: carol)
        let b = await ringing.wait()
        #expect(a.passed, "caller\n\(bed.diagnostics(a, b, c))")
        #expect(b.passed, "bob (rings, gets CANCEL)\n\(bed.diagnostics(a, b, c))")
        #expect(c.passed, "carol\n\(bed.diagnostics(a, b, c))")
        #expect(b.receivedRequests("CANCEL").count >= 1, "bob got no CANCEL\n\(bed.diagnostics(a, b, c))")
        #expect(a.receivedResponses(487).isEmpty, "the caller must not see bob's 487\n\(bed.diagnostics(a, b, c))")
        let invite = try #require(c.receivedRequests("INVITE").first, "carol saw no INVITE\n\(bed.diagnostics(a, b, c))")
        #expect(headers("Diversion", in: invite).first?.contains("reason=no-answer") == true, "\(invite)")
        let record = try #require(await journalRecord(bed), "no journal record\n\(bed.proxy.logTail())")
        #expect(record.forwardReason == "no-answer")
        #expect(record.forwardedTo == "sip:carol@127.0.0.10")
        #expect(record.outcome == .completed)
        #expect(record.answeredFrom == carol.address)
    }

    @Test("forward on unavailable: bob has no registration, carol answers")
    func onUnregistered() async throws {
        let bed = try await TestBed("fwd-unavailable")
        defer { bed.shutdown() }
        let carol = phone("carol")
        try await bed.register(carol)
        try setRule(bed, ["sip:bob@\(bed.proxy.hostPort)", "--unavailable", "sip:carol@\(bed.proxy.hostPort)"])
        let (a, c) = try await callAnswered(bed, answerer: carol)
        #expect(a.passed, "caller\n\(bed.diagnostics(a, c))")
        #expect(c.passed, "carol\n\(bed.diagnostics(a, c))")
        let invite = try #require(c.receivedRequests("INVITE").first, "carol saw no INVITE\n\(bed.diagnostics(a, c))")
        #expect(headers("Diversion", in: invite).first?.contains("reason=unavailable") == true, "\(invite)")
        let record = try #require(await journalRecord(bed), "no journal record\n\(bed.proxy.logTail())")
        #expect(record.forwardReason == "unavailable")
        #expect(record.forwardedTo == "sip:carol@127.0.0.10")
        #expect(record.outcome == .completed)
    }

    @Test("three-hop chain: bob always -> carol (unregistered) unavailable -> dave busy -> erin answers")
    func chain() async throws {
        let bed = try await TestBed("fwd-chain")
        defer { bed.shutdown() }
        let dave = phone("dave"), erin = phone("erin")
        try await bed.register(dave)
        try await bed.register(erin)
        try setRule(bed, ["bob", "--always", "carol"])
        try setRule(bed, ["carol", "--unavailable", "dave"])
        try setRule(bed, ["dave", "--busy", "erin"])
        let busy = try await bed.startUAS("uas-busy.xml", as: dave)
        let (a, e) = try await callAnswered(bed, answerer: erin)
        let d = await busy.wait()
        #expect(a.passed, "caller\n\(bed.diagnostics(a, d, e))")
        #expect(d.passed, "dave (busy)\n\(bed.diagnostics(a, d, e))")
        #expect(e.passed, "erin\n\(bed.diagnostics(a, d, e))")
        let daveInvite = try #require(d.receivedRequests("INVITE").first, "dave saw no INVITE\n\(bed.diagnostics(a, d, e))")
        #expect(headers("Diversion", in: daveInvite).count == 2, "dave's INVITE: two forwards\n\(daveInvite)")
        let invite = try #require(e.receivedRequests("INVITE").first, "erin saw no INVITE\n\(bed.diagnostics(a, d, e))")
        let diversion = headers("Diversion", in: invite)
        #expect(diversion.count == 3, "three Diversion entries\n\(invite)")
        #expect(diversion.first?.contains("sip:dave@") == true && diversion.first?.contains("user-busy") == true,
                "newest Diversion on top\n\(invite)")
        let history = headers("History-Info", in: invite).joined(separator: ",")
        #expect(history.contains("index=1.1.1.1;mp=1.1.1"), "History-Info of three forwards\n\(invite)")
        let record = try #require(await journalRecord(bed), "no journal record\n\(bed.proxy.logTail())")
        #expect(record.callee == "sip:bob@127.0.0.10")
        #expect(record.forwardedTo == "sip:erin@127.0.0.10")
        #expect(record.forwardReason == "user-busy")
        #expect(record.forwardChain == ["sip:carol@127.0.0.10", "sip:dave@127.0.0.10", "sip:erin@127.0.0.10"])
        #expect(record.outcome == .completed)
        #expect(record.answeredFrom == erin.address)
    }

    @Test("a forwarding loop (bob -> carol -> bob) is answered 482 Loop Detected")
    func loop() async throws {
        let bed = try await TestBed("fwd-loop")
        defer { bed.shutdown() }
        try setRule(bed, ["bob", "--always", "carol"])
        try setRule(bed, ["carol", "--always", "bob"])
        let a = try await bed.run("uac-expect-final.xml", as: phone("alice"), service: "bob", sets: ["code": "482"])
        #expect(a.passed, "caller should get 482\n\(bed.diagnostics(a))")
        #expect(bed.proxy.logTail(400).contains("forwarding loop"), "\(bed.proxy.logTail())")
        let record = try #require(await journalRecord(bed), "no journal record\n\(bed.proxy.logTail())")
        #expect(record.finalCode == 482)
        #expect(record.outcome == .failed)
    }

    @Test("a 302 from bob is followed to its Contact; with --no-follow-redirects it reaches the caller")
    func redirect() async throws {
        let bed = try await TestBed("fwd-302")
        defer { bed.shutdown() }
        let bob = phone("bob"), carol = phone("carol")
        try await bed.register(bob)
        let redirecting = try await bed.startUAS("uas-redirect.xml", as: bob,
                                                 keys: ["contact": "sip:carol@\(carol.address)"])
        let (a, c) = try await callAnswered(bed, answerer: carol)
        let b = await redirecting.wait()
        #expect(a.passed, "caller\n\(bed.diagnostics(a, b, c))")
        #expect(b.passed, "bob (302)\n\(bed.diagnostics(a, b, c))")
        #expect(c.passed, "carol\n\(bed.diagnostics(a, b, c))")
        #expect(a.receivedResponses(302).isEmpty, "a followed 302 must not reach the caller\n\(bed.diagnostics(a, b, c))")
        let invite = try #require(c.receivedRequests("INVITE").first, "carol saw no INVITE\n\(bed.diagnostics(a, b, c))")
        #expect(invite.hasPrefix("INVITE sip:carol@\(carol.address) "), "Request-URI is the 302's Contact\n\(invite)")
        #expect(headers("Diversion", in: invite).first?.contains("reason=deflection") == true, "\(invite)")
        let record = try #require(await journalRecord(bed), "no journal record\n\(bed.proxy.logTail())")
        #expect(record.forwardReason == "deflection")
        #expect(record.forwardedTo == "sip:carol@127.0.0.13")
        #expect(record.outcome == .completed)
        #expect(record.answeredFrom == carol.address)

        let relay = try await TestBed("fwd-302-relay", proxyArguments: ["--no-follow-redirects"])
        defer { relay.shutdown() }
        let bob2 = phone("bob")
        try await relay.register(bob2)
        let uas = try await relay.startUAS("uas-redirect.xml", as: bob2, keys: ["contact": "sip:carol@127.0.0.13:5999"])
        let a2 = try await relay.run("uac-expect-final.xml", as: phone("alice"), service: "bob", sets: ["code": "302"])
        let b2 = await uas.wait()
        #expect(a2.passed, "caller should get the 302\n\(relay.diagnostics(a2, b2))")
        #expect(b2.passed, "bob\n\(relay.diagnostics(a2, b2))")
    }

    @Test("sipctl forward set takes effect on the next call and survives a restart; clear removes it")
    func runtimeRulesPersist() async throws {
        let bed = try await TestBed("fwd-persist")
        defer { bed.shutdown() }
        let carol = phone("carol")
        try await bed.register(carol)
        try setRule(bed, ["bob", "--always", "carol", "--busy", "dave"])
        let shown = try sipctl(bed, ["forward", "show", "bob", "--json"])
        let infos = try JSONDecoder().decode([ForwardingInfo].self, from: Data(shown.output.utf8))
        #expect(infos == [ForwardingInfo(user: "bob", rule: ForwardingRule(always: "carol", busy: "dave"), source: "runtime")],
                "\(shown.output)")
        let (a, c) = try await callAnswered(bed, answerer: carol)
        #expect(a.passed && c.passed, "call before restart\n\(bed.diagnostics(a, c))")
        let saved = readText(bed.directory.appendingPathComponent("forwarding.json"))
        #expect(saved.contains("\"always\" : \"carol\""), "forwarding.json\n\(saved)")

        try await bed.restartProxy()
        let table = try sipctl(bed, ["forward", "show"])
        #expect(table.output.contains("bob") && table.output.contains("carol") && table.output.contains("runtime"),
                "\(table.output)")
        try await bed.register(carol)
        let (a2, c2) = try await callAnswered(bed, answerer: carol)
        #expect(a2.passed, "call after restart\n\(bed.diagnostics(a2, c2))")
        #expect(c2.passed, "carol after restart\n\(bed.diagnostics(a2, c2))")
        let record = try #require(await journalRecord(bed, count: 2), "no journal record\n\(bed.proxy.logTail())")
        #expect(record.forwardedTo == "sip:carol@127.0.0.10")
        #expect(record.forwardReason == "unconditional")

        let cleared = try sipctl(bed, ["forward", "clear", "bob"])
        #expect(cleared.status == 0, "\(cleared.output)")
        let a3 = try await bed.run("uac-expect-final.xml", as: phone("alice"), service: "bob", sets: ["code": "404"])
        #expect(a3.passed, "without rules an unknown bob is 404 again\n\(bed.diagnostics(a3))")
    }
}
