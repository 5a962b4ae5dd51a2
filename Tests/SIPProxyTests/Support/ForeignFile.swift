// ForeignFile: SQLite files the registrations store must not take for its own, made with GRDB directly.

import Foundation
import GRDB

enum ForeignFile {
    /// Runs `sql` on the SQLite file at `path`; `replacing` deletes what was there first.
    static func make(_ path: String, sql: String, replacing: Bool = true) throws {
        if replacing {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in try db.execute(sql: sql) }
        try queue.close()
    }
}
