import Foundation
import SIPProxy
import Testing

/// Conference rooms hosted by the proxy, with real phones: three baresip phones dial 800, each sending its own
/// tone; each must hear the other two and not itself (the N-1 mix).
@Suite("Conference rooms", .serialized)
struct ConferenceTests {
    @Test("three baresip phones dial 800 on PCMU, G.722 and Opus: each hears the other two tones and not its own; the room is listed; the journal has the legs")
    func threePhones() async throws {
        let call = try await ConferenceCall.run(proxyArguments: ["--conference", ConferenceCall.room, "--rtp-ports", "30200-30299",
                                                                 "--trace-flush-ms", "0"])
        let checks = Checks()
        func check(_ condition: Bool, _ message: @autoclosure () -> String) { checks.check(condition, message()) }
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
        // Media flows both ways for every participant (a phone on a loaded machine may have sent only a second's worth).
        check(rooms.first?.participants.allSatisfy { $0.packetsIn > 20 && $0.packetsOut > 20 } == true, "\(call.conferenceJSON)")
        check(rooms.first?.participants.map(\.codec).sorted() == ["G722", "PCMU", "opus"], "bob speaks G.722, carol Opus\n\(call.conferenceJSON)")
        check(call.conferenceText.contains("room 800: 3 participant(s)"), "\(call.conferenceText)")
        check(call.conferenceAfter.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "the room ends with its last participant\n\(call.conferenceAfter)")
        // Each leg is a call in the journal, answered by the room.
        let legs = call.journal.split(separator: "\n").filter { $0.contains("\"callee\":\"sip:800@") }
        check(legs.count == 3 && legs.allSatisfy { $0.contains("\"outcome\":\"completed\"") }, "three legs in the journal\n\(call.journal)")
        // The room's RTP is in the trace: each participant's stream to the room and the mix back.
        let file = traceFiles(in: call.directory.appendingPathComponent("traces")).first
        if let file {
            let streams = try await ToolRunner.run("/usr/bin/env", ["tshark", "-q", "-z", "rtp,streams", "-r", file.path], in: call.directory)
            let rows = streams.stdout.split(separator: "\n").filter { $0.contains("g711") || $0.contains("g722") || $0.lowercased().contains("opus") }
            check(rows.count >= 6, "six RTP streams (three in, three mixes out)\n\(streams.stdout)")
        } else {
            check(false, "no trace file")
        }
        if checks.passed {
            try? FileManager.default.removeItem(at: call.directory)
        } else {
            Issue.record(Comment(rawValue: "the conference in detail:\n\(call.context)"))
        }
    }

    @Test("a blind transfer into the room: alice's phone REFERs bob to 800, bob's phone joins the room and hears carol")
    func transferIntoRoom() async throws {
        let phones = ConferenceCall.transferPhones
        let call = try await ConferenceCall.run(
            proxyArguments: ["--conference", ConferenceCall.room, "--rtp-ports", "30300-30399"], phones: phones,
            script: ConferenceCall.transferScript(phones)
        )
        let checks = Checks()
        func check(_ condition: Bool, _ message: @autoclosure () -> String) { checks.check(condition, message()) }
        check(call.completed, "the script did not run every step")
        // bob's newest call is the one into the room: he hears carol there, not himself; carol hears bob.
        let bob = call.heard["bob"], carol = call.heard["carol"]
        check((bob?.relativePower(at: 1300) ?? 0) >= 0.15, "bob hears carol in the room: \(String(describing: bob))")
        check((bob?.relativePower(at: 800) ?? 1) <= 0.01, "bob does not hear himself: \(String(describing: bob))")
        check((carol?.relativePower(at: 800) ?? 0) >= 0.15, "carol hears bob: \(String(describing: carol))")
        let rooms = (try? ControlCoding.decode([ConferenceInfo].self, from: call.conferenceJSON.trimmingCharacters(in: .whitespacesAndNewlines))) ?? []
        check(Set(rooms.first?.participants.map(\.user) ?? []) == ["bob", "carol"], "bob and carol in 800\n\(call.conferenceJSON)")
        // The journal: alice → bob, then bob's leg into the room, linked to the transfer.
        let lines = call.journal.split(separator: "\n")
        check(lines.contains { $0.contains("\"callee\":\"sip:bob@") }, "alice's call to bob\n\(call.journal)")
        check(lines.contains { $0.contains("\"conference\":\"800\"") && $0.contains("\"caller\":\"sip:bob@") },
              "bob's leg into the room\n\(call.journal)")
        if checks.passed {
            try? FileManager.default.removeItem(at: call.directory)
        } else {
            Issue.record(Comment(rawValue: "the transfer in detail:\n\(call.context)"))
        }
    }
}

/// Expectations that are all evaluated, remembering whether one failed: a phone test keeps its folder (recordings,
/// logs) for a failure and removes it otherwise.
final class Checks {
    private(set) var passed = true

    func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        guard !condition else { return }
        self.passed = false
        Issue.record(Comment(rawValue: message()))
    }
}

/// The room's control and limits over real SIP: SIPp callers dial 800; `sipctl conference` lists, mutes and locks.
@Suite("Conference rooms: control and limits")
struct ConferenceControlTests {
    @Test("sipctl conference list/mute/lock on a room with a SIPp caller; a locked room and a full one answer 486")
    func controlAndLimits() async throws {
        let bed = try await TestBed("conference-control", proxyArguments: [
            "--conference", "800", "--conference-size", "2", "--rtp-ports", "\(40_000 + (Int(getpid()) % 40) * 400 + 300)-\(40_000 + (Int(getpid()) % 40) * 400 + 339)",
        ], logLevel: "info")
        defer { bed.shutdown() }
        // Both seated callers stay long enough for a loaded machine to get through every step before they hang up.
        let alice = try bed.start("uac-call-hold.xml", as: Phone("alice", ip: "127.0.0.11"), client: true, service: "800",
                                  timeout: 60, extraArguments: ["-d", "25000"])
        var listed = ""
        for _ in 0..<80 {
            let r = try await sipctl(["conference", "list", "--json"], cwd: bed.directory)
            listed = r.stdout
            if listed.contains("\"user\":\"alice\"") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(listed.contains("\"room\":\"800\"") && listed.contains("\"user\":\"alice\""), "\(listed)\n\(bed.proxy.logTail())")
        let mute = try await sipctl(["conference", "mute", "800", "alice"], cwd: bed.directory)
        #expect(mute.succeeded && mute.stdout.contains("alice in 800: muted"), "\(mute)")
        let shown = try await sipctl(["conference", "show", "800"], cwd: bed.directory)
        #expect(shown.succeeded && shown.stdout.contains("room 800: 1 participant(s)") && shown.stdout.contains("muted"), "\(shown)")
        let nobody = try await sipctl(["conference", "mute", "800", "zed"], cwd: bed.directory)
        #expect(!nobody.succeeded && nobody.stderr.contains("no participant 'zed' in room 800"), "\(nobody)")
        // Locked: a new caller gets 486; unlocked, the second seat is free; the third caller finds the room full.
        let lock = try await sipctl(["conference", "lock", "800"], cwd: bed.directory)
        #expect(lock.succeeded, "\(lock)")
        let locked = try await bed.run("uac-expect-final.xml", as: Phone("bob", ip: "127.0.0.12"), service: "800", sets: ["code": "486"])
        #expect(locked.passed, "a locked room answers 486\n\(bed.diagnostics(locked))")
        _ = try await sipctl(["conference", "lock", "800", "--off"], cwd: bed.directory)
        let carol = try bed.start("uac-call-hold.xml", as: Phone("carol", ip: "127.0.0.13"), client: true, service: "800",
                                  timeout: 40, extraArguments: ["-d", "12000"])
        for _ in 0..<80 {
            if (try await sipctl(["conference", "list", "--json"], cwd: bed.directory)).stdout.contains("\"user\":\"carol\"") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let full = try await bed.run("uac-expect-final.xml", as: Phone("dave", ip: "127.0.0.14"), service: "800", sets: ["code": "486"])
        #expect(full.passed, "a full room (--conference-size 2) answers 486\n\(bed.diagnostics(full))")
        let c = await carol.wait()
        let a = await alice.wait()
        #expect(a.passed && c.passed, "the seated callers' calls end normally\n\(bed.diagnostics(a, c))")
    }
}
