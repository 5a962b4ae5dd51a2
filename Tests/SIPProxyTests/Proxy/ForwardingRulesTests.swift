// Call forwarding: rule parsing, the state file, chain planning and the Diversion / History-Info values.

import Foundation
import Testing

@testable import SIPProxy

@Suite struct ForwardingRulesTests {
    static let proxyHost = "127.0.0.10"
    let isLocal: (SIPURI) -> Bool = { $0.host == ForwardingRulesTests.proxyHost }

    func planner(_ rules: [String: ForwardingRule], registered: Set<String>, limit: Int = 5) -> ForwardingPlanner {
        ForwardingPlanner(rules: rules, hopLimit: limit, isLocal: self.isLocal, isRegistered: { registered.contains($0) })
    }

    // MARK: Parsing

    @Test func destinations() {
        #expect(ForwardingDestination.parse("carol", isLocal: isLocal) == .user("carol"))
        #expect(ForwardingDestination.parse("sip:carol@127.0.0.10:5070", isLocal: isLocal) == .user("carol"))
        #expect(ForwardingDestination.parse("carol@127.0.0.10", isLocal: isLocal) == .user("carol"))
        #expect(ForwardingDestination.parse("sip:desk@127.0.0.13:5060", isLocal: isLocal)
            == .uri(SIPURI.parse("sip:desk@127.0.0.13:5060")!))
        #expect(ForwardingDestination.parse("<sip:desk@127.0.0.13>", isLocal: isLocal)
            == .uri(SIPURI.parse("sip:desk@127.0.0.13")!))
        #expect(ForwardingDestination.parse("", isLocal: isLocal) == nil)
        #expect(ForwardingDestination.parse("two words", isLocal: isLocal) == nil)
        #expect(ForwardingDestination.parse("tel:+4321", isLocal: isLocal) == nil)
        #expect(ForwardingUsers.key("sip:bob@127.0.0.10:5060") == "bob")
        #expect(ForwardingUsers.key("bob") == "bob")
        #expect(ForwardingUsers.key("sip:127.0.0.10") == nil)
    }

    @Test func yamlSection() throws {
        let yaml = """
            listen: [127.0.0.10:5060]
            forwarding:
              bob:
                always: carol
              sip:carol@127.0.0.10:
                busy: sip:desk@127.0.0.13:5060
                no_answer: dave
                no_answer_after: 7
                unavailable: dave
            """
        let rules = try ForwardingConfig.parse(yaml: yaml, name: "test.yaml")
        #expect(rules["bob"] == ForwardingRule(always: "carol"))
        #expect(rules["carol"] == ForwardingRule(busy: "sip:desk@127.0.0.13:5060", noAnswer: "dave", noAnswerAfter: 7, unavailable: "dave"))
        #expect(rules["carol"]?.noAnswerSeconds == 7)
        #expect(try ForwardingConfig.parse(yaml: "listen: []\n", name: "x").isEmpty)
    }

    @Test func yamlErrors() {
        #expect(throws: ForwardingError.self) {
            try ForwardingConfig.parse(yaml: "forwarding:\n  bob:\n    sometimes: carol\n", name: "x")
        }
        #expect(throws: ForwardingError.self) {
            try ForwardingConfig.parse(yaml: "forwarding:\n  bob:\n    busy: 'not a uri'\n", name: "x")
        }
        #expect(throws: ForwardingError.self) {
            try ForwardingConfig.parse(yaml: "forwarding:\n  bob:\n    no_answer: carol\n    no_answer_after: 0\n", name: "x")
        }
        #expect(throws: ForwardingError.self) {
            try ForwardingConfig.parse(yaml: "forwarding: [bob]\n", name: "x")
        }
    }

    // MARK: Table and persistence

    @Test func setMergesAndClearOverridesConfig() {
        var table = ForwardingTable(base: ["bob": ForwardingRule(busy: "carol")])
        table.set("bob", ForwardingRule(noAnswer: "dave", noAnswerAfter: 5))
        #expect(table.rule(for: "bob") == ForwardingRule(busy: "carol", noAnswer: "dave", noAnswerAfter: 5))
        table.set("bob", ForwardingRule(busy: ""))
        #expect(table.rule(for: "bob") == ForwardingRule(noAnswer: "dave", noAnswerAfter: 5))
        table.clear("bob")
        #expect(table.rule(for: "bob") == nil)
        #expect(table.overrides["bob"] == ForwardingRule(), "a configured user stays cleared across restarts")
        table.set("erin", ForwardingRule(always: "bob"))
        table.clear("erin")
        #expect(table.overrides["erin"] == nil)
        #expect(table.rules.keys.sorted() == [])
    }

    @Test func stateFileRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fwd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("forwarding.json").path
        let store = ForwardingStore(path: path)
        #expect(try store.load().isEmpty, "no file: no overrides")
        let overrides = ["bob": ForwardingRule(always: "carol"), "carol": ForwardingRule()]
        try store.saveNow(overrides)
        #expect(try ForwardingStore(path: path).load() == overrides)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(leftovers == ["forwarding.json"], "the temporary file is renamed away")
        // Asynchronous save, off the caller's thread.
        let done = DispatchSemaphore(value: 0)
        store.save(["dave": ForwardingRule(busy: "erin")]) { result in
            if case .failure(let error) = result { Issue.record("save failed: \(error)") }
            done.signal()
        }
        done.wait()
        #expect(try store.load() == ["dave": ForwardingRule(busy: "erin")])
        try "{not json".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ForwardingError.self) { try store.load() }
    }

    // MARK: Chains

    @Test func unconditionalChain() {
        let p = planner(["bob": .init(always: "carol"), "carol": .init(always: "sip:dave@127.0.0.10")], registered: ["dave"])
        var visited: Set<String> = []
        let plan = p.plan(callTo: "bob", visited: &visited)
        #expect(plan.outcome == .user("dave"))
        #expect(plan.hops == [
            ForwardingHop(from: "bob", to: .user("carol"), reason: .unconditional),
            ForwardingHop(from: "carol", to: .user("dave"), reason: .unconditional),
        ])
    }

    @Test func unavailableAtTheEndOfAChain() {
        let p = planner(["bob": .init(always: "carol"), "carol": .init(unavailable: "sip:vm@127.0.0.20")], registered: [])
        var visited: Set<String> = []
        let plan = p.plan(callTo: "bob", visited: &visited)
        #expect(plan.outcome == .uri(SIPURI.parse("sip:vm@127.0.0.20")!))
        #expect(plan.hops.map(\.reason) == [.unconditional, .unavailable])
        var v2: Set<String> = []
        #expect(planner(["bob": .init(always: "carol")], registered: []).plan(callTo: "bob", visited: &v2).outcome
            == .unavailable("carol"))
    }

    @Test func loopsAndLimits() {
        var visited: Set<String> = []
        let loop = planner(["bob": .init(always: "carol"), "carol": .init(always: "bob")], registered: ["bob", "carol"])
        #expect(loop.plan(callTo: "bob", visited: &visited).outcome == .loop)
        let chain = ["u0": ForwardingRule(always: "u1"), "u1": .init(always: "u2"), "u2": .init(always: "u3"),
                     "u3": .init(always: "u4"), "u4": .init(always: "u5"), "u5": .init(always: "u6")]
        var v1: Set<String> = []
        #expect(planner(chain, registered: ["u6"]).plan(callTo: "u0", visited: &v1).outcome == .tooManyHops)
        var v2: Set<String> = []
        #expect(planner(chain, registered: ["u6"], limit: 6).plan(callTo: "u0", visited: &v2).outcome == .user("u6"))
        // A conditional loop: bob busy -> carol, carol busy -> bob stops at the repeat.
        let busy = planner(["bob": .init(busy: "carol"), "carol": .init(busy: "bob")], registered: ["bob", "carol"])
        var v3: Set<String> = []
        #expect(busy.plan(callTo: "bob", visited: &v3).outcome == .user("bob"))
        let first = busy.plan(after: .busy, of: "bob", visited: &v3, hopsSoFar: 0)
        #expect(first.outcome == .user("carol"))
        #expect(busy.plan(after: .busy, of: "carol", visited: &v3, hopsSoFar: 1).outcome == .loop)
        #expect(busy.plan(after: .noAnswer, of: "carol", visited: &v3, hopsSoFar: 1).outcome == .none)
    }

    @Test func redirectPlan() {
        let p = planner(["carol": .init(always: "dave")], registered: ["dave"])
        var visited: Set<String> = ["user:bob"]
        let plan = p.plan(redirectTo: .user("carol"), from: "bob", visited: &visited, hopsSoFar: 0)
        #expect(plan.outcome == .user("dave"))
        #expect(plan.hops.map(\.reason) == [.redirect, .unconditional])
        #expect(p.plan(redirectTo: .user("bob"), from: "bob", visited: &visited, hopsSoFar: 0).outcome == .loop)
    }

    @Test func conditionsFromFinalCodes() {
        #expect(ResponseContext.forwardingCondition(for: [486], cancelled: false) == .busy)
        #expect(ResponseContext.forwardingCondition(for: [480, 600], cancelled: false) == .busy)
        #expect(ResponseContext.forwardingCondition(for: [408], cancelled: false) == .unavailable)
        #expect(ResponseContext.forwardingCondition(for: [487], cancelled: false) == .noAnswer)
        #expect(ResponseContext.forwardingCondition(for: [603], cancelled: false) == nil)
    }

    // MARK: Headers

    @Test func diversionAndHistoryInfo() {
        let base = SIPURI.parse("sip:bob@127.0.0.10:5060")!
        let hops = [
            ForwardingHop(from: "bob", to: .user("carol"), reason: .unconditional),
            ForwardingHop(from: "carol", to: .uri(SIPURI.parse("sip:desk@127.0.0.13")!), reason: .busy),
        ]
        #expect(ForwardingHeaders.diversion(hops, base: base) == [
            "<sip:carol@127.0.0.10:5060>;reason=user-busy;counter=1",
            "<sip:bob@127.0.0.10:5060>;reason=unconditional;counter=1",
        ])
        #expect(ForwardingHeaders.historyInfo(hops, original: base, existing: []) == [
            "<sip:bob@127.0.0.10:5060>;index=1",
            "<sip:carol@127.0.0.10:5060;cause=302>;index=1.1;mp=1",
            "<sip:desk@127.0.0.13;cause=486>;index=1.1.1;mp=1.1",
        ])
        #expect(ForwardingHeaders.historyInfo(Array(hops.prefix(1)), original: base, existing: ["<sip:x@h>;index=1.2"]) == [
            "<sip:carol@127.0.0.10:5060;cause=302>;index=1.2.1;mp=1.2"
        ])
    }

    @Test func journalFieldsFromTheForwardedInvite() throws {
        let text = [
            "INVITE sip:carol@127.0.0.13:5062 SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bK-1",
            "From: <sip:alice@127.0.0.10>;tag=a",
            "To: <sip:bob@127.0.0.10>",
            "Call-ID: fwd-1",
            "CSeq: 1 INVITE",
            "Diversion: <sip:bob@127.0.0.10>;reason=user-busy;counter=1",
            "History-Info: <sip:bob@127.0.0.10>;index=1, <sip:carol@127.0.0.10;cause=486>;index=1.1;mp=1",
            "Content-Length: 0",
            "", "",
        ].joined(separator: "\r\n")
        let message = try SIPParser().parse(Array(text.utf8), framing: .datagram)
        guard case .request(let request) = message else { Issue.record("not a request"); return }
        var record = CallRecord(callID: "fwd-1", fromTag: "a", caller: "sip:alice@127.0.0.10", callee: "sip:bob@127.0.0.10",
                                inviteAt: WallClock(microseconds: 1), timeZone: TimeZone(secondsFromGMT: 3600)!)
        CallTracker.noteForwarding(request, in: &record)
        #expect(record.forwardedTo == "sip:carol@127.0.0.10")
        #expect(record.forwardReason == "user-busy")
        #expect(record.forwardChain == ["sip:carol@127.0.0.10"])
        let decoded = try CallRecord.decode(jsonLine: record.jsonLine())
        #expect(decoded == record)
        // Records written before forwarding existed still decode.
        var old = record
        old.forwardedTo = nil
        old.forwardReason = nil
        old.forwardChain = nil
        let line = old.jsonLine()
        #expect(!line.contains("forward"))
        #expect(try CallRecord.decode(jsonLine: line) == old)
    }
}
