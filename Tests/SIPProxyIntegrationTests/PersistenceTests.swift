// Registrations that survive a restart (issue 16 item 1): SIPp registers 1,000 users, the proxy is SIGKILLed and
// started again on the same runtime folder, and every binding is back with its remaining expiry and reachable;
// a registrations file that is not ours is set aside, never fatal.

import Foundation
import GRDB
import SIPProxy
import Testing

@Suite("Registrations file", .serialized)
struct PersistenceTests {
    static let users = 1000
    static let benchRegister = TestEnvironment.packageRoot.appendingPathComponent("Benchmarks/scenarios/register.xml").path

    static func registrations(_ bed: TestBed) async throws -> [RegistrationInfo] {
        let run = try await sipctl(["registrations", "--json"], cwd: bed.directory)
        guard run.succeeded else { throw TestSupportError("sipctl registrations failed\n\(run)") }
        return try JSONDecoder().decode([RegistrationInfo].self, from: Data(run.stdout.utf8))
    }

    static func store(_ bed: TestBed) async throws -> RegistrationPersistence.Status? {
        let run = try await sipctl(["status", "--json"], cwd: bed.directory)
        guard run.succeeded else { throw TestSupportError("sipctl status failed\n\(run)") }
        return try JSONDecoder().decode(ProxyStatus.self, from: Data(run.stdout.utf8)).registrationStore
    }

    @Test("1,000 registrations survive SIGKILL with their remaining expiry, and a call to one of them rings")
    func survivesKill() async throws {
        let bed = try await TestBed("persist-kill", proxyArguments: ["--rate-limit", "off"], logLevel: "info")
        defer { bed.shutdown() }
        // One SIPp registers user0000..user0999 (Expires 3600), each with its own Contact user at one address.
        let phone = Phone("user0500", ip: "127.0.0.12")
        let csv = bed.directory.appendingPathComponent("users.csv")
        let lines = ["SEQUENTIAL"] + (0..<Self.users).map { String(format: "user%04d;", $0) }
        try (lines.joined(separator: "\n") + "\n").write(to: csv, atomically: true, encoding: .utf8)
        let reg = try await bed.run(
            Self.benchRegister, as: phone, calls: Self.users, timeout: 60,
            // 200/s: the test is about what survives a restart, not about load (CI runs suites side by side).
            extraArguments: ["-inf", csv.path, "-r", "200", "-rp", "1000", "-l", "200"]
        )
        // What matters is that every user is registered: a REGISTER that SIPp gave up on while a loaded machine was
        // slow, then retransmitted through, still counts. The SIPp log is shown when some are missing.
        let registered = try await Self.registrations(bed).count
        #expect(registered == Self.users, "\(registered) registered\n\(bed.proxy.logTail(20))\n\(bed.diagnostics(reg))")

        // Written behind within about a second: wait (bounded) until the status says every change is written.
        var written: RegistrationPersistence.Status?
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            written = try await Self.store(bed)
            if let s = written, s.pending == 0, s.written >= Self.users { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let status = try #require(written, "no registrations store in sipctl status")
        #expect(status.location.hasSuffix("registrations.sqlite"), "\(status)")
        #expect(status.pending == 0 && status.written >= Self.users && status.writeErrors == 0, "\(status)")
        let before = try await Self.registrations(bed)

        bed.proxy.crash()
        #expect(!bed.proxy.isRunning, "sipctl serve survived SIGKILL")
        let killedAt = ContinuousClock.now
        try await Task.sleep(for: .seconds(2))  // the time down must show in the remaining expiry
        let restarted = try await ProxyProcess.start(
            label: "persist-kill-2", extraArguments: ["--rate-limit", "off"], logLevel: "info", restarting: bed.proxy
        )
        defer { restarted.stop() }
        let after = try await sipctl(["registrations", "--json"], cwd: bed.directory)
        let list = try JSONDecoder().decode([RegistrationInfo].self, from: Data(after.stdout.utf8))
        let down = Int((ContinuousClock.now - killedAt).components.seconds)
        #expect(list.count == Self.users, "\(restarted.logTail(30))")
        #expect(Set(list.map(\.user)) == Set((0..<Self.users).map { String(format: "user%04d", $0) }))
        let earlier = Dictionary(uniqueKeysWithValues: before.map { ($0.user, $0.expiresIn) })
        for entry in list {
            let was = earlier[entry.user] ?? 0
            // Less the time down (2 s and the restart), give or take rounding; never more than before.
            #expect(entry.expiresIn <= was && entry.expiresIn >= was - down - 2,
                    "\(entry.user): \(was) s before the kill, \(entry.expiresIn) s after \(down) s down")
            #expect(entry.source == phone.address && entry.transport == "UDP", "\(entry)")
        }
        let log = readText(restarted.stderrURL)
        #expect(log.contains("registrations: \(Self.users) binding(s) loaded from sqlite:"), "\(restarted.logTail(30))")
        let text = try await sipctl(["status"], cwd: bed.directory)
        #expect(text.stdout.contains("registrations: sqlite:registrations.sqlite, \(Self.users) loaded at start"), "\(text)")

        // The phone of user0500 answers at the address it registered from; nobody registered again.
        let uas = try await bed.startUAS("uas-answer.xml", as: phone, keys: ["user": "user0500"])
        let alice = Phone("alice", ip: "127.0.0.11")
        let call = try await bed.run("uac-call-bye.xml", as: alice, service: "user0500")
        let answered = await uas.wait()
        #expect(call.passed && answered.passed, "\(bed.diagnostics(call, answered))\n\(restarted.logTail(30))")
        #expect(!answered.receivedRequests("INVITE").isEmpty, "the INVITE reached the registered phone")
        #expect(!call.receivedResponses(180).isEmpty, "180 Ringing came back to the caller\n\(bed.diagnostics(call))")
    }

    @Test("a registration is on disk within about a second: SIGKILL 2.5 s after its 200 OK, without asking the store, keeps it")
    func writtenBehindWithinASecond() async throws {
        let bed = try await TestBed("persist-second", logLevel: "info")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        let reg = try await bed.register(bob)
        #expect(reg.passed, "\(bed.diagnostics(reg))")
        // The write-back delay is one second (Kamailio's timer-driven write-back); the rest is slack for a loaded
        // machine. Nothing here reads the status, so nothing makes the writer hurry.
        try await Task.sleep(for: .milliseconds(2500))
        bed.proxy.crash()
        let restarted = try await ProxyProcess.start(label: "persist-second-2", logLevel: "info", restarting: bed.proxy)
        defer { restarted.stop() }
        let list = try await Self.registrations(bed)
        #expect(list.map(\.user) == ["bob"] && list.first?.source == bob.address,
                "\(list)\n\(restarted.logTail(20))")
    }

    @Test("garbage in registrations.sqlite: the proxy starts, logs it, sets the file aside and persists anew")
    func garbageFileSetAside() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("persist-garbage")
        let garbage = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: dir.appendingPathComponent("registrations.sqlite"))
        let bed = try await TestBed("persist-garbage", workDirectory: dir)
        defer { bed.shutdown() }
        try await Self.checkSetAside(bed, original: garbage, reason: "is not an SQLite database")
    }

    @Test("another program's SQLite file: set aside, not written over")
    func foreignFileSetAside() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("persist-foreign")
        let path = dir.appendingPathComponent("registrations.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('Yesterday')")
        }
        try queue.close()
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let bed = try await TestBed("persist-foreign", workDirectory: dir)
        defer { bed.shutdown() }
        try await Self.checkSetAside(bed, original: original, reason: "belongs to another program")
    }

    static func checkSetAside(_ bed: TestBed, original: Data, reason: String) async throws {
        let log = readText(bed.proxy.stderrURL)
        #expect(log.contains(reason) && log.contains("set aside as"), "\(bed.proxy.logTail(30))")
        let files = try FileManager.default.contentsOfDirectory(atPath: bed.directory.path)
        let aside = try #require(files.first { $0.hasPrefix("registrations.sqlite.corrupt-") }, "\(files)")
        #expect(try Data(contentsOf: bed.directory.appendingPathComponent(aside)) == original, "kept as it was")
        let stored = try await Self.store(bed)
        let status = try #require(stored)
        #expect(status.notice?.contains(aside) == true && status.loaded == 0, "\(status)")

        // The new file works: a registration is written and read back by the next run.
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob, expires: 600)
        try await bed.restartProxy()
        let list = try await Self.registrations(bed)
        #expect(list.map(\.user) == ["bob"], "graceful shutdown flushed bob's binding\n\(bed.proxy.logTail(30))")
    }

    @Test("--no-registrations-file keeps them in memory: no file, and sipctl says so")
    func memoryOnly() async throws {
        let bed = try await TestBed("persist-memory", proxyArguments: ["--no-registrations-file"])
        defer { bed.shutdown() }
        try await bed.register(Phone("bob", ip: "127.0.0.12"))
        #expect(!FileManager.default.fileExists(atPath: bed.directory.appendingPathComponent("registrations.sqlite").path))
        let text = try await sipctl(["registrations"], cwd: bed.directory)
        #expect(text.stdout.contains("stored in: memory only"), "\(text)")
        #expect(try await Self.store(bed) == nil)
    }
}
