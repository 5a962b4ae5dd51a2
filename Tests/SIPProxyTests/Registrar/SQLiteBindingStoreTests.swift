// SQLiteBindingStore: the registrations file: round trip, lapsed rows, and files that are not ours.

import Foundation
import Testing

@testable import SIPProxy

@Suite struct SQLiteBindingStoreTests {
    let wall = WallClock(microseconds: 1_765_000_000_000_000)

    func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func row(_ user: String, expiresIn seconds: Double = 600, transport: TransportKind = .udp) -> StoredBinding {
        StoredBinding(
            user: user, contactKey: "sip:\(user)@127.0.0.12:5062", aor: "sip:\(user)@127.0.0.10",
            contact: "<sip:\(user)@127.0.0.12:5062>;reg-id=1", expiresAt: self.wall.adding(seconds: seconds),
            callID: "call-\(user)", cseq: 42, q: 0.7, transport: transport, remoteIP: "127.0.0.12",
            remotePort: 40_000, localIP: "127.0.0.10", localPort: 5060, path: ["<sip:edge.example;lr>", "<sip:p2;lr>"],
            instance: "\"<urn:uuid:1>\"", regID: 1, owner: "proxy-a"
        )
    }

    @Test func writesAndReadsBackEveryFieldAcrossReopening() throws {
        let path = try self.directory().appendingPathComponent("registrations.sqlite").path
        let store = try SQLiteBindingStore(path: path, instanceID: "proxy-a")
        #expect(store.openingNotice == nil)
        #expect(try store.load(now: self.wall).isEmpty)
        try store.apply([.upsert(self.row("alice")), .upsert(self.row("bob", transport: .tcp)), .upsert(self.row("carol"))])
        try store.apply([.remove(self.row("carol").key), .upsert(self.row("alice", expiresIn: 900))])
        store.close()

        let again = try SQLiteBindingStore(path: path)
        #expect(again.instanceID == "proxy-a", "the instance id is kept in the file")
        let rows = try again.load(now: self.wall).sorted { $0.user < $1.user }
        #expect(rows == [self.row("alice", expiresIn: 900), self.row("bob", transport: .tcp)])
        again.close()
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600, "owner-only, like the journal")
    }

    @Test func lapsedRowsAreDeletedAtLoad() throws {
        let path = try self.directory().appendingPathComponent("r.sqlite").path
        let store = try SQLiteBindingStore(path: path)
        #expect(!store.instanceID.isEmpty, "a new file gets an id")
        try store.apply([.upsert(self.row("alice", expiresIn: 10)), .upsert(self.row("bob", expiresIn: 60))])
        #expect(try store.load(now: self.wall.adding(seconds: 30)).map(\.user) == ["bob"])
        #expect(try store.load(now: self.wall).map(\.user) == ["bob"], "alice's row is gone, not only skipped")
        store.close()
    }

    @Test func aFileThatIsNotSQLiteIsSetAside() throws {
        let dir = try self.directory()
        let path = dir.appendingPathComponent("registrations.sqlite").path
        let garbage = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        try garbage.write(to: URL(fileURLWithPath: path))
        let store = try SQLiteBindingStore(path: path, clock: { self.wall })
        #expect(try store.load(now: self.wall).isEmpty)
        let aside = path + ".corrupt-" + SQLiteBindingStore.stamp(self.wall)
        #expect(store.openingNotice?.contains("not an SQLite database") == true, "\(store.openingNotice ?? "")")
        #expect(store.openingNotice?.contains(aside) == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: aside)) == garbage, "kept for whoever wants to look")
        try store.apply([.upsert(self.row("alice"))])
        #expect(try store.load(now: self.wall).count == 1, "the new file works")
        store.close()
    }

    @Test func anotherProgramsSQLiteFileOrANewerSchemaIsSetAside() throws {
        let dir = try self.directory()
        let path = dir.appendingPathComponent("registrations.sqlite").path
        // A foreign database: a table of its own and no application id.
        try ForeignFile.make(path, sql: "CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('x');")
        let store = try SQLiteBindingStore(path: path, clock: { self.wall })
        #expect(store.openingNotice?.contains("another program") == true, "\(store.openingNotice ?? "")")
        #expect(FileManager.default.fileExists(atPath: path + ".corrupt-" + SQLiteBindingStore.stamp(self.wall)))
        try store.apply([.upsert(self.row("alice"))])
        store.close()

        // Ours, but from a newer SIPProxy: not understood, so not touched.
        try ForeignFile.make(path, sql: "PRAGMA user_version = 99;", replacing: false)
        let newer = try SQLiteBindingStore(path: path, clock: { self.wall.adding(seconds: 1) })
        #expect(newer.openingNotice?.contains("schema version 99") == true, "\(newer.openingNotice ?? "")")
        #expect(try newer.load(now: self.wall).isEmpty)
        newer.close()
    }

    @Test func anEmptyFileIsTakenAsNew() throws {
        let path = try self.directory().appendingPathComponent("r.sqlite").path
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        let store = try SQLiteBindingStore(path: path)
        #expect(store.openingNotice == nil)
        try store.apply([.upsert(self.row("alice"))])
        #expect(try store.load(now: self.wall).count == 1)
        store.close()
    }

    @Test func aMissingFolderIsAnOpenErrorNotACrash() {
        #expect(throws: BindingStoreError.self) {
            _ = try SQLiteBindingStore(path: "/nonexistent-\(UUID().uuidString)/r.sqlite")
        }
    }
}
