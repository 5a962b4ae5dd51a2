// CallQuery and CallFormatter: filter parsing (and its errors), golden table / CSV / JSON / summary output.

import Foundation
import Testing

@testable import SIPProxy

extension CallLogTests {
    @Suite("CallQuery")
    struct QueryTests {
        let zone = CallFixtures.zone
        let now = CallFixtures.t0  // 2026-12-01T10:33:18.412+01:00

        var records: [CallRecord] {
            var a = JournalTests.record(1)  // 10:34:18, completed, 9 s talk
            a.ringSeconds = 5
            var b = JournalTests.record(2, outcome: .busy)
            b.callee = "sip:carol@example.com"
            b.finalCode = 486
            b.finalReason = "Busy Here"
            var c = JournalTests.record(3, outcome: .cancelled)
            c.caller = "sip:dave@example.com"
            c.callerName = "Dave, \"the\" boss"
            c.finalCode = 487
            c.finalReason = "Request Terminated"
            return [a, b, c]
        }

        @Test func times() throws {
            let parse = { (text: String) in try CallQuery.parseTime(text, now: self.now, timeZone: self.zone) }
            #expect(try parse("2h") == self.now.adding(seconds: -7200))
            #expect(try parse("30m") == self.now.adding(seconds: -1800))
            #expect(try parse("1d") == self.now.adding(seconds: -86_400))
            #expect(try parse("10:00").iso8601(in: self.zone) == "2026-12-01T10:00:00.000+01:00")
            #expect(try parse("2026-11-30").iso8601(in: self.zone) == "2026-11-30T00:00:00.000+01:00")
            #expect(try parse("2026-11-30T08:15").iso8601(in: self.zone) == "2026-11-30T08:15:00.000+01:00")
            #expect(try parse("2026-11-30T08:15:00Z").iso8601(in: self.zone) == "2026-11-30T09:15:00.000+01:00")
            #expect(try parse("2026-12-01T10:33:18.412+01:00") == self.now)
            #expect(try parse("yesterday").iso8601(in: self.zone) == "2026-11-30T00:00:00.000+01:00")
            for bad in ["", "tomorrowish", "25:00", "2h30", "2026-13-01", "10:61", "-2h"] {
                #expect(throws: CallLogError.self, "\(bad)") { try parse(bad) }
            }
        }

        @Test func badFiltersAreOneLineErrors() {
            func error(_ body: () throws(CallLogError) -> CallQuery) -> String? {
                do {
                    _ = try body()
                    return nil
                } catch {
                    return error.description
                }
            }
            #expect(
                error { () throws(CallLogError) in
                    try CallQuery.parse(outcome: "bogus", now: self.now, timeZone: self.zone)
                }
                    == "unknown outcome 'bogus' (one of: completed, cancelled, declined, busy, no-answer, "
                    + "unreachable, failed, timed-out, interrupted, media-timeout)"
            )
            #expect(
                error { () throws(CallLogError) in try CallQuery.parse(limit: 0, now: self.now, timeZone: self.zone) }
                    == "--limit must be a positive number"
            )
            #expect(
                error { () throws(CallLogError) in
                    try CallQuery.parse(since: "1h", until: "2h", now: self.now, timeZone: self.zone)
                } == "--until must be later than --since"
            )
            #expect(
                error { () throws(CallLogError) in
                    try CallQuery.parse(since: "soon", now: self.now, timeZone: self.zone)
                }?.hasPrefix("cannot read time 'soon'") == true
            )
        }

        @Test func filters() throws {
            let all = self.records
            func ids(_ q: CallQuery) -> [String] { q.apply(all).map(\.callID) }
            let p = { (since: String?, until: String?, user: String?, outcome: String?, limit: Int?) in
                try CallQuery.parse(
                    since: since, until: until, user: user, outcome: outcome, limit: limit, now: self.now.adding(
                        seconds: 3600), timeZone: self.zone
                )
            }
            #expect(ids(try p(nil, nil, nil, nil, nil)) == ["call-1", "call-2", "call-3"])
            #expect(ids(try p("10:35", nil, nil, nil, nil)) == ["call-2", "call-3"])
            #expect(ids(try p(nil, "10:35", nil, nil, nil)) == ["call-1"])
            #expect(ids(try p(nil, nil, "carol", nil, nil)) == ["call-2"])
            #expect(ids(try p(nil, nil, "dave@example.com", nil, nil)) == ["call-3"])
            #expect(ids(try p(nil, nil, "ALICE", nil, nil)) == ["call-1", "call-2"])
            #expect(ids(try p(nil, nil, nil, "busy,cancelled", nil)) == ["call-2", "call-3"])
            #expect(ids(try p(nil, nil, nil, nil, 2)) == ["call-2", "call-3"])
        }

        @Test func table() {
            #expect(
                CallFormatter.table(self.records, timeZone: self.zone) == """
                    TIME                 CALLER             CALLEE             OUTCOME    CODE  RING S  TALK S  HUNG UP BY  CALL-ID
                    2026-12-01 10:34:18  alice@example.com  bob@example.com    completed  200   5.0     9.0     caller      call-1
                    2026-12-01 10:35:18  alice@example.com  carol@example.com  busy       486   14.0    -       -           call-2
                    2026-12-01 10:36:18  dave@example.com   bob@example.com    cancelled  487   14.0    -       -           call-3

                    """
            )
            #expect(CallFormatter.table([], timeZone: self.zone) == "no calls\n")
        }

        @Test func csv() {
            let lines = CallFormatter.csv(self.records).components(separatedBy: "\r\n")
            #expect(
                lines[0]
                    == "invite,caller,callee,outcome,code,reason,ring_s,talk_s,hung_up_by,call_id,source,answered_from,"
                    + "transferred_to,transferred_from"
            )
            #expect(
                lines[1]
                    == "2026-12-01T10:34:18.412+01:00,sip:alice@example.com,sip:bob@example.com,completed,200,OK,5.000,"
                    + "9.000,caller,call-1,,,,"
            )
            #expect(
                lines[2]
                    == "2026-12-01T10:35:18.412+01:00,sip:alice@example.com,sip:carol@example.com,busy,486,Busy Here,"
                    + "14.000,,,call-2,,,,"
            )
            #expect(lines.count == 5 && lines[4] == "")
            var odd = self.records[0]
            odd.finalReason = "OK, \"fine\""
            #expect(CallFormatter.csv([odd]).contains(",\"OK, \"\"fine\"\"\","))
        }

        @Test func json() throws {
            let text = try CallFormatter.json(Array(self.records.prefix(1)))
            #expect(text.hasPrefix("[\n{\"answer\":\"2026-12-01T10:34:23.412+01:00\","))
            #expect(text.hasSuffix("}\n]\n"))
            let decoded = try JSONDecoder().decode([CallRecord].self, from: Data(text.utf8))
            #expect(decoded == Array(self.records.prefix(1)))
            #expect(try CallFormatter.json([]) == "[]\n")
        }

        @Test func summary() {
            #expect(
                CallFormatter.summary(self.records) == "3 calls: 1 completed, 1 cancelled, 1 busy; talk time 0:00:09"
            )
            #expect(CallFormatter.summary([]) == "no calls")
        }

        @Test func liveChanges() {
            var ringing = JournalTests.record(1)
            ringing.outcome = nil
            ringing.answeredAt = nil
            ringing.ringingAt = CallFixtures.at(61)
            var answered = ringing
            answered.answeredAt = CallFixtures.at(65)
            let at = CallFixtures.at(70)
            #expect(
                CallFormatter.liveChanges(from: [], to: [ringing], now: at, timeZone: self.zone)
                    == ["10:34:28 alice called bob", "10:34:28 bob ringing"]
            )
            #expect(
                CallFormatter.liveChanges(from: [ringing], to: [answered], now: at, timeZone: self.zone)
                    == ["10:34:28 bob answered alice"]
            )
            #expect(
                CallFormatter.liveChanges(from: [answered], to: [], now: at, timeZone: self.zone)
                    == ["10:34:28 call alice–bob ended after 5 s"]
            )
        }

        @Test func iso8601() {
            #expect(CallFixtures.t0.iso8601(in: self.zone) == "2026-12-01T10:33:18.412+01:00")
            #expect(CallFixtures.t0.iso8601(in: TimeZone(secondsFromGMT: -16_200)!) == "2026-12-01T05:03:18.412-04:30")
            let epoch = WallClock(microseconds: 0).iso8601(in: TimeZone(secondsFromGMT: 0)!)
            #expect(epoch == "1970-01-01T00:00:00.000+00:00")
        }
    }
}
