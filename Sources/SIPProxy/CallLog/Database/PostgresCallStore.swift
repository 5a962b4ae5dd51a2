// PostgresCallStore: the call journal's table in PostgreSQL (issue 16 item 2, `--journal-db`), shared by every
// proxy pointed at the same database, so `sipctl calls --journal-db URL` lists all their calls.
//
//     sipproxy_call (instance, call_id, started_at) PRIMARY KEY     one row per ended call and proxy
//         caller, callee, outcome, final_code, ...                  the record's fields, as columns to query
//         record jsonb                                              the whole record, as in calls.jsonl
//
// The proxy writes through the blocking `insert` on the journal database thread (`JournalDatabaseWriter`), which
// runs PostgresNIO in a Task and waits, as `PostgresBindingStore` does; `sipctl` reads with the async `read`. A row
// is inserted with ON CONFLICT DO NOTHING: a batch retried after a lost commit acknowledgement adds nothing twice.

import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Where the journal database thread writes rows; a protocol so the writer's queueing is tested without a server.
public protocol CallRowStore: AnyObject {
    /// `postgresql://user@host:port/db`, without a password.
    var location: String { get }
    /// Writes the records as rows of `instance`, in one transaction; rows already there are left as they are.
    /// Blocking: called on the journal database thread only.
    func insert(_ records: [CallRecord], instance: String) throws(CallLogError)
    /// Closes the connection. Nothing is called afterwards.
    func close()
}

/// The `sipproxy_call` table.
///
/// `@unchecked Sendable`: the connection is used on the journal database thread only (`insert`, `close`).
public final class PostgresCallStore: CallRowStore, @unchecked Sendable {
    public let location: String
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var connection: PostgresConnection?

    /// Parses the URL; connects on first use, so a database that is down at start is not fatal.
    public init(url: String, logger: Logger) throws(CallLogError) {
        let parsed = try Self.parse(url)
        self.configuration = parsed.configuration
        self.location = parsed.location
        self.logger = logger
    }

    /// The URL's location without its password, or the error a bad URL gets (for the command line).
    @discardableResult
    public static func validate(_ url: String) throws(CallLogError) -> String {
        try self.parse(url).location
    }

    private static func parse(_ url: String) throws(CallLogError) -> (
        configuration: PostgresConnection.Configuration, location: String
    ) {
        do throws(BindingStoreError) {
            // One URL grammar for both tables: the location store's.
            return try PostgresBindingStore.parse(url)
        } catch {
            throw CallLogError(.database, error.message)
        }
    }

    // MARK: Writing (journal database thread)

    public func insert(_ records: [CallRecord], instance: String) throws(CallLogError) {
        guard !records.isEmpty else { return }
        var rows: [PostgresQuery] = []
        for record in records {
            // A record that cannot be encoded would fail every retry: it is skipped (it is in calls.jsonl).
            if let query = try? Self.insertQuery(record, instance: instance) { rows.append(query) }
        }
        let queries = rows
        do {
            let connection = try self.connect()
            let logger = self.logger
            try PostgresBindingStore.blocking {
                try await connection.withTransaction(logger: logger) { connection in
                    for query in queries { try await connection.query(query, logger: logger) }
                }
            }
        } catch {
            self.dropConnection()
            throw CallLogError(.database, "cannot write to \(self.location): \(PostgresBindingStore.describe(error))")
        }
    }

    public func close() {
        self.dropConnection()
    }

    private func dropConnection() {
        guard let connection = self.connection else { return }
        self.connection = nil
        _ = try? PostgresBindingStore.blocking { try await connection.close() }
    }

    private func connect() throws -> PostgresConnection {
        if let connection = self.connection, !connection.isClosed { return connection }
        let configuration = self.configuration
        let logger = self.logger
        let connection = try PostgresBindingStore.open(configuration, id: 2, logger: logger, schema: Self.createSchema)
        self.connection = connection
        return connection
    }

    /// The table, created if absent, under the same advisory lock as the location table: two proxies starting
    /// together would otherwise collide in PostgreSQL's catalog.
    private static func createSchema(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(1397313616)", logger: logger)  // "SIPP"
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS sipproxy_call (
                    instance text NOT NULL,
                    call_id text NOT NULL,
                    from_tag text NOT NULL,
                    started_at timestamptz NOT NULL,
                    ringing_at timestamptz,
                    answered_at timestamptz,
                    ended_at timestamptz,
                    caller text NOT NULL,
                    caller_name text,
                    callee text NOT NULL,
                    callee_name text,
                    source text,
                    outcome text,
                    final_code integer,
                    final_reason text,
                    hung_up_by text,
                    ring_seconds double precision,
                    talk_seconds double precision,
                    duration_seconds double precision,
                    forwarded_to text,
                    transferred_to text,
                    conference text,
                    record jsonb NOT NULL,
                    written_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (instance, call_id, started_at)
                )
                """,
                logger: logger
            )
            try await connection.query(
                "CREATE INDEX IF NOT EXISTS sipproxy_call_started_idx ON sipproxy_call (started_at)", logger: logger)
        }
    }

    /// One record's row. Times are exact microseconds (`'epoch' + n µs`), not a rounded floating-point Date, so
    /// a retried row has the very same key.
    static func insertQuery(_ r: CallRecord, instance: String) throws -> PostgresQuery {
        let json = r.jsonLine()
        let code = r.finalCode.map { Int32(clamping: $0) }
        let duration = r.endedAt.map { max(0, $0.seconds(since: r.inviteAt)) }
        return """
            INSERT INTO sipproxy_call (instance, call_id, from_tag, started_at, ringing_at, answered_at, ended_at,
                caller, caller_name, callee, callee_name, source, outcome, final_code, final_reason, hung_up_by,
                ring_seconds, talk_seconds, duration_seconds, forwarded_to, transferred_to, conference, record)
            VALUES (\(instance), \(r.callID), \(r.fromTag), \(unescaped: Self.time(r.inviteAt)),
                \(unescaped: Self.time(r.ringingAt)), \(unescaped: Self.time(r.answeredAt)),
                \(unescaped: Self.time(r.endedAt)), \(r.caller), \(r.callerName), \(r.callee), \(r.calleeName),
                \(r.source), \(r.outcome?.rawValue), \(code), \(r.finalReason), \(r.hungUpBy?.rawValue),
                \(r.ringSeconds), \(r.talkSeconds), \(duration), \(r.forwardedTo), \(r.transferredTo), \(r.conference),
                \(json)::jsonb)
            ON CONFLICT (instance, call_id, started_at) DO NOTHING
            """
    }

    /// A time as SQL text (an integer literal: nothing from the wire goes into it).
    static func time(_ time: WallClock?) -> String {
        guard let time else { return "NULL" }
        return "(timestamptz 'epoch' + \(time.microseconds) * interval '1 microsecond')"
    }

    // MARK: Reading (sipctl)

    /// Every proxy's calls matching `query`, each with its `instance`, in INVITE order. The time filters run in
    /// the database (on the started_at index); user, outcome and limit as for a file (`CallQuery.apply`).
    public static func read(url: String, query: CallQuery, logger: Logger) async throws(CallLogError) -> [CallRecord] {
        let parsed = try Self.parse(url)
        let location = parsed.location
        do {
            let connection = try await PostgresConnection.connect(
                configuration: parsed.configuration, id: 3, logger: logger)
            let records: [CallRecord]
            do {
                records = try await Self.fetch(connection, query: query, location: location, logger: logger)
            } catch {
                try? await connection.close()
                throw error
            }
            try? await connection.close()
            return query.apply(records)
        } catch let error as CallLogError {
            throw error
        } catch {
            throw CallLogError(.database, "cannot read \(location): \(PostgresBindingStore.describe(error))")
        }
    }

    private static func fetch(
        _ connection: PostgresConnection, query: CallQuery, location: String, logger: Logger
    ) async throws -> [CallRecord] {
        let exists = try await connection.query("SELECT to_regclass('sipproxy_call') IS NOT NULL", logger: logger)
        var present = false
        for try await row in exists { present = try row.decode(Bool.self) }
        guard present else {
            throw CallLogError(.database, "no call journal in \(location) (a proxy started with --journal-db creates it)")
        }
        var sql = "SELECT instance, record::text FROM sipproxy_call WHERE true"
        if let since = query.since { sql += " AND started_at >= \(Self.time(since))" }
        if let until = query.until { sql += " AND started_at < \(Self.time(until))" }
        sql += " ORDER BY started_at, instance, call_id"
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        var records: [CallRecord] = []
        for try await (instance, json) in rows.decode((String, String).self) {
            // A row edited by hand into something else is skipped rather than failing the whole list.
            guard var record = try? CallRecord.decode(jsonLine: json) else { continue }
            record.instance = instance
            records.append(record)
        }
        return records
    }
}
