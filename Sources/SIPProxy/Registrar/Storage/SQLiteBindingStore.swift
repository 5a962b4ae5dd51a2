// SQLiteBindingStore: the embedded location backend, one SQLite file in the runtime folder (GRDB.swift).
//
// The file is ours when its header says so: `PRAGMA application_id` is 0x53495050 ("SIPP") and `PRAGMA
// user_version` the schema version. Anything else is never written over and never fatal:
//   - not SQLite at all, or damaged (SQLITE_NOTADB, SQLITE_CORRUPT), or an SQLite file of another program (another
//     application id, or no id but tables of its own), or a schema newer than this build knows: the file is renamed
//     `<name>.corrupt-<UTC timestamp>` (with its -wal and -shm) and a new, empty one is created;
//   - an older schema of ours: migrated in place, one step per version (`migrations`). Version 1 is the first, so
//     there is nothing to migrate yet.
// WAL with synchronous=NORMAL: a commit is one append to the WAL (no fsync); a power cut may lose the last
// commits, a killed process loses nothing committed (SQLite's documented guarantee for WAL mode).

import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The location backend in an SQLite file.
///
/// `@unchecked Sendable`: used only on the persistence thread (and before it starts); GRDB's queue serialises
/// access to the connection anyway.
public final class SQLiteBindingStore: BindingStore, @unchecked Sendable {
    /// "SIPP": tells our files from other programs' SQLite files (https://www.sqlite.org/pragma.html#pragma_application_id).
    public static let applicationID: Int32 = 0x5349_5050
    /// The schema this build writes.
    public static let schemaVersion = 1

    public let path: String
    public private(set) var instanceID: String
    public private(set) var openingNotice: String?
    private var queue: DatabaseQueue
    private let clock: @Sendable () -> WallClock

    public var location: String { "sqlite:\(self.path)" }

    /// Opens the file, creating it (owner-only) when missing, and sets a foreign or damaged one aside.
    ///
    /// - Parameters:
    ///   - instanceID: the owner written in rows; nil keeps the one stored in the file (a new file gets a random one).
    ///   - clock: wall-clock time, for the name of a set-aside file.
    public init(
        path: String, instanceID: String? = nil, clock: @escaping @Sendable () -> WallClock = { WallClock.now() }
    ) throws(BindingStoreError) {
        self.path = path
        self.clock = clock
        self.instanceID = instanceID ?? ""
        do {
            self.queue = try Self.openOurs(path)
        } catch let problem as Unusable {
            let aside = try Self.setAside(path, now: clock())
            self.openingNotice = "\(path) \(problem.reason): set aside as \(aside), starting with no registrations"
            self.queue = try Self.openNew(path)
        } catch {
            throw BindingStoreError(.open, "cannot open \(path): \(Self.describe(error))")
        }
        try self.settleInstanceID(instanceID)
    }

    public func load(now: WallClock) throws(BindingStoreError) -> [StoredBinding] {
        do {
            return try self.readRows(now: now)
        } catch let error as DatabaseError where Self.isDamage(error) {
            // Damage found past the header (a torn page): the same treatment as at open.
            try? self.queue.close()
            let aside = try Self.setAside(self.path, now: self.clock())
            self.openingNotice = "\(self.path) is damaged (\(error.message ?? "\(error.resultCode)")): set aside as "
                + "\(aside), starting with no registrations"
            do {
                self.queue = try Self.openNew(self.path)
            } catch {
                throw BindingStoreError(.open, "cannot create \(self.path): \(Self.describe(error))")
            }
            try self.settleInstanceID(self.instanceID)
            return []
        } catch {
            throw BindingStoreError(.read, "cannot read \(self.path): \(Self.describe(error))")
        }
    }

    public func apply(_ changes: [BindingChange]) throws(BindingStoreError) {
        guard !changes.isEmpty else { return }
        do {
            try self.queue.write { db in
                let upsert = try db.cachedStatement(sql: Self.upsertSQL)
                let delete = try db.cachedStatement(sql: "DELETE FROM binding WHERE user = ? AND contact_key = ?")
                for change in changes {
                    switch change {
                    case .upsert(let b):
                        try upsert.execute(arguments: Self.arguments(b))
                    case .remove(let key):
                        try delete.execute(arguments: [key.user, key.contact])
                    }
                }
            }
        } catch {
            throw BindingStoreError(.write, "cannot write \(self.path): \(Self.describe(error))")
        }
    }

    public func close() {
        try? self.queue.close()
    }

    // MARK: Schema

    /// Version 1. One row per binding, keyed as the registrar keys them (user, Contact URI).
    static let schema = """
        CREATE TABLE binding (
            user TEXT NOT NULL,
            contact_key TEXT NOT NULL,
            aor TEXT NOT NULL,
            contact TEXT NOT NULL,
            expires_at INTEGER NOT NULL,  -- Unix time, microseconds
            call_id TEXT NOT NULL,
            cseq INTEGER NOT NULL,
            q REAL NOT NULL,
            transport TEXT NOT NULL,      -- UDP, TCP, TLS
            remote_ip TEXT NOT NULL,
            remote_port INTEGER NOT NULL,
            local_ip TEXT NOT NULL,
            local_port INTEGER NOT NULL,
            flow_is_connection INTEGER NOT NULL,  -- 1: TCP/TLS, the connection is gone after a restart
            path TEXT NOT NULL,           -- Path values (RFC 3327), one per line
            instance TEXT,                -- +sip.instance (RFC 5626)
            reg_id INTEGER,
            owner TEXT NOT NULL,          -- the proxy instance holding the flow
            PRIMARY KEY (user, contact_key)
        ) WITHOUT ROWID;
        CREATE INDEX binding_expires ON binding (expires_at);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        """

    /// Migrations from version N to N+1, at index N-1. None yet: version 1 is the first.
    static let migrations: [@Sendable (Database) throws -> Void] = []

    static let upsertSQL = """
        INSERT OR REPLACE INTO binding (user, contact_key, aor, contact, expires_at, call_id, cseq, q, transport,
            remote_ip, remote_port, local_ip, local_port, flow_is_connection, path, instance, reg_id, owner)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    static func arguments(_ b: StoredBinding) -> StatementArguments {
        let values: [(any DatabaseValueConvertible)?] = [
            b.user, b.contactKey, b.aor, b.contact, b.expiresAt.microseconds, b.callID, Int64(b.cseq), b.q,
            b.transport.rawValue, b.remoteIP, b.remotePort, b.localIP, b.localPort, b.flowIsConnection,
            b.path.joined(separator: "\n"), b.instance, b.regID, b.owner,
        ]
        return StatementArguments(values)
    }

    private func readRows(now: WallClock) throws -> [StoredBinding] {
        try self.queue.write { db in
            // Lapsed while the proxy was down: deleted, never loaded.
            try db.execute(sql: "DELETE FROM binding WHERE expires_at <= ?", arguments: [now.microseconds])
            var result: [StoredBinding] = []
            // Columns by position (a name lookup per field is a linear search of the row's columns).
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT user, contact_key, aor, contact, expires_at, call_id, cseq, q, transport, remote_ip,
                        remote_port, local_ip, local_port, path, instance, reg_id, owner FROM binding
                    """
            )
            while let row = try rows.next() {
                // A row with a field this build cannot read (edited by hand) is skipped, not fatal.
                guard let transport = TransportKind(rawValue: row[8] ?? ""),
                    let cseq = UInt32(exactly: row[6] as Int64? ?? -1)
                else { continue }
                let path: String = row[13] ?? ""
                result.append(
                    StoredBinding(
                        user: row[0] ?? "", contactKey: row[1] ?? "", aor: row[2] ?? "", contact: row[3] ?? "",
                        expiresAt: WallClock(microseconds: row[4] ?? 0), callID: row[5] ?? "", cseq: cseq,
                        q: row[7] ?? 1.0, transport: transport, remoteIP: row[9] ?? "", remotePort: row[10] ?? 0,
                        localIP: row[11] ?? "", localPort: row[12] ?? 0,
                        path: path.isEmpty ? [] : path.split(separator: "\n").map(String.init),
                        instance: row[14], regID: row[15], owner: row[16] ?? ""
                    )
                )
            }
            return result
        }
    }

    /// Keeps the instance id: the given one (stored for the next run), else the file's, else a new random one.
    private func settleInstanceID(_ given: String?) throws(BindingStoreError) {
        do {
            self.instanceID = try self.queue.write { db in
                let stored = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'instance_id'")
                let id = (given?.isEmpty == false ? given : nil) ?? stored ?? UUID().uuidString.lowercased()
                if id != stored {
                    try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('instance_id', ?)", arguments: [id])
                }
                return id
            }
        } catch {
            throw BindingStoreError(.open, "cannot write \(self.path): \(Self.describe(error))")
        }
    }

    // MARK: Opening

    /// Why an existing file is not used.
    private struct Unusable: Error {
        var reason: String
    }

    private static func configuration() -> Configuration {
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.label = "registrations"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        return configuration
    }

    /// Opens an existing file of ours (migrating an older schema) or an empty/missing one (creating the schema);
    /// throws `Unusable` for a file to set aside, anything else for a file that cannot be opened at all.
    private static func openOurs(_ path: String) throws -> DatabaseQueue {
        try self.createPrivateFile(path)
        // Looked at read-only first: WAL mode, set on opening for writing, would change a foreign file's header.
        let (application, version, tables) = try self.inspect(path)
        if application != 0 || tables != 0 {
            guard application == self.applicationID else {
                throw Unusable(reason: "belongs to another program (application id \(application), not SIPProxy's)")
            }
            guard version <= self.schemaVersion, version >= 1 else {
                throw Unusable(reason: "has schema version \(version), this SIPProxy knows 1 to \(self.schemaVersion)")
            }
        }
        let queue = try DatabaseQueue(path: path, configuration: self.configuration())
        do {
            if application == 0 && tables == 0 {
                try self.createSchema(queue)
            } else if version < self.schemaVersion {
                try queue.write { db in
                    for step in self.migrations[(version - 1)...] { try step(db) }
                    try db.execute(sql: "PRAGMA user_version = \(self.schemaVersion)")
                }
            }
            return queue
        } catch {
            try? queue.close()
            throw error
        }
    }

    /// The header's application id and schema version, and how many schema objects the file has.
    private static func inspect(_ path: String) throws -> (Int32, Int, Int) {
        var configuration = Configuration()
        configuration.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read { db in
                (
                    try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0,
                    try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0,
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0
                )
            }
        } catch let error as DatabaseError where self.isDamage(error) {
            throw Unusable(
                reason: error.resultCode == .SQLITE_NOTADB
                    ? "is not an SQLite database" : "is damaged (\(error.message ?? "\(error.resultCode)"))"
            )
        }
    }

    /// A new file with the schema (after the old one was set aside).
    private static func openNew(_ path: String) throws(BindingStoreError) -> DatabaseQueue {
        do {
            try self.createPrivateFile(path)
            let queue = try DatabaseQueue(path: path, configuration: self.configuration())
            try self.createSchema(queue)
            return queue
        } catch {
            throw BindingStoreError(.open, "cannot create \(path): \(self.describe(error))")
        }
    }

    private static func createSchema(_ queue: DatabaseQueue) throws {
        try queue.write { db in
            try db.execute(sql: self.schema)
            try db.execute(sql: "PRAGMA application_id = \(self.applicationID)")
            try db.execute(sql: "PRAGMA user_version = \(self.schemaVersion)")
        }
    }

    /// Registrations name who called from where: the file is owner-only like the journal (0600). SQLite gives
    /// its -wal and -shm files the same mode.
    private static func createPrivateFile(_ path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw BindingStoreError(.open, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Renames the file (and its -wal, -shm) to `<path>.corrupt-YYYYMMDD-HHMMSS`; returns the new name.
    static func setAside(_ path: String, now: WallClock) throws(BindingStoreError) -> String {
        var aside = "\(path).corrupt-\(self.stamp(now))"
        var n = 1
        while FileManager.default.fileExists(atPath: aside) {
            n += 1
            aside = "\(path).corrupt-\(self.stamp(now))-\(n)"
        }
        guard rename(path, aside) == 0 else {
            throw BindingStoreError(.open, "cannot set \(path) aside: \(String(cString: strerror(errno)))")
        }
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            // A WAL belongs to the file it was written for: left in place, SQLite would replay it into the new one.
            if rename(path + suffix, aside + suffix) != 0 { unlink(path + suffix) }
        }
        return aside
    }

    /// `20261206-123456` (UTC).
    static func stamp(_ time: WallClock) -> String {
        let iso = time.description  // 2026-12-06T12:34:56.789Z
        let digits = iso.prefix(19).filter(\.isNumber)
        return String(digits.prefix(8)) + "-" + String(digits.dropFirst(8).prefix(6))
    }

    static func isDamage(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_NOTADB || error.resultCode == .SQLITE_CORRUPT
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
        if let error = error as? BindingStoreError { return error.message }
        return "\(error)"
    }
}
