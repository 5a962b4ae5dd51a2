// PostgresBindingStore: the location backend several proxies share (issue 16 item 2), through PostgresNIO.
//
// Each proxy writes its own phones' bindings, as with SQLite, and reads the others' changes, so a user registered
// through proxy A is found by proxy B, which then forwards the request to A (the row names A and its SIP URI).
// Changes travel by a change counter: every write takes the next value of one sequence, a removal leaves a
// tombstone row (`deleted`), and each proxy asks for the rows of other owners above the last value it saw. It asks
// when told to: every write transaction also sends `NOTIFY sipproxy_binding` (delivered at commit) with its
// owner, and each proxy LISTENs on a second connection, so a change reaches the others within milliseconds of its
// commit. Polling remains the fallback: every `pollInterval` while the LISTEN connection is down (a database that
// restarted), rarely while it is up (a notice is never the only way a change arrives). A poll rereads from the
// value seen one poll earlier: two proxies' writes can commit out of sequence order (B's value 11 visible before
// A's 10), and rereading a row is harmless (the merge is idempotent), missing one is not.
//
// PostgresNIO is async; the `BindingStore` calls are blocking and run on the persistence thread (never an event
// loop), so each call runs its queries in a Task and waits for it there. One connection for them, opened lazily and
// again after an error: a database that went away is found again on the next write or poll. The LISTEN connection
// lives in a Task of its own, reconnecting every second while the database is away.

import Dispatch
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The location backend in a PostgreSQL database.
///
/// `@unchecked Sendable`: used only on the persistence thread (and before it starts).
public final class PostgresBindingStore: SharedBindingStore, @unchecked Sendable {
    public let instanceID: String
    public let ownerURI: String
    public let openingNotice: String? = nil
    /// `postgresql://user@host:port/db`, without a password.
    public let location: String

    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var connection: PostgresConnection?
    /// The highest change value seen, and the one seen a poll earlier (where the next poll starts).
    private var seen: Int64 = 0
    private var rereadFrom: Int64 = 0
    /// The LISTEN side: its task and connection (to end them at `close`), and whether notices arrive now.
    private let listener = Mutex<(task: Task<Void, Never>?, connection: PostgresConnection?)>((nil, nil))
    private let listening = Atomic<Bool>(false)
    /// The notification channel; the payload is the writer's instance id (a proxy ignores its own notices).
    static let channel = "sipproxy_binding"

    /// Parses the URL; connects on first use (`load`), so a database that is down at start is not fatal.
    public init(url: String, instanceID: String?, ownerURI: String, logger: Logger) throws(BindingStoreError) {
        let parsed = try Self.parse(url)
        self.configuration = parsed.configuration
        self.location = parsed.location
        // Without `--instance-id` the listener URI is unique among proxies sharing a database, and stable.
        self.instanceID = instanceID.flatMap { $0.isEmpty ? nil : $0 } ?? ownerURI
        self.ownerURI = ownerURI
        self.logger = logger
    }

    // MARK: BindingStore

    public func load(now: WallClock) throws(BindingStoreError) -> [StoredBinding] {
        let (rows, version) = try self.run(.read) { connection, logger in
            // Tombstones and rows lapsed for an hour are of no use to anyone.
            try await connection.query(
                "DELETE FROM sipproxy_binding WHERE expires_at < \(now.microseconds - 3_600_000_000)", logger: logger)
            let top = try await connection.query("SELECT coalesce(max(version), 0)::bigint FROM sipproxy_binding", logger: logger)
            var version: Int64 = 0
            for try await row in top { version = try row.decode(Int64.self) }
            let rows = try await connection.query(
                "SELECT \(unescaped: Self.columns) FROM sipproxy_binding WHERE NOT deleted AND expires_at > \(now.microseconds)",
                logger: logger
            )
            var result: [StoredBinding] = []
            for try await row in rows {
                if let (binding, _, _) = try Self.decode(row) { result.append(binding) }
            }
            return (result, version)
        }
        self.seen = version
        self.rereadFrom = version
        return rows
    }

    public func apply(_ changes: [BindingChange]) throws(BindingStoreError) {
        guard !changes.isEmpty else { return }
        let owner = self.instanceID
        let ownerURI = self.ownerURI
        _ = try self.run(.write) { connection, logger in
            try await connection.withTransaction(logger: logger) { connection in
                // One statement per chunk of rows, not one round trip per binding: at thousands of REGISTER/s the
                // round trips, not PostgreSQL, were the limit (the batch's keys are unique, so one statement never
                // touches a row twice).
                var removals: [StoredBinding.Key] = []
                var upserts: [StoredBinding] = []
                for change in changes {
                    switch change {
                    case .upsert(var b):
                        b.owner = owner
                        b.ownerURI = ownerURI
                        upserts.append(b)
                    case .remove(let key):
                        removals.append(key)
                    }
                }
                for start in stride(from: 0, to: removals.count, by: Self.chunk) {
                    let chunk = removals[start..<min(removals.count, start + Self.chunk)]
                    try await connection.query(Self.remove(Array(chunk), owner: owner), logger: logger)
                }
                for start in stride(from: 0, to: upserts.count, by: Self.chunk) {
                    let chunk = upserts[start..<min(upserts.count, start + Self.chunk)]
                    try await connection.query(Self.upsert(Array(chunk)), logger: logger)
                }
                // Delivered to the listeners when the transaction commits, never for a rolled-back batch.
                try await connection.query("SELECT pg_notify(\(Self.channel), \(owner))", logger: logger)
            }
            return ((), Int64(0))
        }
    }

    public var isListening: Bool { self.listening.load(ordering: .acquiring) }

    public func startListening(_ changed: @escaping @Sendable () -> Void) {
        let configuration = self.configuration
        let logger = self.logger
        let own = self.instanceID
        let task = Task { [self] in
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(
                        configuration: configuration, id: 4, logger: logger)
                    self.listener.withLock { $0.connection = connection }
                    if Task.isCancelled {
                        try? await connection.close()
                        break
                    }
                    do {
                        try await connection.listen(on: Self.channel) { notices in
                            self.listening.store(true, ordering: .releasing)
                            changed()  // what was committed while nobody listened
                            for try await notice in notices where notice.payload != own { changed() }
                        }
                    } catch {
                        // The connection ended (the database stopped, or `close`): reconnect below.
                    }
                    self.listening.store(false, ordering: .releasing)
                    self.listener.withLock { $0.connection = nil }
                    try? await connection.close()
                } catch {
                    // The database is not there (yet): polling covers it, retried below.
                }
                self.listening.store(false, ordering: .releasing)
                try? await Task.sleep(for: .seconds(1))
            }
        }
        self.listener.withLock { $0.task = task }
    }

    public func poll(now: WallClock) throws(BindingStoreError) -> [BindingChange] {
        let from = self.rereadFrom
        let owner = self.instanceID
        let (changes, top) = try self.run(.read) { connection, logger in
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Self.columns), deleted, version FROM sipproxy_binding
                WHERE version > \(from) AND owner <> \(owner) ORDER BY version
                """,
                logger: logger
            )
            var changes: [BindingChange] = []
            var top = from
            for try await row in rows {
                guard let (binding, deleted, version) = try Self.decode(row, withState: true) else { continue }
                top = max(top, version)
                changes.append(deleted || binding.expiresAt <= now ? .remove(binding.key) : .upsert(binding))
            }
            return (changes, top)
        }
        self.rereadFrom = self.seen
        self.seen = max(self.seen, top)
        return changes
    }

    public func close() {
        let (task, listenConnection) = self.listener.withLock { state in
            defer { state = (nil, nil) }
            return (state.task, state.connection)
        }
        task?.cancel()
        if let listenConnection { _ = try? Self.blocking { try await listenConnection.close() } }
        guard let connection = self.connection else { return }
        self.connection = nil
        _ = try? Self.blocking { try await connection.close() }
    }

    // MARK: Queries

    private static let columns = """
        user_key, contact_key, aor, contact, expires_at, call_id, cseq, q, transport, remote_ip, remote_port, \
        local_ip, local_port, path, instance, reg_id, owner, owner_uri
        """

    /// The table, created if absent. Two proxies starting together serialise on an advisory lock: concurrent
    /// `CREATE ... IF NOT EXISTS` can still collide in PostgreSQL's catalog.
    private static func createSchema(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(1397313616)", logger: logger)  // "SIPP"
            try await connection.query("CREATE SEQUENCE IF NOT EXISTS sipproxy_binding_version", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS sipproxy_binding (
                    user_key text NOT NULL,
                    contact_key text NOT NULL,
                    aor text NOT NULL,
                    contact text NOT NULL,
                    expires_at bigint NOT NULL,
                    call_id text NOT NULL,
                    cseq bigint NOT NULL,
                    q double precision NOT NULL,
                    transport text NOT NULL,
                    remote_ip text NOT NULL,
                    remote_port integer NOT NULL,
                    local_ip text NOT NULL,
                    local_port integer NOT NULL,
                    path text NOT NULL,
                    instance text,
                    reg_id integer,
                    owner text NOT NULL,
                    owner_uri text NOT NULL,
                    deleted boolean NOT NULL DEFAULT false,
                    version bigint NOT NULL,
                    PRIMARY KEY (user_key, contact_key)
                )
                """,
                logger: logger
            )
            try await connection.query(
                "CREATE INDEX IF NOT EXISTS sipproxy_binding_version_idx ON sipproxy_binding (version)", logger: logger)
        }
    }

    /// Rows per statement.
    static let chunk = 1000

    /// Upserts bindings in one statement: a column per array parameter, `unnest` turns them back into rows. Arrays
    /// cannot hold NULL through PostgresNIO, so an absent `instance` travels as "" and an absent `reg_id` as -1.
    static func upsert(_ bindings: [StoredBinding]) -> PostgresQuery {
        let users = bindings.map(\.user)
        let contactKeys = bindings.map(\.contactKey)
        let aors = bindings.map(\.aor)
        let contacts = bindings.map(\.contact)
        let expires = bindings.map(\.expiresAt.microseconds)
        let callIDs = bindings.map(\.callID)
        let cseqs = bindings.map { Int64($0.cseq) }
        let qs = bindings.map(\.q)
        let transports = bindings.map(\.transport.rawValue)
        let remoteIPs = bindings.map(\.remoteIP)
        let remotePorts = bindings.map { Int32(clamping: $0.remotePort) }
        let localIPs = bindings.map(\.localIP)
        let localPorts = bindings.map { Int32(clamping: $0.localPort) }
        let paths = bindings.map { $0.path.joined(separator: "\n") }
        let instances = bindings.map { $0.instance ?? "" }
        let regIDs = bindings.map { $0.regID.map { Int32(clamping: $0) } ?? -1 }
        let owners = bindings.map(\.owner)
        let ownerURIs = bindings.map(\.ownerURI)
        return """
            INSERT INTO sipproxy_binding (user_key, contact_key, aor, contact, expires_at, call_id, cseq, q, transport,
                remote_ip, remote_port, local_ip, local_port, path, instance, reg_id, owner, owner_uri, deleted, version)
            SELECT u, ck, a, c, e, ci, cs, q, t, ri, rp, li, lp, p, NULLIF(i, ''), NULLIF(r, -1), o, ou, false,
                nextval('sipproxy_binding_version')
            FROM unnest(\(users)::text[], \(contactKeys)::text[], \(aors)::text[], \(contacts)::text[],
                \(expires)::bigint[], \(callIDs)::text[], \(cseqs)::bigint[], \(qs)::float8[], \(transports)::text[],
                \(remoteIPs)::text[], \(remotePorts)::int[], \(localIPs)::text[], \(localPorts)::int[], \(paths)::text[],
                \(instances)::text[], \(regIDs)::int[], \(owners)::text[], \(ownerURIs)::text[])
                AS b(u, ck, a, c, e, ci, cs, q, t, ri, rp, li, lp, p, i, r, o, ou)
            ON CONFLICT (user_key, contact_key) DO UPDATE SET aor = EXCLUDED.aor, contact = EXCLUDED.contact,
                expires_at = EXCLUDED.expires_at, call_id = EXCLUDED.call_id, cseq = EXCLUDED.cseq, q = EXCLUDED.q,
                transport = EXCLUDED.transport, remote_ip = EXCLUDED.remote_ip, remote_port = EXCLUDED.remote_port,
                local_ip = EXCLUDED.local_ip, local_port = EXCLUDED.local_port, path = EXCLUDED.path,
                instance = EXCLUDED.instance, reg_id = EXCLUDED.reg_id, owner = EXCLUDED.owner,
                owner_uri = EXCLUDED.owner_uri, deleted = false, version = EXCLUDED.version
            """
    }

    /// Marks our own rows among `keys` deleted (tombstones), in one statement. Only our own: another proxy's phone
    /// that lapsed here is that proxy's to delete.
    static func remove(_ keys: [StoredBinding.Key], owner: String) -> PostgresQuery {
        let users = keys.map(\.user)
        let contacts = keys.map(\.contact)
        return """
            UPDATE sipproxy_binding SET deleted = true, version = nextval('sipproxy_binding_version')
            WHERE (user_key, contact_key) IN (SELECT * FROM unnest(\(users)::text[], \(contacts)::text[]))
                AND owner = \(owner) AND NOT deleted
            """
    }

    /// A row as a stored binding (with its tombstone flag and change value when selected); nil for a row this
    /// build cannot read (edited by hand), which is skipped rather than trusted.
    static func decode(_ row: PostgresRow, withState: Bool = false) throws -> (StoredBinding, Bool, Int64)? {
        let cells = PostgresRandomAccessRow(row)
        func text(_ i: Int) throws -> String { try cells[i].decode(String.self) }
        guard let transport = TransportKind(rawValue: try text(8)),
            let cseq = UInt32(exactly: try cells[6].decode(Int64.self))
        else { return nil }
        let path = try text(13)
        let binding = StoredBinding(
            user: try text(0), contactKey: try text(1), aor: try text(2), contact: try text(3),
            expiresAt: WallClock(microseconds: try cells[4].decode(Int64.self)), callID: try text(5), cseq: cseq,
            q: try cells[7].decode(Double.self), transport: transport, remoteIP: try text(9),
            remotePort: Int(try cells[10].decode(Int32.self)), localIP: try text(11),
            localPort: Int(try cells[12].decode(Int32.self)),
            path: path.isEmpty ? [] : path.split(separator: "\n").map(String.init),
            instance: try cells[14].decode(String?.self), regID: try cells[15].decode(Int32?.self).map(Int.init),
            owner: try text(16), ownerURI: try text(17)
        )
        guard withState else { return (binding, false, 0) }
        return (binding, try cells[18].decode(Bool.self), try cells[19].decode(Int64.self))
    }

    // MARK: Connection

    /// Runs `body` on the connection (opening it first), waiting for it on this thread; any failure closes the
    /// connection, so the next call opens a new one.
    private func run<T: Sendable>(
        _ kind: BindingStoreError.Kind,
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> (T, Int64)
    ) throws(BindingStoreError) -> (T, Int64) {
        do {
            let connection = try self.connect()
            let logger = self.logger
            return try Self.blocking { try await body(connection, logger) }
        } catch {
            if let connection = self.connection {
                self.connection = nil
                _ = try? Self.blocking { try await connection.close() }
            }
            let what = kind == .write ? "cannot write to" : "cannot read"
            throw BindingStoreError(kind, "\(what) \(self.location): \(Self.describe(error))")
        }
    }

    private func connect() throws -> PostgresConnection {
        if let connection = self.connection, !connection.isClosed { return connection }
        let configuration = self.configuration
        let logger = self.logger
        let connection = try Self.open(configuration, id: 1, logger: logger, schema: Self.createSchema)
        self.connection = connection
        return connection
    }

    /// Connects (blocking the calling thread, never an event loop) and makes sure of the schema: a database that
    /// was down at start, or recreated, is set up when it comes back. Shared with the journal's `PostgresCallStore`.
    static func open(
        _ configuration: PostgresConnection.Configuration, id: Int, logger: Logger,
        schema: @escaping @Sendable (PostgresConnection, Logger) async throws -> Void
    ) throws -> PostgresConnection {
        try Self.blocking {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
            do {
                // The server gives up a statement before `blocking` gives up waiting for it: a write abandoned on a
                // slow database must not commit later, over what a retry on a new connection wrote meanwhile.
                try await connection.query("SET statement_timeout = 50000", logger: logger)
                try await schema(connection, logger)
            } catch {
                try? await connection.close()
                throw error
            }
            return connection
        }
    }

    /// Waits on this (non-event-loop) thread for an async operation, at most `timeout`. Also used by the journal's
    /// database copy. A database host that vanished without closing its sockets (power lost, a half-open
    /// connection) would otherwise hold the writer thread for ever, and with it every later write and poll; after
    /// the timeout the caller closes the connection and tries a new one later, and the late result is dropped. The
    /// limit is far above what the largest batch or the start-up load of 100,000 bindings takes.
    static func blocking<T: Sendable>(
        timeout: DispatchTimeInterval = .seconds(60), _ body: @escaping @Sendable () async throws -> T
    ) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            let result: Result<T, any Error>
            do {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            box.state.withLock { $0 = result }
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout) == .success else {
            task.cancel()
            throw BlockingTimeout(timeout: timeout)
        }
        return try box.state.withLock { $0 }!.get()
    }

    /// A database operation that did not finish in time.
    struct BlockingTimeout: Error, CustomStringConvertible {
        let timeout: DispatchTimeInterval
        var description: String {
            if case .seconds(let s) = self.timeout { return "no answer in \(s) s" }
            return "no answer in time"
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if error.code == .connectionError, let underlying = error.underlying,
                let reason = Self.systemReason(in: "\(underlying)")
            {
                // NIO's connection error lists every address tried; the system's reason is what a user needs.
                return "cannot connect: \(reason)"
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        if let error = error as? PostgresTransactionError {
            return describe(error.beginError ?? error.closureError ?? error.commitError ?? error.rollbackError ?? error)
        }
        return "\(error)"
    }

    /// `Connection refused` from the last `(errno: 111)` in a NIO error's description, if there is one.
    static func systemReason(in text: String) -> String? {
        guard let range = text.range(of: "(errno: ", options: .backwards),
            let number = Int32(text[range.upperBound...].prefix { $0.isNumber })
        else { return nil }
        return String(cString: strerror(number)).lowercased()
    }

    // MARK: URL

    /// The URL's location without its password, or the error a bad URL gets (for the command line).
    @discardableResult
    public static func validate(_ url: String) throws(BindingStoreError) -> String {
        try self.parse(url).location
    }

    /// `postgresql://user[:password]@host[:port]/database` (or `postgres://`); trust or password auth, no TLS.
    static func parse(_ url: String) throws(BindingStoreError) -> (configuration: PostgresConnection.Configuration, location: String) {
        guard let components = URLComponents(string: url),
            components.scheme == "postgresql" || components.scheme == "postgres",
            let host = components.host, !host.isEmpty,
            let user = components.user, !user.isEmpty
        else {
            throw BindingStoreError(.open, "invalid PostgreSQL URL '\(url)': expected postgresql://user@host[:port]/database")
        }
        let database = String(components.path.drop { $0 == "/" })
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else {
            throw BindingStoreError(.open, "invalid PostgreSQL URL '\(url)': port \(port) is out of range")
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: components.password,
            database: database.isEmpty ? user : database, tls: .disable
        )
        // A database that does not answer must not hold the writer for long: its changes wait in the queue.
        configuration.options.connectTimeout = .seconds(3)
        let location = "postgresql://\(user)@\(host):\(port)/\(database.isEmpty ? user : database)"
        return (configuration, location)
    }
}

/// The result of an async operation a thread waits for; the semaphore orders the write before the read.
/// The result of an operation `blocking` waits for; written by its task, read by the waiting thread (or never,
/// after a timeout).
private final class ResultBox<T: Sendable>: Sendable {
    let state = Mutex<Result<T, any Error>?>(nil)
}
