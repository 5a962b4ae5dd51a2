// JSONObjectBuilder and CallRecord.jsonLine: the hand-written journal line is the very text JSONEncoder writes
// (sorted keys, slashes unescaped), for plain, full and hostile records, and it reads back equal.

import Foundation
import Testing

@testable import SIPProxy

extension CallLogTests {
    @Suite("JSONObjectBuilder")
    struct JSONObjectBuilderTests {
        static func encoderLine(_ record: CallRecord) throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(record), as: UTF8.self)
        }

        /// Every field set, with text that needs escaping and numbers of every shape.
        static func fullRecord() -> CallRecord {
            var r = CallRecord(
                callID: "a84b4c76e66710@pc33.example.com", fromTag: "1928301774",
                caller: "sip:alice@example.com", callerName: "Alice \"Al\" O\\Neil/ä€😀",
                callee: "sip:bob@example.com;user=phone", calleeName: "Bôb\t\n\r\u{08}\u{0C}\u{01}\u{1F}\u{7F}",
                inviteAt: CallFixtures.at(0), timeZone: TimeZone(secondsFromGMT: -5 * 3600 - 1800)!
            )
            r.source = "192.0.2.10:5060"
            r.answeredFrom = "[2001:db8::1]:5062"
            r.answeringContact = "<sip:bob@192.0.2.20:5062;transport=tcp>"
            r.ringingAt = CallFixtures.at(0.25)
            r.answeredAt = CallFixtures.at(5.8)
            r.finalCode = 200
            r.finalReason = "Prijatý"
            r.hungUpBy = .callee
            r.media = [
                CallMedia(type: "audio", port: 4000, codecs: ["PCMU", "telephone-event"]),
                CallMedia(type: "video", port: 0, codecs: []),
            ]
            r.videoAdded = true
            r.transferredTo = "sip:carol@example.com?Replaces=abc%40host"
            r.transferredFrom = "other-call"
            r.forwardedTo = "sip:dave@example.com"
            r.forwardReason = "no-answer"
            r.forwardChain = ["sip:carol@example.com", "sip:dave@example.com"]
            r.rtp = [
                CallRTP(
                    media: "audio", codec: "PCMU",
                    fromCaller: RTPStreamSummary(packets: 500, octets: 86_000, lost: 3, jitterMs: 1.25),
                    fromCallee: RTPStreamSummary(packets: 499, octets: 85_828, lost: 0, jitterMs: 0)
                ),
                CallRTP(media: "video", codec: nil, fromCaller: RTPStreamSummary(), fromCallee: RTPStreamSummary()),
            ]
            r.conference = "800"
            r.instance = "proxy-a"
            r.close(.completed, at: CallFixtures.at(14.02))
            return r
        }

        @Test func sameTextAsJSONEncoder() throws {
            let minimal = CallRecord(
                callID: "x", fromTag: "", caller: "sip:a@b", callee: "sip:c@d", inviteAt: CallFixtures.at(0),
                timeZone: CallFixtures.zone
            )
            var unanswered = CallLogTests.JournalTests.record(7, outcome: .cancelled)
            unanswered.ringSeconds = 0.001
            var long = Self.fullRecord()
            long.talkSeconds = 123_456.789
            long.ringSeconds = 3
            for record in [minimal, unanswered, Self.fullRecord(), long] {
                let line = record.jsonLine()
                #expect(line == (try Self.encoderLine(record)))
                #expect(!line.contains("\n"))
                #expect(try CallRecord.decode(jsonLine: line) == record)
            }
        }

        @Test func numbersAndStrings() throws {
            for value in [0.0, 1.0, -2.5, 0.001, 5.8, 9.02, 1e-7, 123_456.789, 1e21, Double.pi] {
                let encoded = String(decoding: try JSONEncoder().encode([value]), as: UTF8.self)
                #expect("[\(JSONObjectBuilder.number(value))]" == encoded, "\(value)")
            }
            let hostile = (0..<0x80).map { String(UnicodeScalar(UInt8($0))) }.joined() + "ž\u{2028}/"
            let encoder = JSONEncoder()
            encoder.outputFormatting = .withoutEscapingSlashes
            let expected = String(decoding: try encoder.encode([hostile]), as: UTF8.self)
            #expect("[\(JSONObjectBuilder.quoted(hostile))]" == expected)
        }
    }
}
