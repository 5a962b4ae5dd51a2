import Foundation
import SIPProxy
import Testing

/// The call journal as a user sees it: SIPp calls through `sipctl serve` leave exactly the expected records in
/// `calls.jsonl` (and lines in `calls.log`) in the proxy's working directory; a killed proxy's calls in progress
/// come back as `interrupted`; `sipctl calls` filters and formats what the run wrote.
@Suite("Call journal over SIPp", .serialized)
struct SIPpJournalTests {
    static let proxyHost = "127.0.0.10"
    var aliceAOR: String { "sip:alice@\(Self.proxyHost)" }
    var bobAOR: String { "sip:bob@\(Self.proxyHost)" }

    // MARK: Journal access

    static func journalURL(_ directory: URL) -> URL { directory.appendingPathComponent("calls.jsonl") }

    /// Every line of calls.jsonl decoded; a line that does not decode is a test failure (returned as an error).
    static func records(in directory: URL) throws -> [CallRecord] {
        let text = readText(journalURL(directory))
        var out: [CallRecord] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            do {
                out.append(try CallRecord.decode(jsonLine: String(line)))
            } catch {
                throw TestSupportError("calls.jsonl line \(index + 1) does not decode (\(error)):\n\(line)")
            }
        }
        return out
    }

    /// Waits (the journal thread writes at once, fsyncs within ~1 s) until calls.jsonl holds `count` records.
    static func waitForRecords(_ bed: TestBed, count: Int, timeout: Duration = .milliseconds(2_500)) async throws
        -> [CallRecord]
    {
        _ = await waitUntil(timeout: timeout) { ((try? records(in: bed.directory))?.count ?? 0) >= count }
        // A moment more: a record that should not be there (a duplicate) would come now.
        try await Task.sleep(for: .milliseconds(300))
        return try records(in: bed.directory)
    }

    static func journalDump(_ bed: TestBed) -> String {
        let dir = bed.directory
        return """
            --- calls.jsonl ---
            \(readText(journalURL(dir)))
            --- calls.inprogress.jsonl ---
            \(readText(dir.appendingPathComponent("calls.inprogress.jsonl")))
            --- calls.log ---
            \(readText(dir.appendingPathComponent("calls.log")))
            """
    }

    static func callID(_ result: SIPpResult) -> String? {
        result.sentRequests("INVITE").first.flatMap { headers("Call-ID", in: $0).first }
    }

    /// Registers bob, starts his UAS, runs alice's UAC; returns both results.
    private func call(
        _ bed: TestBed, caller: String, callee: String, bob: Phone? = nil, transport: SIPTransport = .udp,
        callerSets: [String: String] = [:], callerArgs: [String] = []
    ) async throws -> (alice: SIPpResult, bob: SIPpResult) {
        let bob = bob ?? Phone("bob", ip: "127.0.0.12", transport: transport)
        try await bed.register(bob)
        let uas = try await bed.startUAS(callee, as: bob)
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let a = try await bed.run(caller, as: alice, service: "bob", sets: callerSets, extraArguments: callerArgs)
        let b = await uas.wait()
        return (a, b)
    }

    /// The one record of the call `result` placed (and that it is the only record of the run).
    private func onlyRecord(_ bed: TestBed, _ results: SIPpResult...) async throws -> CallRecord {
        let records = try await Self.waitForRecords(bed, count: 1)
        let diag = "\(bed.diagnostics(results.first!))\n\(Self.journalDump(bed))"
        let id = try #require(Self.callID(results[0]), "caller sent no INVITE\n\(diag)")
        #expect(records.count == 1, "expected exactly one journal record, got \(records.count)\n\(diag)")
        return try #require(records.first { $0.callID == id }, "no record for Call-ID \(id)\n\(diag)")
    }

    // MARK: Answered calls

    @Test("answered call, the caller hangs up: completed, hungUpBy caller, talk time of the SIPp pause",
          arguments: SIPTransport.allCases)
    func answeredCallerHangsUp(transport: SIPTransport) async throws {
        let bed = try await TestBed("journal-bye-caller-\(transport)")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: transport)
        let (a, b) = try await call(bed, caller: "uac-call-hold.xml", callee: "uas-answer.xml", bob: bob,
                                    transport: transport, callerArgs: ["-d", "1500"])
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let r = try await onlyRecord(bed, a, b)
        let diag = "\(r)\n\(Self.journalDump(bed))"
        #expect(r.outcome == .completed, "\(diag)")
        #expect(r.state == "ended", "\(diag)")
        #expect(r.hungUpBy == .caller, "\(diag)")
        #expect(r.finalCode == 200 && r.finalReason == "OK", "\(diag)")
        #expect(r.caller == aliceAOR && r.callee == bobAOR, "\(diag)")
        #expect(r.answeredFrom == bob.address, "answeredFrom should be bob's address \(bob.address)\n\(diag)")
        #expect(r.answeringContact?.contains("bob@\(bob.address)") == true, "\(diag)")
        #expect(r.source?.hasPrefix("127.0.0.11:") == true, "\(diag)")
        let talk = try #require(r.talkSeconds, "\(diag)")
        #expect(talk >= 1.45 && talk < 2.5, "talkSeconds \(talk) for a 1.5 s pause\n\(diag)")
        let ring = try #require(r.ringSeconds, "\(diag)")
        #expect(ring >= 0 && ring < 1, "ringSeconds \(ring) for an immediate answer\n\(diag)")
        #expect(r.ringingAt != nil, "the 180 should set ringing\n\(diag)")
        if let answered = r.answeredAt, let ended = r.endedAt {
            #expect(r.inviteAt <= answered && answered <= ended, "\(diag)")
        } else {
            Issue.record("answer and end times missing\n\(diag)")
        }
        #expect(r.media.contains { $0.type == "audio" && $0.isActive && $0.codecs.contains("PCMU") }, "\(diag)")
        #expect(!r.videoAdded, "\(diag)")
        #expect(r.transferredTo == nil && r.transferredFrom == nil, "\(diag)")
        let log = readText(bed.directory.appendingPathComponent("calls.log"))
        #expect(log.contains("alice called bob") && log.contains("bob answered alice")
                && log.contains("(alice hung up)"), "calls.log\n\(log)")
    }

    @Test("answered call, the callee hangs up: completed, hungUpBy callee")
    func answeredCalleeHangsUp() async throws {
        let bed = try await TestBed("journal-bye-callee")
        defer { bed.shutdown() }
        let (a, b) = try await call(bed, caller: "uac-wait-bye.xml", callee: "uas-answer-then-bye.xml")
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let r = try await onlyRecord(bed, a, b)
        let diag = "\(r)\n\(Self.journalDump(bed))"
        #expect(r.outcome == .completed, "\(diag)")
        #expect(r.hungUpBy == .callee, "\(diag)")
        let talk = try #require(r.talkSeconds, "\(diag)")
        // uas-answer-then-bye pauses 300 ms after the ACK.
        #expect(talk >= 0.25 && talk < 1.3, "talkSeconds \(talk) for a 300 ms pause\n\(diag)")
        let log = readText(bed.directory.appendingPathComponent("calls.log"))
        #expect(log.contains("(bob hung up)"), "calls.log\n\(log)")
    }

    // MARK: Unanswered calls

    @Test("CANCEL while ringing: cancelled, 487, no talk time")
    func cancelled() async throws {
        let bed = try await TestBed("journal-cancel")
        defer { bed.shutdown() }
        let (a, b) = try await call(bed, caller: "uac-cancel.xml", callee: "uas-ring-cancel.xml")
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let r = try await onlyRecord(bed, a, b)
        let diag = "\(r)\n\(Self.journalDump(bed))"
        #expect(r.outcome == .cancelled, "\(diag)")
        #expect(r.finalCode == 487, "\(diag)")
        #expect(r.answeredAt == nil && r.talkSeconds == nil && r.hungUpBy == nil, "\(diag)")
        #expect(r.ringingAt != nil, "\(diag)")
        let ring = try #require(r.ringSeconds, "\(diag)")
        #expect(ring >= 0.15 && ring < 2, "ringSeconds \(ring) (uac-cancel cancels 200 ms after the 180)\n\(diag)")
    }

    @Test("the callee rejects: 603 declined, 486 busy",
          arguments: [("uas-decline.xml", 603, CallOutcome.declined), ("uas-busy.xml", 486, .busy)])
    func rejected(rejection: (callee: String, code: Int, outcome: CallOutcome)) async throws {
        let bed = try await TestBed("journal-\(rejection.code)")
        defer { bed.shutdown() }
        let (a, b) = try await call(bed, caller: "uac-expect-final.xml", callee: rejection.callee,
                                    callerSets: ["code": String(rejection.code)])
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let r = try await onlyRecord(bed, a, b)
        let diag = "\(r)\n\(Self.journalDump(bed))"
        #expect(r.outcome == rejection.outcome, "\(diag)")
        #expect(r.finalCode == rejection.code, "\(diag)")
        #expect(r.finalReason == (rejection.code == 486 ? "Busy Here" : "Decline"), "\(diag)")
        #expect(r.answeredAt == nil && r.talkSeconds == nil && r.hungUpBy == nil, "\(diag)")
    }

    @Test("unknown user: 404, unreachable")
    func unknownUser() async throws {
        let bed = try await TestBed("journal-404")
        defer { bed.shutdown() }
        let alice = Phone("alice", ip: "127.0.0.11")
        let a = try await bed.run("uac-expect-final.xml", as: alice, service: "nobody", sets: ["code": "404"])
        #expect(a.passed, "\(bed.diagnostics(a))")
        let r = try await onlyRecord(bed, a)
        let diag = "\(r)\n\(Self.journalDump(bed))"
        #expect(r.outcome == .unreachable, "\(diag)")
        #expect(r.finalCode == 404, "\(diag)")
        #expect(r.callee == "sip:nobody@\(Self.proxyHost)", "\(diag)")
        #expect(r.answeredFrom == nil && r.ringingAt == nil, "\(diag)")
    }

    @Test("unregistered user (binding removed): 480 made by the proxy, unreachable")
    func unregisteredUser() async throws {
        let bed = try await TestBed("journal-480")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let unreg = try await bed.run("register-remove.xml", as: bob)
        #expect(unreg.passed, "\(bed.diagnostics(unreg))")
        let alice = Phone("alice", ip: "127.0.0.11")
        let a = try await bed.run("uac-expect-final.xml", as: alice, service: "bob", sets: ["code": "480"])
        #expect(a.passed, "\(bed.diagnostics(a))")
        let r = try await onlyRecord(bed, a)
        let diag = "\(r)\n\(Self.journalDump(bed))"
        #expect(r.outcome == .unreachable, "\(diag)")
        #expect(r.finalCode == 480, "\(diag)")
    }

    @Test("a phone's own rejection: 480 no-answer, 404 unreachable, 500 failed, 503 (sent on as 500) failed, 600 busy",
          arguments: [
            (480, "Temporarily Unavailable", 480, CallOutcome.noAnswer),
            (404, "Not Found", 404, .unreachable),
            (500, "Server Internal Error", 500, .failed),
            (503, "Service Unavailable", 500, .failed),
            (600, "Busy Everywhere", 600, .busy),
          ])
    func phoneRejects(rejection: (code: Int, reason: String, callerGets: Int, outcome: CallOutcome)) async throws {
        let bed = try await TestBed("journal-phone-\(rejection.code)")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let scenario = try TestEnvironment.scenarioCopy(
            "uas-reject.xml", in: bed.directory, label: "reject-\(rejection.code)",
            replacing: [("SIP/2.0 480 Temporarily Unavailable", "SIP/2.0 \(rejection.code) \(rejection.reason)")])
        let uas = try await bed.startUAS(scenario, as: bob)
        let alice = Phone("alice", ip: "127.0.0.11")
        let a = try await bed.run("uac-expect-final.xml", as: alice, service: "bob",
                                  sets: ["code": String(rejection.callerGets)])
        let b = await uas.wait()
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let r = try await onlyRecord(bed, a, b)
        let diag = "\(r)\n\(Self.journalDump(bed))"
        #expect(r.outcome == rejection.outcome, "\(diag)")
        #expect(r.finalCode == rejection.callerGets, "finalCode is what the caller got\n\(diag)")
        #expect(r.ringingAt != nil && r.answeredAt == nil, "\(diag)")
    }

    @Test("--journal FILE writes there (and FILE.log); --no-journal writes nothing")
    func journalFlags() async throws {
        let bed = try await TestBed("journal-flags", proxyArguments: ["--journal", "custom.jsonl"])
        defer { bed.shutdown() }
        let alice = Phone("alice", ip: "127.0.0.11")
        let a = try await bed.run("uac-expect-final.xml", as: alice, service: "nobody", sets: ["code": "404"])
        #expect(a.passed, "\(bed.diagnostics(a))")
        let custom = bed.directory.appendingPathComponent("custom.jsonl")
        let written = await waitUntil(timeout: .seconds(3)) { readText(custom).contains(Self.callID(a) ?? "?") }
        #expect(written, "custom.jsonl lacks the call\n\(readText(custom))")
        #expect(!FileManager.default.fileExists(atPath: Self.journalURL(bed.directory).path), "calls.jsonl should not exist")
        #expect(readText(bed.directory.appendingPathComponent("custom.log")).contains("alice called nobody"),
                "custom.log")
        let calls = try await ToolRunner.sipctl(["calls", "--file", "custom.jsonl", "--json"], in: bed.directory)
        #expect((try? JSONDecoder().decode([CallRecord].self, from: Data(calls.stdout.utf8)))?.first?.outcome == .unreachable,
                "\(calls)")
        let missing = try await ToolRunner.sipctl(["calls"], in: bed.directory)
        #expect(!missing.succeeded && missing.stderr.contains("no call journal"), "\(missing)")

        let bed2 = try await TestBed("journal-none", proxyArguments: ["--no-journal"])
        defer { bed2.shutdown() }
        let a2 = try await bed2.run("uac-expect-final.xml", as: Phone("alice", ip: "127.0.0.11"), service: "nobody",
                                    sets: ["code": "404"])
        #expect(a2.passed, "\(bed2.diagnostics(a2))")
        try await Task.sleep(for: .milliseconds(1_200))
        let files = (try? FileManager.default.contentsOfDirectory(atPath: bed2.directory.path)) ?? []
        #expect(!files.contains { $0.hasPrefix("calls") }, "--no-journal wrote \(files)")
    }

    @Test("the callee's registered TCP contact refuses the connection: the caller gets 500, journaled as failed")
    func tcpContactRefused() async throws {
        let bed = try await TestBed("journal-refused")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: .tcp)
        try await bed.register(bob)  // SIPp exits: nothing listens on bob's contact any more
        let alice = Phone("alice", ip: "127.0.0.11", transport: .tcp)
        let a = try await bed.run("uac-expect-final.xml", as: alice, service: "bob", sets: ["code": "500"])
        #expect(a.passed, "\(bed.diagnostics(a))")
        let r = try await onlyRecord(bed, a)
        let diag = "\(r)\n\(Self.journalDump(bed))"
        #expect(r.finalCode == 500, "\(diag)")
        #expect(r.outcome == .failed, "\(diag)")
    }

    // MARK: Several branches, several calls

    @Test("forked call: two contacts ring, one answers: ONE record with the answering contact")
    func forkedAnswer() async throws {
        let bed = try await TestBed("journal-fork")
        defer { bed.shutdown() }
        let desk = Phone("bob", ip: "127.0.0.12")
        let mobile = Phone("bob", ip: "127.0.0.14")
        try await bed.register(desk)
        try await bed.register(mobile)
        let answering = try await bed.startUAS("uas-answer-slow.xml", as: desk)
        let ringing = try await bed.startUAS("uas-ring-cancel.xml", as: mobile)
        let alice = Phone("alice", ip: "127.0.0.11")
        let a = try await bed.run("uac-call-bye.xml", as: alice, service: "bob")
        let d = await answering.wait()
        let m = await ringing.wait()
        #expect(a.passed && d.passed && m.passed, "\(bed.diagnostics(a, d, m))")
        let r = try await onlyRecord(bed, a, d, m)
        let diag = "\(r)\n\(Self.journalDump(bed))"
        #expect(r.outcome == .completed, "\(diag)")
        #expect(r.answeredFrom == desk.address, "answeredFrom should be the desk phone \(desk.address)\n\(diag)")
        #expect(r.answeringContact?.contains(desk.address) == true, "\(diag)")
        #expect(r.answeringContact?.contains(mobile.address) != true, "\(diag)")
        let ring = try #require(r.ringSeconds, "\(diag)")
        #expect(ring >= 0.45 && ring < 1.5, "ringSeconds \(ring): the desk answers 500 ms after its 180\n\(diag)")
    }

    @Test("two concurrent calls between the same users: two records")
    func twoConcurrentCalls() async throws {
        let bed = try await TestBed("journal-two")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer.xml", as: bob, calls: 2)
        let alice = Phone("alice", ip: "127.0.0.11")
        // Two calls 100 ms apart, each 1 s long: they overlap.
        let a = try await bed.run("uac-call-hold.xml", as: alice, service: "bob", calls: 2,
                                  extraArguments: ["-d", "1000", "-r", "10", "-l", "2"])
        let b = await uas.wait()
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let records = try await Self.waitForRecords(bed, count: 2)
        let diag = Self.journalDump(bed)
        try #require(records.count == 2, "expected two records\n\(diag)")
        #expect(Set(records.map(\.callID)).count == 2, "two distinct Call-IDs\n\(diag)")
        #expect(Set(records.map(\.callID)) == Set(a.sentRequests("INVITE").flatMap { headers("Call-ID", in: $0) }),
                "the records are the caller's two calls\n\(diag)")
        for r in records {
            #expect(r.outcome == .completed && r.hungUpBy == .caller, "\(diag)")
            #expect(r.caller == aliceAOR && r.callee == bobAOR, "\(diag)")
            #expect((r.talkSeconds ?? 0) >= 0.95, "\(diag)")
        }
        let sorted = records.sorted { $0.inviteAt < $1.inviteAt }
        if let firstEnd = sorted[0].endedAt {
            #expect(sorted[1].inviteAt < firstEnd, "the calls should overlap\n\(diag)")
        }
        // Both calls in one ladder from the proxy's trace, each arrow marked by its call.
        let ladder = try await Self.userLadder(bed, "alice") { $0.components(separatedBy: "· completed").count == 3 }
        #expect(ladder.contains("[1] alice → bob · completed") && ladder.contains("[2] alice → bob · completed"), "\(ladder)")
        #expect(ladder.contains("[1] BYE") && ladder.contains("[2] BYE") && !ladder.contains("REGISTER"), "\(ladder)")
    }

    /// `sipctl trace ladder --user USER` from the bed's recordings, once `ready` says the trace holds what the test
    /// needs (records reach the disk within a second).
    static func userLadder(_ bed: TestBed, _ user: String, ready: (String) -> Bool) async throws -> String {
        var last = ""
        for _ in 0..<30 {
            let r = try await sipctl(["trace", "ladder", "--user", user, "--ascii", "--no-color", "--width", "160"],
                                     cwd: bed.directory)
            last = "\(r)"
            if r.succeeded, ready(r.stdout) {
                #expect(r.stdout.split(separator: "\n").allSatisfy { $0.count <= 160 }, "every line within --width\n\(r)")
                return r.stdout
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("the trace never held what the test needs\n\(last)")
        return last
    }

    @Test("transfer (REFER): the first call names the target, the transferee's new call links back")
    func transfer() async throws {
        let bed = try await TestBed("journal-refer")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        let carol = Phone("carol", ip: "127.0.0.13")
        try await bed.register(bob)
        try await bed.register(carol)
        let target = "sip:carol@\(bed.proxy.hostPort)"
        let transferor = try await bed.startUAS("refer-transferor.xml", as: bob, keys: ["referto": target])
        let alice = Phone("alice", ip: "127.0.0.11")
        let a = try await bed.run("refer-transferee.xml", as: alice, service: "bob")
        let b = await transferor.wait()
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let callee = try await bed.startUAS("uas-answer.xml", as: carol)
        let alice2 = Phone("alice", ip: "127.0.0.11")
        let a2 = try await bed.run("uac-call-bye.xml", as: alice2, service: "carol")
        let c = await callee.wait()
        #expect(a2.passed && c.passed, "\(bed.diagnostics(a2, c))")
        let records = try await Self.waitForRecords(bed, count: 2)
        let diag = Self.journalDump(bed)
        try #require(records.count == 2, "expected two records\n\(diag)")
        let first = try #require(records.first { $0.callID == Self.callID(a) }, "\(diag)")
        let second = try #require(records.first { $0.callID == Self.callID(a2) }, "\(diag)")
        #expect(first.transferredTo == target, "transferredTo\n\(diag)")
        #expect(first.outcome == .completed && first.hungUpBy == .callee, "\(diag)")
        #expect(second.transferredFrom == first.callID, "transferredFrom should be the REFER call's Call-ID\n\(diag)")
        #expect(second.callee == "sip:carol@\(Self.proxyHost)" && second.outcome == .completed, "\(diag)")
        // The transfer as one picture: the call with bob, his REFER and its NOTIFYs, and alice's new call to carol.
        let ladder = try await Self.userLadder(bed, "alice") { $0.components(separatedBy: "· completed").count == 3 }
        #expect(ladder.contains("[1] alice → bob") && ladder.contains("[2] alice → carol"), "\(ladder)")
        #expect(ladder.contains("[1] REFER (Refer-To: carol)") && ladder.contains("[1] NOTIFY (Event: refer"), "\(ladder)")
        let refer = ladder.range(of: "[1] REFER")
        let newCall = ladder.range(of: "[2] INVITE")
        #expect(refer != nil && newCall != nil && refer!.lowerBound < newCall!.lowerBound, "\(ladder)")
    }

    @Test("re-INVITE adding video: videoAdded, media lists video")
    func videoReinvite() async throws {
        let bed = try await TestBed("journal-video")
        defer { bed.shutdown() }
        let (a, b) = try await call(bed, caller: "uac-reinvite-video.xml", callee: "uas-answer-reinvite.xml")
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let r = try await onlyRecord(bed, a, b)
        let diag = "\(r)\n\(Self.journalDump(bed))"
        #expect(r.outcome == .completed, "\(diag)")
        #expect(r.videoAdded, "\(diag)")
        #expect(r.media.contains { $0.type == "video" && $0.isActive }, "media should list video\n\(diag)")
        #expect(r.media.contains { $0.type == "audio" && $0.isActive }, "\(diag)")
        let log = readText(bed.directory.appendingPathComponent("calls.log"))
        #expect(log.contains("video added"), "calls.log\n\(log)")
    }

    // MARK: Crash and restart

    @Test("kill -9 during an answered call, restart in the same directory: journal intact, the call interrupted")
    func killDuringCall() async throws {
        let bed = try await TestBed("journal-kill9")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        // One finished call first: its line must survive the crash.
        let (a0, b0) = try await call(bed, caller: "uac-call-bye.xml", callee: "uas-answer.xml", bob: bob)
        #expect(a0.passed && b0.passed, "\(bed.diagnostics(a0, b0))")
        let before = try await Self.waitForRecords(bed, count: 1)
        try #require(before.count == 1, "\(Self.journalDump(bed))")

        let tag = "k\(UInt32.random(in: 0..<UInt32.max))"
        let uas = try await bed.startUAS("uas-answer.xml", as: bob, timeout: 60)
        let alice = Phone("alice", ip: "127.0.0.11")
        let caller = try bed.start("uac-call-hold.xml", as: alice, client: true, service: "bob", timeout: 60,
                                   extraArguments: ["-d", "30000", "-cid_str", "kill9-\(tag)-%u@\(alice.ip)"])
        let snapshot = bed.directory.appendingPathComponent("calls.inprogress.jsonl")
        let answered = await waitUntil(timeout: .seconds(5)) {
            readText(snapshot).split(separator: "\n").contains { $0.contains("kill9-\(tag)") && $0.contains("\"state\":\"answered\"") }
        }
        #expect(answered, "the snapshot never showed the call answered\n\(Self.journalDump(bed))\n\(bed.proxy.logTail())")

        // The call stays up a while: the interrupted record should know it lasted until (about) the crash.
        try await Task.sleep(for: .seconds(3))
        let crashedAt = WallClock.now()
        bed.proxy.crash()
        #expect(!bed.proxy.isRunning, "sipctl serve survived SIGKILL")
        caller.stop()
        uas.stop()
        let afterCrash = try Self.records(in: bed.directory)  // every line parses
        #expect(afterCrash == before, "the journal changed in the crash\n\(Self.journalDump(bed))")

        let restarted = try await ProxyProcess.start(label: "journal-kill9-2", restarting: bed.proxy)
        defer { restarted.stop() }
        let after = try await Self.waitForRecords(bed, count: 2)
        let diag = "\(Self.journalDump(bed))\n\(restarted.logTail())"
        #expect(after.count == 2, "expected the old record plus one interrupted call\n\(diag)")
        #expect(after.first == before.first, "the earlier record must be unchanged\n\(diag)")
        let interrupted = try #require(after.first { $0.callID.hasPrefix("kill9-\(tag)") }, "\(diag)")
        #expect(interrupted.outcome == .interrupted, "\(diag)")
        #expect(interrupted.state == "ended", "\(diag)")
        #expect(interrupted.answeredAt != nil, "it was answered before the crash\n\(diag)")
        if let answeredAt = interrupted.answeredAt, let endedAt = interrupted.endedAt {
            #expect(endedAt >= answeredAt, "\(diag)")
            #expect(endedAt.seconds(since: crashedAt) > -1.5,
                    "the call was up until the crash \(crashedAt.microseconds), but the record ends \(-endedAt.seconds(since: crashedAt)) s earlier\n\(diag)")
        }
        #expect((interrupted.talkSeconds ?? 0) >= 2.5,
                "talkSeconds \(interrupted.talkSeconds ?? -1): the call had been answered > 3 s before the crash\n\(diag)")
        #expect(interrupted.hungUpBy == nil, "\(diag)")
        #expect(readText(snapshot).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
                "the snapshot should be empty after recovery\n\(diag)")
        #expect(readText(restarted.stderrURL).contains("interrupted by the previous run"), "\(diag)")
        let log = readText(bed.directory.appendingPathComponent("calls.log"))
        #expect(log.contains("interrupted after"), "calls.log\n\(log)")

        // A clean restart afterwards recovers nothing twice.
        #expect(restarted.stop() == 0, "\(restarted.logTail())")
        let third = try await ProxyProcess.start(label: "journal-kill9-3", restarting: bed.proxy)
        defer { third.stop() }
        let final = try await Self.waitForRecords(bed, count: 2, timeout: .milliseconds(500))
        #expect(final == after, "a clean restart must not add records\n\(Self.journalDump(bed))")
    }

    @Test("kill -9 right after a call ended (snapshot not yet rewritten): no interrupted duplicate")
    func killRightAfterEnd() async throws {
        let bed = try await TestBed("journal-kill9-end")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer.xml", as: bob)
        let alice = Phone("alice", ip: "127.0.0.11")
        let caller = try bed.start("uac-call-bye.xml", as: alice, client: true, service: "bob")
        // Crash as soon as the caller has its 200 for BYE and the record is on disk, before the 1 s snapshot
        // interval passes. (Crashing on the journal line alone races the proxy's relay of that 200: the tracker
        // ends the call when the callee's 200 arrives, before the proxy forwards it.)
        let a = await caller.wait()
        let ended = await waitUntil(timeout: .seconds(5), interval: .milliseconds(5)) {
            readText(Self.journalURL(bed.directory)).contains("\"outcome\":\"completed\"")
        }
        bed.proxy.crash()
        #expect(ended, "the call never reached the journal\n\(Self.journalDump(bed))")
        let b = await uas.wait()
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let snapshotBefore = readText(bed.directory.appendingPathComponent("calls.inprogress.jsonl"))
        let restarted = try await ProxyProcess.start(label: "journal-kill9-end-2", restarting: bed.proxy)
        defer { restarted.stop() }
        let records = try await Self.waitForRecords(bed, count: 2, timeout: .milliseconds(800))
        #expect(records.count == 1 && records.first?.outcome == .completed,
                "one completed record, no interrupted copy (snapshot at the crash: \(snapshotBefore.isEmpty ? "empty" : snapshotBefore))\n\(Self.journalDump(bed))")
    }

    @Test("kill -9 while a call rings: interrupted, never answered")
    func killWhileRinging() async throws {
        let bed = try await TestBed("journal-kill9-ring")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        // bob rings and waits for a CANCEL that never comes; alice waits for an answer.
        let uas = try await bed.startUAS("uas-ring-cancel.xml", as: bob, timeout: 30)
        let alice = Phone("alice", ip: "127.0.0.11")
        let caller = try bed.start("uac-call-hold.xml", as: alice, client: true, service: "bob", timeout: 30)
        let snapshot = bed.directory.appendingPathComponent("calls.inprogress.jsonl")
        let ringing = await waitUntil(timeout: .seconds(5)) { readText(snapshot).contains("\"state\":\"ringing\"") }
        #expect(ringing, "the snapshot never showed the call ringing\n\(Self.journalDump(bed))")
        let live = try await ToolRunner.sipctl(["calls", "--live", "--duration", "1"], in: bed.directory, timeout: 10)
        #expect(live.succeeded && live.stdout.contains("ringing") && live.stdout.contains("alice@\(Self.proxyHost)"),
                "--live should show the ringing call\n\(live)")
        bed.proxy.crash()
        caller.stop()
        uas.stop()
        let restarted = try await ProxyProcess.start(label: "journal-kill9-ring-2", restarting: bed.proxy)
        defer { restarted.stop() }
        let records = try await Self.waitForRecords(bed, count: 1)
        let diag = Self.journalDump(bed)
        #expect(records.count == 1, "\(diag)")
        let r = try #require(records.first, "\(diag)")
        #expect(r.outcome == .interrupted && r.answeredAt == nil && r.ringingAt != nil && r.talkSeconds == nil, "\(diag)")
    }

    @Test("graceful stop (SIGTERM) with a call in progress: the call is journaled as interrupted at once, once")
    func gracefulStopDuringCall() async throws {
        let bed = try await TestBed("journal-term")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer.xml", as: bob, timeout: 30)
        let alice = Phone("alice", ip: "127.0.0.11")
        let caller = try bed.start("uac-call-hold.xml", as: alice, client: true, service: "bob", timeout: 30,
                                   extraArguments: ["-d", "20000"])
        let inCall = await waitUntil(timeout: .seconds(5)) { readText(caller.messageURL).contains("ACK sip:") }
        #expect(inCall, "alice's call was not answered")
        try await Task.sleep(for: .milliseconds(200))
        #expect(bed.proxy.stop(grace: 5) == 0, "\(bed.proxy.logTail())")
        caller.stop()
        uas.stop()
        // A clean shutdown ends the call itself: the record is there without waiting for a restart.
        let afterStop = try Self.records(in: bed.directory)
        #expect(afterStop.count == 1 && afterStop.first?.outcome == .interrupted, "\(Self.journalDump(bed))")
        #expect(afterStop.first?.answeredAt != nil, "\(Self.journalDump(bed))")
        // The restart's recovery must not journal it a second time.
        let restarted = try await ProxyProcess.start(label: "journal-term-2", restarting: bed.proxy)
        defer { restarted.stop() }
        try await Task.sleep(for: .milliseconds(1500))
        let records = try Self.records(in: bed.directory)
        #expect(records.count == 1, "\(Self.journalDump(bed))")
    }

    @Test("a line half-written by a crash: sipctl calls warns and lists the rest; the next run starts a new line")
    func halfWrittenLine() async throws {
        let bed = try await TestBed("journal-torn")
        defer { bed.shutdown() }
        let alice = Phone("alice", ip: "127.0.0.11")
        let a1 = try await bed.run("uac-expect-final.xml", as: alice, service: "nobody", sets: ["code": "404"])
        #expect(a1.passed, "\(bed.diagnostics(a1))")
        let first = try await Self.waitForRecords(bed, count: 1)
        try #require(first.count == 1, "\(Self.journalDump(bed))")
        bed.proxy.crash()
        // What a crash in the middle of a write leaves: a line without its end.
        let handle = try FileHandle(forWritingTo: Self.journalURL(bed.directory))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"callID":"torn@x","caller":"sip:alice@127.0.0.10","cal"#.utf8))
        try handle.close()
        let restarted = try await ProxyProcess.start(label: "journal-torn-2", restarting: bed.proxy)
        defer { restarted.stop() }
        let a2 = try await bed.run("uac-expect-final.xml", as: Phone("alice", ip: "127.0.0.11"), service: "nobody",
                                   sets: ["code": "404"])
        #expect(a2.passed, "\(bed.diagnostics(a2))")
        let appended = await waitUntil(timeout: .seconds(3)) {
            readText(Self.journalURL(bed.directory)).contains(Self.callID(a2) ?? "?")
        }
        #expect(appended, "\(Self.journalDump(bed))")
        let lines = readText(Self.journalURL(bed.directory)).split(separator: "\n")
        #expect(lines.count == 3, "good, torn, good\n\(Self.journalDump(bed))")
        #expect(lines.last.flatMap { try? CallRecord.decode(jsonLine: String($0)) }?.callID == Self.callID(a2),
                "the new record must start on its own line\n\(Self.journalDump(bed))")
        let run = try await ToolRunner.sipctl(["calls", "--json"], in: bed.directory)
        #expect(run.succeeded, "\(run)")
        let listed = (try? JSONDecoder().decode([CallRecord].self, from: Data(run.stdout.utf8))) ?? []
        #expect(listed.map(\.callID) == [Self.callID(a1), Self.callID(a2)].compactMap { $0 }, "\(run)")
        #expect(run.stderr.contains("warning:"), "the torn line should be reported\n\(run)")
    }

    @Test("sipctl calls --live without a running proxy fails with a message")
    func liveWithoutProxy() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("journal-live-none")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try await ToolRunner.sipctl(["calls", "--live", "--duration", "1"], in: dir, timeout: 10)
        #expect(!run.timedOut && !run.succeeded && !run.stderr.isEmpty, "\(run)")
    }

    // MARK: sipctl calls

    @Test("sipctl calls: --user, --outcome, --limit filters; --json, --csv, table and summary")
    func sipctlCalls() async throws {
        let bed = try await TestBed("journal-sipctl")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        // 1: alice -> bob completed
        var uas = try await bed.startUAS("uas-answer.xml", as: bob)
        let a1 = try await bed.run("uac-call-bye.xml", as: Phone("alice", ip: "127.0.0.11"), service: "bob")
        var b = await uas.wait()
        #expect(a1.passed && b.passed, "\(bed.diagnostics(a1, b))")
        // 2: alice -> bob busy
        uas = try await bed.startUAS("uas-busy.xml", as: bob)
        let a2 = try await bed.run("uac-expect-final.xml", as: Phone("alice", ip: "127.0.0.11"), service: "bob",
                                   sets: ["code": "486"])
        b = await uas.wait()
        #expect(a2.passed && b.passed, "\(bed.diagnostics(a2, b))")
        // 3: carol -> bob declined
        uas = try await bed.startUAS("uas-decline.xml", as: bob)
        let c3 = try await bed.run("uac-expect-final.xml", as: Phone("carol", ip: "127.0.0.13"), service: "bob",
                                   sets: ["code": "603"])
        b = await uas.wait()
        #expect(c3.passed && b.passed, "\(bed.diagnostics(c3, b))")
        // 4: alice -> nobody unreachable
        let a4 = try await bed.run("uac-expect-final.xml", as: Phone("alice", ip: "127.0.0.11"), service: "nobody",
                                   sets: ["code": "404"])
        #expect(a4.passed, "\(bed.diagnostics(a4))")
        let records = try await Self.waitForRecords(bed, count: 4)
        try #require(records.count == 4, "\(Self.journalDump(bed))")
        let ids = [a1, a2, c3, a4].map { Self.callID($0) ?? "?" }
        #expect(records.map(\.callID) == ids, "journal order\n\(Self.journalDump(bed))")

        func json(_ args: [String]) async throws -> (ToolRun, [CallRecord]) {
            let run = try await ToolRunner.sipctl(["calls", "--json"] + args, in: bed.directory)
            #expect(run.succeeded, "\(run)")
            let decoded = (try? JSONDecoder().decode([CallRecord].self, from: Data(run.stdout.utf8))) ?? []
            #expect(!run.stdout.isEmpty, "\(run)")
            return (run, decoded)
        }
        let (all, allRecords) = try await json([])
        #expect(allRecords == records, "--json should decode to the journal's records\n\(all)")
        let (carol, carolRecords) = try await json(["--user", "carol"])
        #expect(carolRecords.map(\.callID) == [ids[2]], "--user carol\n\(carol)")
        let (bobRun, bobRecords) = try await json(["--user", "bob"])
        #expect(bobRecords.map(\.callID) == Array(ids[0...2]), "--user bob (caller or callee)\n\(bobRun)")
        let (byAOR, byAORRecords) = try await json(["--user", "sip:carol@\(Self.proxyHost)"])
        #expect(byAORRecords.map(\.callID) == [ids[2]], "--user AOR\n\(byAOR)")
        let (busy, busyRecords) = try await json(["--outcome", "busy"])
        #expect(busyRecords.map(\.callID) == [ids[1]], "--outcome busy\n\(busy)")
        let (two, twoRecords) = try await json(["--outcome", "busy,declined"])
        #expect(twoRecords.map(\.callID) == [ids[1], ids[2]], "--outcome busy,declined\n\(two)")
        let (limit, limitRecords) = try await json(["--limit", "2"])
        #expect(limitRecords.map(\.callID) == [ids[2], ids[3]], "--limit 2: the two most recent\n\(limit)")
        let (combo, comboRecords) = try await json(["--user", "alice", "--limit", "1"])
        #expect(comboRecords.map(\.callID) == [ids[3]], "--user alice --limit 1\n\(combo)")

        let csv = try await ToolRunner.sipctl(["calls", "--csv"], in: bed.directory)
        #expect(csv.succeeded, "\(csv)")
        let rows = csv.lines
        #expect(rows.first == "invite,caller,callee,outcome,code,reason,ring_s,talk_s,hung_up_by,call_id,source,"
                + "answered_from,transferred_to,transferred_from", "CSV header\n\(csv)")
        #expect(rows.count == 5, "header + 4 rows\n\(csv)")
        if rows.count == 5 {
            for (row, id) in zip(rows.dropFirst(), ids) { #expect(row.contains(",\(id),"), "row for \(id)\n\(csv)") }
            #expect(rows[1].contains(",sip:alice@\(Self.proxyHost),sip:bob@\(Self.proxyHost),completed,200,OK,"), "\(csv)")
            #expect(rows[2].contains(",busy,486,Busy Here,"), "\(csv)")
            #expect(rows[3].contains(",sip:carol@\(Self.proxyHost),sip:bob@\(Self.proxyHost),declined,603,Decline,"), "\(csv)")
            #expect(rows[4].contains(",unreachable,404,Not Found,"), "\(csv)")
        }

        let table = try await ToolRunner.sipctl(["calls"], in: bed.directory)
        #expect(table.succeeded, "\(table)")
        let lines = table.lines
        #expect(lines.first.map { l in ["TIME", "CALLER", "CALLEE", "OUTCOME", "CODE"].allSatisfy { l.contains($0) } } == true,
                "table header\n\(table)")
        #expect(lines.filter { $0.contains("alice@\(Self.proxyHost)") || $0.contains("carol@\(Self.proxyHost)") }.count == 4,
                "four call rows\n\(table)")
        #expect(lines.last == "4 calls: 1 completed, 1 declined, 1 busy, 1 unreachable; talk time 0:00:00",
                "summary line\n\(table)")
        let busyTable = try await ToolRunner.sipctl(["calls", "--outcome", "busy"], in: bed.directory)
        #expect(busyTable.lines.last == "1 call: 1 busy; talk time 0:00:00", "\(busyTable)")

        let (since, sinceRecords) = try await json(["--since", "10m"])
        #expect(sinceRecords.count == 4, "--since 10m\n\(since)")
        let old = try await ToolRunner.sipctl(["calls", "--until", "10m"], in: bed.directory)
        #expect(old.succeeded && old.lines == ["no calls"], "--until 10m (ten minutes ago)\n\(old)")
        let none = try await ToolRunner.sipctl(["calls", "--user", "dave"], in: bed.directory)
        #expect(none.succeeded && none.lines == ["no calls"], "\(none)")
        let bad = try await ToolRunner.sipctl(["calls", "--outcome", "hungup"], in: bed.directory)
        #expect(!bad.succeeded && bad.stderr.contains("unknown outcome"), "\(bad)")
        let file = try await ToolRunner.sipctl(["calls", "--json", "--file", Self.journalURL(bed.directory).path],
                                              in: FileManager.default.temporaryDirectory)
        #expect((try? JSONDecoder().decode([CallRecord].self, from: Data(file.stdout.utf8)))?.count == 4, "--file\n\(file)")
    }

    @Test("sipctl calls --live --duration 2 shows the call in progress")
    func live() async throws {
        let bed = try await TestBed("journal-live")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer.xml", as: bob, timeout: 30)
        let alice = Phone("alice", ip: "127.0.0.11")
        let caller = try bed.start("uac-call-hold.xml", as: alice, client: true, service: "bob", timeout: 30,
                                   extraArguments: ["-d", "7000"])
        let inCall = await waitUntil(timeout: .seconds(5)) { readText(caller.messageURL).contains("ACK sip:") }
        #expect(inCall, "alice's call was not answered")
        let live = try await ToolRunner.sipctl(["calls", "--live", "--duration", "2"], in: bed.directory, timeout: 10)
        #expect(live.succeeded, "\(live)\n\(bed.proxy.logTail())")
        #expect(live.stdout.contains("alice@\(Self.proxyHost)") && live.stdout.contains("bob@\(Self.proxyHost)"),
                "the call in progress should be listed\n\(live)")
        #expect(live.stdout.contains("answered"), "its state should be answered\n\(live)")
        // Ring and talk time so far, not '-': the row of the answered call has two numbers before its Call-ID.
        let row = live.stdout.split(separator: "\n").first { $0.contains("answered") }.map(String.init) ?? ""
        let fields = row.split(separator: " ", omittingEmptySubsequences: true)
        #expect(fields.count >= 9 && Double(fields[fields.count - 4]) != nil && Double(fields[fields.count - 3]) != nil,
                "ring and talk seconds of a call in progress\n\(live)")
        #expect(!live.stdout.contains("no calls in progress"), "\(live)")
        let json = try await ToolRunner.sipctl(["calls", "--live", "--json", "--duration", "1"], in: bed.directory,
                                               timeout: 10)
        let calls = try? JSONDecoder().decode([CallRecord].self, from: Data(json.stdout.utf8))
        #expect(calls?.count == 1 && calls?.first?.state == "answered" && calls?.first?.caller == aliceAOR,
                "--live --json\n\(json)")
        let other = try await ToolRunner.sipctl(["calls", "--live", "--json", "--duration", "1", "--user", "carol"],
                                                in: bed.directory, timeout: 10)
        #expect(other.succeeded && other.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]",
                "--live --user carol: not carol's call\n\(other)")
        let a = await caller.wait()
        let b = await uas.wait()
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        // Once it ended, --live shows nothing in progress and the journal has it.
        let after = try await ToolRunner.sipctl(["calls", "--live", "--duration", "1"], in: bed.directory, timeout: 10)
        #expect(after.stdout.contains("no calls in progress"), "\(after)")
        let records = try await Self.waitForRecords(bed, count: 1)
        #expect(records.count == 1 && records.first?.outcome == .completed, "\(Self.journalDump(bed))")
    }
}
