// CallJournal: append, fsync, read back, rotation, corrupt last line, recovery of interrupted calls.

import Foundation
import Testing

@testable import SIPProxy

extension CallLogTests {
    @Suite("CallJournal")
    struct JournalTests {
        /// A fresh directory per test.
        static func directory() -> String {
            let path = NSTemporaryDirectory() + "calllog-\(UUID().uuidString)"
            try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return path
        }

        static func record(_ n: Int, outcome: CallOutcome = .completed) -> CallRecord {
            var r = CallRecord(
                callID: "call-\(n)", fromTag: "t\(n)", caller: "sip:alice@example.com", callee: "sip:bob@example.com",
                inviteAt: CallFixtures.at(Double(n) * 60), timeZone: CallFixtures.zone
            )
            if outcome == .completed {
                r.answeredAt = CallFixtures.at(Double(n) * 60 + 5)
                r.hungUpBy = .caller
                r.finalCode = 200
                r.finalReason = "OK"
            }
            r.close(outcome, at: CallFixtures.at(Double(n) * 60 + 14))
            return r
        }

        func configuration(_ dir: String) -> CallJournal.Configuration {
            var c = CallJournal.Configuration(path: dir + "/calls.jsonl", textLogPath: dir + "/calls.log")
            c.timeZone = CallFixtures.zone
            return c
        }

        /// The user part the text log and the tables show (`alice called bob`).
        @Test func userPartOfAnAOR() {
            #expect(CallRecord.user(of: "sip:alice@example.com") == "alice")
            #expect(CallRecord.user(of: "sips:bob:secret@10.0.0.1") == "bob:secret")
            #expect(CallRecord.user(of: "sip:example.com") == "example.com")
            #expect(CallRecord.user(of: "tel:+421-2-1234") == "+421-2-1234")
            #expect(CallRecord.user(of: "sip:žofia@example.sk") == "žofia")
            #expect(CallRecord.user(of: "carol") == "carol")
            #expect(CallRecord.user(of: "") == "")
        }

        @Test func appendSyncAndReadBack() throws {
            let dir = Self.directory()
            var c = self.configuration(dir)
            c.durability = .everyRecord
            let journal = try CallJournal(configuration: c)
            let records = (1...3).map { Self.record($0) }
            for r in records { journal.append(r) }
            journal.close()
            let result = try CallJournalReader.read(path: c.path)
            #expect(result.records == records)
            #expect(result.warnings.isEmpty)
            let text = try String(contentsOfFile: c.textLogPath!, encoding: .utf8)
            #expect(text.hasPrefix("10:34:32 call alice–bob ended after 9 s (alice hung up)\n"))
        }

        @Test func recordsAreSyncedWithinTheInterval() throws {
            let dir = Self.directory()
            let journal = try CallJournal(configuration: self.configuration(dir))
            journal.record([.ended(Self.record(1))])
            // `append` returns at once; the thread writes immediately and syncs within the interval.
            var lines = 0
            for _ in 0..<50 where lines == 0 {
                Thread.sleep(forTimeInterval: 0.05)
                lines = (try? CallJournalReader.read(path: dir + "/calls.jsonl"))?.records.count ?? 0
            }
            #expect(lines == 1)
            journal.close()
        }

        @Test func eventsWriteTheTextLog() throws {
            let dir = Self.directory()
            let journal = try CallJournal(configuration: self.configuration(dir))
            var script = TrackerScript()
            let call = TestCall(callID: "x1", fromTag: "a1")
            script.relay(call.invite(), from: CallFixtures.alice, to: CallFixtures.bob, at: 0)
            script.relay(call.response(200, "OK", toTag: "b"), from: CallFixtures.bob, to: CallFixtures.alice, at: 6)
            script.relay(
                call.inDialog("BYE", fromCaller: false, toTag: "b", cseq: 1), from: CallFixtures.bob,
                to: CallFixtures.alice, at: 15
            )
            journal.record(script.events)
            journal.close()
            let text = try String(contentsOfFile: dir + "/calls.log", encoding: .utf8)
            #expect(
                text == """
                    10:33:18 alice called bob
                    10:33:24 bob answered alice
                    10:33:33 call alice–bob ended after 9 s (bob hung up)

                    """
            )
        }

        @Test func rotationKeepsEveryLine() throws {
            let dir = Self.directory()
            var c = self.configuration(dir)
            let size = Self.record(1).jsonLine().utf8.count + 1
            c.maxBytes = size * 3 + 10
            let journal = try CallJournal(configuration: c)
            let records = (1...10).map { Self.record($0) }
            for r in records { journal.append(r) }
            journal.close()
            let files = CallJournalReader.files(for: c.path)
            #expect(files.count == 4)
            #expect(files.last == c.path)
            #expect(files.dropLast().allSatisfy { $0.contains("/calls-") })
            #expect(try CallJournalReader.read(path: c.path).records == records)
        }

        @Test func corruptLastLineIsSkippedWithAWarning() throws {
            let dir = Self.directory()
            let path = dir + "/calls.jsonl"
            let good = Self.record(1).jsonLine()
            let half = String(Self.record(2).jsonLine().prefix(40))
            try (good + "\n" + half).write(toFile: path, atomically: false, encoding: .utf8)
            let result = try CallJournalReader.read(path: path)
            #expect(result.records.map(\.callID) == ["call-1"])
            #expect(result.warnings == ["\(path):2: skipped an incomplete last line (written during a crash?)"])
            // A journal opened on such a file starts the next record on a line of its own.
            let journal = try CallJournal(configuration: CallJournal.Configuration(path: path))
            journal.append(Self.record(3))
            journal.close()
            let after = try CallJournalReader.read(path: path)
            #expect(after.records.map(\.callID) == ["call-1", "call-3"])
            #expect(after.warnings.count == 1)
        }

        @Test func missingJournalIsAnError() {
            #expect(throws: CallLogError.self) { try CallJournalReader.read(path: Self.directory() + "/calls.jsonl") }
        }

        @Test func recoverWritesInterruptedRecords() throws {
            let dir = Self.directory()
            let c = self.configuration(dir)
            // A run that is killed with two calls in progress (one answered) and one ended.
            do {
                let journal = try CallJournal(configuration: c)
                var script = TrackerScript()
                let a = TestCall(callID: "r1", fromTag: "a1")
                let b = TestCall(callID: "r2", fromTag: "a2")
                let done = TestCall(callID: "r3", fromTag: "a3")
                script.relay(a.invite(), from: CallFixtures.alice, to: CallFixtures.bob, at: 0)
                script.relay(a.response(200, "OK", toTag: "b"), from: CallFixtures.bob, to: CallFixtures.alice, at: 2)
                script.relay(b.invite(), from: CallFixtures.alice, to: CallFixtures.bob, at: 3)
                script.relay(done.invite(), from: CallFixtures.alice, to: CallFixtures.bob, at: 4)
                script.relay(
                    done.response(486, "Busy Here", toTag: "b"), from: CallFixtures.bob, to: CallFixtures.alice, at: 5
                )
                journal.record(script.events)
                journal.flush()  // the snapshot now lists r1 and r2
                journal.close()
            }
            let snapshot = try String(contentsOfFile: c.snapshotPath, encoding: .utf8)
            #expect(snapshot.split(separator: "\n").count == 2)
            let journal = try CallJournal(configuration: c)
            let recovered = try journal.recover()
            journal.close()
            #expect(recovered.map(\.callID) == ["r1", "r2"])
            #expect(recovered.allSatisfy { $0.outcome == .interrupted })
            #expect(recovered.first?.talkSeconds != nil)
            let all = try CallJournalReader.read(path: c.path).records
            #expect(all.map(\.callID) == ["r3", "r1", "r2"])
            #expect(try String(contentsOfFile: c.snapshotPath, encoding: .utf8).isEmpty)
            // A second start finds nothing more to recover.
            let again = try CallJournal(configuration: c)
            #expect(try again.recover().isEmpty)
            again.close()
        }

        @Test func recordJSONRoundTrip() throws {
            var r = Self.record(1)
            r.media = [CallMedia(type: "audio", port: 4000, codecs: ["PCMU"])]
            r.transferredTo = "sip:carol@example.com"
            let line = r.jsonLine()
            #expect(line.contains("\"invite\":\"2026-12-01T10:34:18.412+01:00\""))
            #expect(line.contains("\"inviteUs\":\(r.inviteAt.microseconds)"))
            let back = try CallRecord.decode(jsonLine: line)
            #expect(back == r)
        }
    }
}
