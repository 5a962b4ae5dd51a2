import Foundation
import SIPProxy
import Testing

/// Conference rooms hosted by the proxy, with real phones: three baresip phones dial 800, each sending its own
/// tone; each must hear the other two and not itself (the N-1 mix).
@Suite("Conference rooms", .serialized)
struct ConferenceTests {
    @Test("three baresip phones dial 800: each hears the other two tones and not its own; the room is listed; the journal has the legs")
    func threePhones() async throws {
        let call = try await ConferenceCall.run(proxyArguments: ["--conference", ConferenceCall.room, "--rtp-ports", "30200-30299",
                                                                 "--trace-flush-ms", "0"])
        var passed = true
        func check(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition {
                passed = false
                Issue.record(Comment(rawValue: message()))
            }
        }
        check(call.completed, "the script did not run every step")
        for phone in ConferenceCall.phones {
            guard let heard = call.heard[phone.name] else {
                check(false, "\(phone.name) recorded nothing")
                continue
            }
            let others = ConferenceCall.phones.filter { $0.name != phone.name }
            for other in others {
                check(heard.relativePower(at: Double(other.tone)) >= 0.15,
                      "\(phone.name) hears \(other.name)'s \(other.tone) Hz: \(heard)")
            }
            check(heard.relativePower(at: Double(phone.tone)) <= 0.01, "\(phone.name) does not hear itself: \(heard)")
            check(heard.voicedDuration >= 2, "\(phone.name) heard sound for 2 s at least: \(heard)")
        }
        // The room while everyone was in it, and after.
        let rooms = (try? ControlCoding.decode([ConferenceInfo].self, from: call.conferenceJSON.trimmingCharacters(in: .whitespacesAndNewlines))) ?? []
        check(rooms.first?.room == ConferenceCall.room && Set(rooms.first?.participants.map(\.user) ?? []) == ["alice", "bob", "carol"],
              "sipctl conference list --json shows the room and its three participants\n\(call.conferenceJSON)")
        check(rooms.first?.participants.allSatisfy { $0.packetsIn > 50 && $0.packetsOut > 50 } == true, "\(call.conferenceJSON)")
        check(call.conferenceText.contains("room 800: 3 participant(s)"), "\(call.conferenceText)")
        check(call.conferenceAfter.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "the room ends with its last participant\n\(call.conferenceAfter)")
        // Each leg is a call in the journal, answered by the room.
        let legs = call.journal.split(separator: "\n").filter { $0.contains("\"callee\":\"sip:800@") }
        check(legs.count == 3 && legs.allSatisfy { $0.contains("\"outcome\":\"completed\"") }, "three legs in the journal\n\(call.journal)")
        // The room's RTP is in the trace: each participant's stream to the room and the mix back.
        let file = traceFiles(in: call.directory.appendingPathComponent("traces")).first
        if let file {
            let streams = try await ToolRunner.run("/usr/bin/env", ["tshark", "-q", "-z", "rtp,streams", "-r", file.path], in: call.directory)
            let rows = streams.stdout.split(separator: "\n").filter { $0.contains("g711") }
            check(rows.count >= 6, "six RTP streams (three in, three mixes out)\n\(streams.stdout)")
        } else {
            check(false, "no trace file")
        }
        if passed {
            try? FileManager.default.removeItem(at: call.directory)
        } else {
            Issue.record(Comment(rawValue: "the conference in detail:\n\(call.context)"))
        }
    }
}
