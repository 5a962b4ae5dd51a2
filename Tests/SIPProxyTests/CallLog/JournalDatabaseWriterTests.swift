// The journal's database copy (`--journal-db`) without a database: the bounded backlog as a value, and the writer
// against a recording store that can be told to fail. No test waits on the thread's timing: `close()` writes what
// is pending (retrying a failing store for at most `closeTimeout`) and joins the thread.

import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

@testable import SIPProxy

/// A row store that keeps what it is given, and fails while `failures` is above zero.
final class RecordingCallStore: CallRowStore, @unchecked Sendable {
    let location = "postgresql://test@db:5432/test"
    let rows = Mutex<[(String, CallRecord)]>([])
    let attempts = Mutex(0)
    let failures: Mutex<Int>
    let closed = Mutex(false)

    init(failures: Int = 0) { self.failures = Mutex(failures) }

    func insert(_ records: [CallRecord], instance: String) throws(CallLogError) {
        self.attempts.withLock { $0 += 1 }
        let fail = self.failures.withLock { n -> Bool in
            defer { n = max(0, n - 1) }
            return n > 0
        }
        if fail { throw CallLogError(.database, "cannot write to \(self.location): connection refused") }
        self.rows.withLock { rows in
            // The table's primary key: a record already there is not added again.
            for r in records where !rows.contains(where: { $0.0 == instance && $0.1.callID == r.callID && $0.1.inviteAt == r.inviteAt }) {
                rows.append((instance, r))
            }
        }
    }

    func close() { self.closed.withLock { $0 = true } }
}

/// Keeps the messages logged, for assertions on "logged once".
struct CapturingLogHandler: LogHandler {
    let sink: LogLines
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        self.sink.lines.withLock { $0.append("\(event.level): \(event.message)") }
    }
}

final class LogLines: Sendable {
    let lines = Mutex<[String]>([])
    var logger: Logger {
        Logger(label: "test") { _ in CapturingLogHandler(sink: self) }
    }
    var all: [String] { self.lines.withLock { $0 } }
}

@Suite struct JournalDatabaseWriterTests {
    static func record(_ n: Int) -> CallRecord {
        var r = CallRecord(
            callID: "call-\(n)", fromTag: "t\(n)", caller: "sip:alice@lab", callee: "sip:bob@lab",
            inviteAt: CallFixtures.at(Double(n)), timeZone: CallFixtures.zone
        )
        r.close(.completed, at: CallFixtures.at(Double(n) + 5))
        return r
    }

    // MARK: Backlog

    @Test func backlogKeepsOrderUntilRemovedAndCountsDrops() {
        var backlog = JournalBacklog(capacity: 3)
        #expect(backlog.append([Self.record(1), Self.record(2)]) == 0)
        #expect(backlog.peek(10).map(\.callID) == ["call-1", "call-2"])
        // A failed write removes nothing: the same records are peeked again.
        #expect(backlog.peek(1).map(\.callID) == ["call-1"])
        #expect(backlog.append([Self.record(3), Self.record(4), Self.record(5)]) == 2)
        #expect(backlog.count == 3 && backlog.dropped == 2)
        backlog.removeFirst(2)
        #expect(backlog.peek(10).map(\.callID) == ["call-3"])
        #expect(backlog.append([Self.record(6)]) == 0)
        backlog.removeFirst(5)
        #expect(backlog.isEmpty && backlog.peek(3).isEmpty)
    }

    @Test func backlogCompactsALongQueue() {
        var backlog = JournalBacklog(capacity: 100_000)
        backlog.append((0..<10_000).map(Self.record))
        for _ in 0..<19 { backlog.removeFirst(500) }
        #expect(backlog.count == 500)
        #expect(backlog.peek(1).first?.callID == "call-9500")
    }

    // MARK: Writer

    @Test func closeWritesEveryQueuedRecordAsTheInstance() {
        let store = RecordingCallStore()
        let logs = LogLines()
        let writer = JournalDatabaseWriter(store: store, instance: "proxy-a", batchSize: 2, logger: logs.logger)
        writer.start()
        writer.append([Self.record(1), Self.record(2), Self.record(3)])
        writer.append([Self.record(4)])
        writer.close()
        let rows = store.rows.withLock { $0 }
        #expect(rows.map(\.1.callID) == ["call-1", "call-2", "call-3", "call-4"])
        #expect(rows.allSatisfy { $0.0 == "proxy-a" })
        #expect(store.closed.withLock { $0 })
        #expect(writer.status.written == 4 && writer.status.pending == 0)
        #expect(logs.all.isEmpty, "\(logs.all)")
    }

    @Test func anOutageIsLoggedOnceAndTheQueueCatchesUp() {
        let store = RecordingCallStore(failures: 5)
        let logs = LogLines()
        let writer = JournalDatabaseWriter(
            store: store, instance: "proxy-a", retryInterval: .milliseconds(1), logger: logs.logger)
        writer.start()
        writer.append([Self.record(1)])
        writer.append([Self.record(2)])
        writer.close()  // retries until the store answers (well within the 5 s close timeout)
        #expect(store.rows.withLock { $0 }.map(\.1.callID) == ["call-1", "call-2"])
        #expect(store.attempts.withLock { $0 } >= 6)
        let errors = logs.all.filter { $0.hasPrefix("error") }
        #expect(errors.count == 1, "\(logs.all)")
        #expect(errors.first?.contains("connection refused") == true)
        #expect(logs.all.contains { $0.contains("reachable again") && $0.contains("catching up") }, "\(logs.all)")
        #expect(writer.status.unreachableSince == nil)
    }

    @Test func aDatabaseThatNeverAnswersDoesNotHoldTheShutdown() {
        let store = RecordingCallStore(failures: .max)
        let logs = LogLines()
        let writer = JournalDatabaseWriter(
            store: store, instance: "proxy-a", capacity: 2, retryInterval: .milliseconds(1),
            closeTimeout: .milliseconds(20), logger: logs.logger)
        writer.start()
        writer.append([Self.record(1), Self.record(2), Self.record(3)])
        #expect(writer.status.dropped == 1)
        writer.close()
        #expect(store.rows.withLock { $0 }.isEmpty)
        #expect(logs.all.contains { $0.contains("backlog is full") }, "\(logs.all)")
        #expect(logs.all.contains { $0.contains("stopping with 2 call(s) not written") }, "\(logs.all)")
    }

    // MARK: Rows and tables

    @Test func insertIsIdempotentOnInstanceCallAndStart() throws {
        let query = try PostgresCallStore.insertQuery(Self.record(1), instance: "proxy-a")
        #expect(query.sql.contains("ON CONFLICT (instance, call_id, started_at) DO NOTHING"))
        #expect(query.sql.contains("::jsonb"))
        // Times are integer literals in the text (exact microseconds), everything else a bound parameter.
        #expect(query.sql.contains("\(CallFixtures.at(1).microseconds) * interval '1 microsecond'"))
        #expect(!query.sql.contains("alice"))
        #expect(PostgresCallStore.time(nil) == "NULL")
    }

    @Test func badURLsAreRefused() {
        #expect(throws: CallLogError.self) { try PostgresCallStore.validate("mysql://sip@db/sip") }
        #expect(throws: CallLogError.self) { try PostgresCallStore.validate("postgresql://db/sip") }
        #expect((try? PostgresCallStore.validate("postgresql://sip@127.0.0.1/sip")) == "postgresql://sip@127.0.0.1:5432/sip")
    }

    @Test func aRefusedConnectionIsSaidInOneShortPhrase() {
        let nio = "Connection errors: SingleConnectionFailure(target: [IPv4]127.0.0.59/127.0.0.59:1, error: connection reset (error set): Connection refused) (errno: 111))"
        #expect(PostgresBindingStore.systemReason(in: nio) == "connection refused")
        #expect(PostgresBindingStore.systemReason(in: "timeout") == nil)
    }

    @Test func theProxyColumnAppearsWhenMoreThanOneProxyWrote() throws {
        var a = Self.record(1)
        a.instance = "proxy-a"
        var b = Self.record(2)
        b.instance = "proxy-b"
        let zone = CallFixtures.zone
        let mixed = CallFormatter.table([a, b], timeZone: zone)
        #expect(mixed.split(separator: "\n").first?.contains("PROXY") == true, "\(mixed)")
        #expect(mixed.contains("proxy-a") && mixed.contains("proxy-b"))
        #expect(CallFormatter.summary([a, b]).hasSuffix("; proxy-a 1, proxy-b 1"))
        #expect(CallFormatter.csv([a, b]).split(separator: "\r\n").first?.hasSuffix(",proxy") == true)
        b.instance = "proxy-a"
        #expect(!CallFormatter.table([a, b], timeZone: zone).contains("PROXY"))
        #expect(!CallFormatter.csv([a, b]).contains("proxy"))
        // The instance survives JSON (what --json prints), and a file's records have none.
        let line = a.jsonLine()
        #expect(line.contains("\"instance\":\"proxy-a\""))
        #expect(try CallRecord.decode(jsonLine: line).instance == "proxy-a")
        #expect(!Self.record(3).jsonLine().contains("instance"))
    }
}
