// Runtime files and folders are created private (0600/0700) whatever the umask, looser leftovers are tightened,
// and the trace folder can be shared read-only with a group (0750/0640).

import Foundation
import Testing

@testable import SIPProxy

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct FileAccessTests {
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("file-access-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    /// Permission bits and group of a path.
    static func mode(_ path: String) -> (mode: UInt32, group: UInt32)? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return (UInt32(info.st_mode) & 0o7777, UInt32(info.st_gid))
    }

    @Test func newFoldersAndFilesAreOwnerOnly() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let nested = root + "/a/b/traces"
        #expect(try FileAccess.ownerOnly.createDirectory(nested) == nil)
        for path in [root + "/a", root + "/a/b", nested] { #expect(Self.mode(path)?.mode == 0o700, "\(path)") }
        let fd = try FileAccess.ownerOnly.open(nested + "/f", flags: O_WRONLY)
        close(fd)
        #expect(Self.mode(nested + "/f")?.mode == 0o600)
    }

    @Test func looserLeftoversAreTightened() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/traces"
        mkdir(dir, 0o755)
        chmod(dir, 0o755)
        let notice = try FileAccess.ownerOnly.createDirectory(dir)
        #expect(notice == "permissions of \(dir) changed from 0755 to 0700")
        #expect(Self.mode(dir)?.mode == 0o700)
        // A tighter folder stays as it is.
        chmod(dir, 0o500)
        #expect(try FileAccess.ownerOnly.createDirectory(dir) == nil)
        #expect(Self.mode(dir)?.mode == 0o500)
        chmod(dir, 0o700)
        // An existing 0644 file is brought to 0600 when opened.
        _ = FileManager.default.createFile(atPath: dir + "/old", contents: Data("x".utf8))
        chmod(dir + "/old", 0o644)
        close(try FileAccess.ownerOnly.open(dir + "/old", flags: O_WRONLY | O_APPEND))
        #expect(Self.mode(dir + "/old")?.mode == 0o600)
    }

    @Test func stickySharedFoldersAreLeftAlone() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        chmod(root, 0o1777)
        let notice = try FileAccess.ownerOnly.createDirectory(root)
        #expect(notice?.contains("shared or not ours") == true)
        #expect(Self.mode(root)?.mode == 0o1777)
    }

    @Test func groupReadableTraces() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let group = UInt32(getegid())
        let access = FileAccess.readableByGroup(group)
        let dir = root + "/traces"
        _ = try access.createDirectory(dir)
        #expect(Self.mode(dir)?.mode == 0o750 && Self.mode(dir)?.group == group)
        close(try access.open(dir + "/f.pcap", flags: O_WRONLY))
        #expect(Self.mode(dir + "/f.pcap")?.mode == 0o640 && Self.mode(dir + "/f.pcap")?.group == group)
        // A private folder becomes group-readable when a group is asked for.
        chmod(dir, 0o700)
        #expect(try access.createDirectory(dir) == "permissions of \(dir) changed from 0700 to 0750")
    }

    @Test func traceGroupLookup() {
        #expect(TraceGroup.named("root")?.id == 0)
        #expect(TraceGroup.named("no-such-group-\(UUID().uuidString.prefix(8))") == nil)
        #expect(TraceGroup.named("") == nil)
    }

    @Test func pcapWriterJournalAndForwardingStateArePrivate() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let traces = root + "/traces"
        let writer = try PcapWriter(configuration: PcapWriter.Configuration(TraceSettings(directory: traces)))
        try writer.rotate()
        let pcap = try #require(writer.currentPath)
        writer.close()
        #expect(Self.mode(traces)?.mode == 0o700)
        #expect(Self.mode(pcap)?.mode == 0o600)

        let journal = try CallJournal(configuration: CallJournal.Configuration(
            path: root + "/calls.jsonl", textLogPath: root + "/calls.log"
        ))
        _ = try journal.recover()
        journal.close()
        // The in-progress snapshot is rewritten this way (temp file + rename).
        try AppendFile.replace(root + "/calls.inprogress.jsonl", with: "")
        for name in ["calls.jsonl", "calls.log", "calls.inprogress.jsonl"] {
            #expect(Self.mode(root + "/" + name)?.mode == 0o600, "\(name)")
        }

        let store = ForwardingStore(path: root + "/forwarding.json")
        try store.saveNow(["bob": ForwardingRule(busy: "carol")])
        #expect(Self.mode(root + "/forwarding.json")?.mode == 0o600)
        #expect(try store.load()["bob"]?.busy == "carol")
    }
}
