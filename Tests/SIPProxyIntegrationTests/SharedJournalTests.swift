// Several proxies, one call journal in PostgreSQL (issue 16 item 2, `--journal-db`): proxy A (127.0.0.51) and
// proxy B (127.0.0.52) copy their journals into one database the test starts itself; `sipctl calls --journal-db`
// lists both proxies' calls with their outcomes and who journaled each. The database stops, a call is made, the
// database comes back: that call arrives, and the outage was logged once.

import Foundation
import SIPProxy
import Testing

@Suite("Shared call journal (PostgreSQL)", .serialized)
struct SharedJournalTests {
    /// `sipctl calls --journal-db URL ARGS --json`, decoded.
    static func calls(_ pg: PostgresServer, _ args: [String] = [], cwd: URL) async throws -> [CallRecord] {
        let run = try await sipctl(["calls", "--journal-db", pg.url, "--json"] + args, cwd: cwd)
        guard run.succeeded else { throw TestSupportError("sipctl calls --journal-db failed\n\(run)") }
        return try JSONDecoder().decode([CallRecord].self, from: Data(run.stdout.utf8))
    }

    /// Waits (bounded) until the table lists `count` calls.
    static func waitForCalls(_ pg: PostgresServer, count: Int, cwd: URL, timeout: Duration = .seconds(15))
        async throws -> [CallRecord]
    {
        let deadline = ContinuousClock.now + timeout
        var records: [CallRecord] = []
        while ContinuousClock.now < deadline {
            records = (try? await Self.calls(pg, cwd: cwd)) ?? []
            if records.count >= count { return records }
            try await Task.sleep(for: .milliseconds(200))
        }
        return records
    }

    @Test("two proxies journal into one database: sipctl calls --journal-db lists both; an outage loses no call")
    func twoProxiesOneJournal() async throws {
        let pg = try await PostgresServer.start(ip: "127.0.0.59")
        defer { pg.remove() }
        let a = try await TestBed("jdb-a", proxyArguments: ["--journal-db", pg.url, "--instance-id", "proxy-a"],
                                  logLevel: "info", proxyIP: "127.0.0.51")
        defer { a.shutdown() }
        let b = try await TestBed("jdb-b", proxyArguments: ["--journal-db", pg.url, "--instance-id", "proxy-b"],
                                  logLevel: "info", proxyIP: "127.0.0.52")
        defer { b.shutdown() }
        let logs = { "A:\n\(a.proxy.logTail(30))\nB:\n\(b.proxy.logTail(30))" }

        // Through A: alice calls bob, who answers (completed). Through B: carol calls dave, who is busy.
        let bob = Phone("bob", ip: "127.0.0.13")
        let alice = Phone("alice", ip: "127.0.0.14")
        let dave = Phone("dave", ip: "127.0.0.15")
        let carol = Phone("carol", ip: "127.0.0.16")
        try await a.register(bob)
        try await b.register(dave)
        var uas = try await a.startUAS("uas-answer.xml", as: bob)
        let call1 = try await a.run("uac-call-bye.xml", as: alice, service: "bob")
        var answered = await uas.wait()
        #expect(call1.passed && answered.passed, "\(a.diagnostics(call1, answered))")
        uas = try await b.startUAS("uas-busy.xml", as: dave)
        let call2 = try await b.run("uac-expect-final.xml", as: carol, service: "dave", sets: ["code": "486"])
        answered = await uas.wait()
        #expect(call2.passed && answered.passed, "\(b.diagnostics(call2, answered))")

        // Read from a folder with no journal file: everything comes from the database.
        let elsewhere = a.directory.appendingPathComponent("elsewhere", isDirectory: true)
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let both = try await Self.waitForCalls(pg, count: 2, cwd: elsewhere)
        #expect(both.count == 2, "\(both)\n\(logs())")
        let byCallee = Dictionary(both.map { ($0.calleeUser, $0) }, uniquingKeysWith: { x, _ in x })
        #expect(byCallee["bob"]?.instance == "proxy-a" && byCallee["bob"]?.outcome == .completed, "\(both)")
        #expect(byCallee["dave"]?.instance == "proxy-b" && byCallee["dave"]?.outcome == .busy, "\(both)")
        #expect(byCallee["dave"]?.finalCode == 486, "\(both)")

        // The table and summary a user reads: a PROXY column, both outcomes, calls per proxy.
        let table = try await sipctl(["calls", "--journal-db", pg.url], cwd: elsewhere)
        #expect(table.succeeded, "\(table)")
        let header = table.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(header.contains("PROXY") && header.contains("OUTCOME"), "\(table)")
        #expect(table.stdout.contains("proxy-a") && table.stdout.contains("proxy-b"), "\(table)")
        #expect(table.stdout.contains("2 calls: 1 completed, 1 busy") && table.stdout.contains("proxy-a 1, proxy-b 1"),
                "\(table)")
        // The filters of a file journal apply to the database's.
        #expect(try await Self.calls(pg, ["--outcome", "busy"], cwd: elsewhere).map(\.instance) == ["proxy-b"])
        #expect(try await Self.calls(pg, ["--user", "alice"], cwd: elsewhere).map(\.instance) == ["proxy-a"])
        #expect(try await Self.calls(pg, ["--limit", "1"], cwd: elsewhere).map(\.instance) == ["proxy-b"])
        let csv = try await sipctl(["calls", "--journal-db", pg.url, "--csv"], cwd: elsewhere)
        #expect(csv.stdout.hasPrefix("invite,") && csv.stdout.split(separator: "\r\n").first?.hasSuffix(",proxy") == true,
                "\(csv)")
        // The columns are there for SQL, the whole record as jsonb.
        let rows = try await pg.query(
            "SELECT instance, outcome, final_code, split_part(record->>'callee', '@', 1) FROM sipproxy_call ORDER BY started_at")
        #expect(rows.split(separator: "\n") == ["proxy-a|completed|200|sip:bob", "proxy-b|busy|486|sip:dave"], "\(rows)")

        // The database stops; carol calls dave through B meanwhile: journaled in B's file at once, kept queued.
        try await pg.stopServer()
        uas = try await b.startUAS("uas-answer.xml", as: dave)
        let call3 = try await b.run("uac-call-bye.xml", as: carol, service: "dave")
        answered = await uas.wait()
        #expect(call3.passed && answered.passed, "\(b.diagnostics(call3, answered))")
        let outageLogged = await waitUntil(timeout: .seconds(10)) {
            readText(b.proxy.stderrURL).contains("call journal: cannot write")
        }
        #expect(outageLogged, "\(logs())")
        // sipctl status says so, with the call waiting.
        let during = try await sipctl(["status"], cwd: b.directory).stdout
        let copyLine = during.split(separator: "\n").first { $0.hasPrefix("journal db:") }.map(String.init) ?? during
        #expect(copyLine.contains("as proxy-b") && copyLine.contains("1 pending") && copyLine.contains("UNREACHABLE"),
                "\(during)")
        #expect(readText(b.directory.appendingPathComponent("calls.jsonl")).split(separator: "\n").count == 2)
        try await Task.sleep(for: .seconds(2))  // a few retries fail meanwhile: still one log line

        try await pg.startServer()
        let all = try await Self.waitForCalls(pg, count: 3, cwd: elsewhere, timeout: .seconds(20))
        #expect(all.count == 3, "the call made during the outage never arrived\n\(all)\n\(logs())")
        #expect(all.last?.instance == "proxy-b" && all.last?.outcome == .completed, "\(all)")
        let logB = readText(b.proxy.stderrURL)
        let errors = logB.split(separator: "\n").filter { $0.contains("call journal: cannot write") }
        #expect(errors.count == 1, "\(errors)")
        #expect(logB.contains("reachable again"), "\(logs())")
        let after = try await sipctl(["status"], cwd: b.directory).stdout
        #expect(after.contains("journal db: \(pg.url) as proxy-b, 2 calls written, 0 pending"), "\(after)")
        // Nothing twice, whatever was retried.
        let count = try await pg.query("SELECT count(*), count(DISTINCT (instance, call_id)) FROM sipproxy_call")
        #expect(count.trimmingCharacters(in: .whitespacesAndNewlines) == "3|3", "\(count)")
    }

    @Test("bad --journal-db input: one line and a non-zero exit")
    func badInput() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jdb-bad-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let serve = try await sipctl(["serve", "--listen", "127.0.0.51:5999", "--journal-db", "mysql://x@y/z"], cwd: dir)
        #expect(!serve.succeeded && serve.stderr.contains("--journal-db"), "\(serve)")
        let both = try await sipctl(["serve", "--listen", "127.0.0.51:5999", "--no-journal", "--journal-db",
                                     "postgresql://sip@127.0.0.59:1/sip"], cwd: dir)
        #expect(!both.succeeded && both.stderr.contains("--no-journal"), "\(both)")
        let calls = try await sipctl(["calls", "--journal-db", "postgres://nobody"], cwd: dir)
        #expect(!calls.succeeded && calls.stderr.contains("--journal-db"), "\(calls)")
        // A database that is not there: an error naming it, not a hang.
        let down = try await sipctl(["calls", "--journal-db", "postgresql://sip@127.0.0.59:1/sip"], cwd: dir)
        #expect(!down.succeeded && down.stderr.contains("127.0.0.59:1"), "\(down)")
        #expect(down.stderr.split(separator: "\n").count <= 2, "\(down)")
    }
}
