import Foundation
import SIPProxy
import Testing

/// A participant's phone REFERs someone to the room it is in (RFC 4579 §5.5, the "merge" button): the room calls
/// that user through the location service, seats it when it answers and tells the referrer in NOTIFYs (RFC 3515).
/// The referrer is the test's own SIP socket (RoomParticipant), so every REFER, 202 and NOTIFY is checked as sent;
/// the referred user is a registered SIPp.
@Suite("Conference rooms: REFER to the room", .serialized)
struct ConferenceReferTests {
    /// The sipfrag body of a NOTIFY (after the blank line).
    static func body(_ message: String) -> String {
        message.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("alice in room 800 REFERs bob: 202, NOTIFY 100 Trying, bob's phone gets the room's INVITE and answers, NOTIFY 200 OK; bob is listed and RTP flows both ways")
    func referBringsIn() async throws {
        let bed = try await TestBed("conference-refer", proxyArguments: ["--conference", "800", "--rtp-ports", "30400-30439"], logLevel: "info")
        defer { bed.shutdown() }
        let bobPhone = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bobPhone)
        let bob = try bed.start("uas-conference-referred.xml", as: bobPhone, client: false, timeout: 60, extraArguments: ["-rtp_echo"])
        #expect(await bob.waitListening())
        let alice = try RoomParticipant("alice", ip: "127.0.0.11", proxy: (bed.proxy.ip, bed.proxy.port))
        try alice.join("800")

        let accepted = try alice.refer("sip:bob@\(bed.proxy.ip):\(bed.proxy.port)")
        #expect(accepted.flatMap(statusCode) == 202, "REFER to the room is accepted\n\(accepted ?? "no response")\n\(bed.proxy.logTail())")
        let trying = try alice.notify()
        #expect(trying.map(Self.body) == "SIP/2.0 100 Trying", "\(trying ?? "no NOTIFY")\n\(bed.proxy.logTail())")
        #expect(trying.flatMap { headerValue($0, "Event") }?.hasPrefix("refer") == true, "\(trying ?? "")")
        #expect(trying.flatMap { headerValue($0, "Subscription-State") }?.hasPrefix("active") == true, "\(trying ?? "")")
        #expect(trying.flatMap { headerValue($0, "Content-Type") }?.hasPrefix("message/sipfrag") == true, "\(trying ?? "")")
        #expect(trying.flatMap { headerValue($0, "Call-ID") } == alice.callID, "in the REFER's dialog")
        let done = try alice.notify()
        #expect(done.map(Self.body) == "SIP/2.0 200 OK", "\(done ?? "no final NOTIFY")\n\(bed.proxy.logTail())")
        #expect(done.flatMap { headerValue($0, "Subscription-State") }?.hasPrefix("terminated") == true, "\(done ?? "")")

        // bob is in the room, and the room's mix reaches him (SIPp echoes it back: packets both ways).
        let rooms = try await ConferenceMixTests.rooms(bed) { rooms in
            rooms.first?.participants.first { $0.user == "bob" }.map { $0.packetsOut > 20 && $0.packetsIn > 20 } == true
        }
        let users = Set(rooms.first?.participants.map(\.user) ?? [])
        #expect(users == ["alice", "bob"], "\(rooms)")
        let seated = rooms.first?.participants.first { $0.user == "bob" }
        #expect(seated?.codec == "PCMU" && (seated?.packetsOut ?? 0) > 20 && (seated?.packetsIn ?? 0) > 20, "\(rooms)")

        // The room ends bob's call with a BYE (his scenario waits for it); alice hangs up herself.
        let kick = try await sipctl(["conference", "kick", "800", "bob"], cwd: bed.directory)
        #expect(kick.succeeded, "\(kick)")
        let bobDone = await bob.wait()
        #expect(bobDone.passed, "bob got the room's INVITE (PCMU, telephone-event, isfocus) and its BYE\n\(bed.diagnostics(bobDone))")
        #expect(try alice.hangUp())
        // bob's leg is a call of room 800 in the journal, placed by the room.
        let records = try await SIPpJournalTests.waitForRecords(bed, count: 2, timeout: .seconds(8))
        let legs = records.filter { $0.conference == "800" }
        #expect(legs.count == 2 && legs.contains { $0.callee.contains("bob") && $0.caller.contains("800") }, "\(records)")
    }

    @Test("a REFER to a busy user: NOTIFY 486 and nobody seated; to an unknown user: NOTIFY 404")
    func referRefused() async throws {
        let bed = try await TestBed("conference-refer-busy", proxyArguments: ["--conference", "800", "--rtp-ports", "30440-30479"],
                                    logLevel: "info")
        defer { bed.shutdown() }
        let bobPhone = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bobPhone)
        let bob = try await bed.startUAS("uas-busy.xml", as: bobPhone, timeout: 30)
        let alice = try RoomParticipant("alice", ip: "127.0.0.11", proxy: (bed.proxy.ip, bed.proxy.port))
        try alice.join("800")

        #expect(try alice.refer("sip:bob@\(bed.proxy.ip)").flatMap(statusCode) == 202)
        #expect(try alice.notify().map(Self.body) == "SIP/2.0 100 Trying")
        let busy = try alice.notify()
        #expect(busy.map(Self.body) == "SIP/2.0 486 Busy Here", "\(busy ?? "no final NOTIFY")\n\(bed.proxy.logTail())")
        #expect(busy.flatMap { headerValue($0, "Subscription-State") }?.hasPrefix("terminated") == true, "\(busy ?? "")")
        let bobDone = await bob.wait()
        #expect(bobDone.passed, "\(bed.diagnostics(bobDone))")

        #expect(try alice.refer("sip:zed@\(bed.proxy.ip)").flatMap(statusCode) == 202)
        #expect(try alice.notify().map(Self.body) == "SIP/2.0 100 Trying")
        #expect(try alice.notify().map(Self.body) == "SIP/2.0 404 Not Found")

        let rooms = try await ConferenceMixTests.rooms(bed)
        #expect(rooms.first?.participants.map(\.user) == ["alice"], "nobody else seated: \(rooms)")
        #expect(try alice.hangUp())
    }
    @Test("REFER options: an unknown Require gets 420 with Unsupported; Refer-Sub: false gets a 202 saying so and no NOTIFY; a REFER outside any dialog to the room URI gets its NOTIFYs at its Contact")
    func referOptions() async throws {
        let bed = try await TestBed("conference-refer-options", proxyArguments: ["--conference", "800", "--rtp-ports", "30480-30519"],
                                    logLevel: "info")
        defer { bed.shutdown() }
        let alice = try RoomParticipant("alice", ip: "127.0.0.11", proxy: (bed.proxy.ip, bed.proxy.port))
        try alice.join("800")

        let required = try alice.refer("sip:zed@\(bed.proxy.ip)", extra: ["Require: foo-extension"])
        #expect(required.flatMap(statusCode) == 420 && required.flatMap { headerValue($0, "Unsupported") } == "foo-extension",
                "RFC 3261 §8.2.2.3\n\(required ?? "no response")")

        let quiet = try alice.refer("sip:zed@\(bed.proxy.ip)", extra: ["Refer-Sub: false"])
        #expect(quiet.flatMap(statusCode) == 202 && quiet.flatMap { headerValue($0, "Refer-Sub") } == "false",
                "RFC 4488 §4\n\(quiet ?? "no response")")
        #expect(try alice.notify(timeout: 2) == nil, "no subscription, no NOTIFY")

        // carol is in no dialog with the room: her REFER to its URI makes one, and the NOTIFYs come to her Contact.
        let carol = try RoomParticipant("carol", ip: "127.0.0.13", proxy: (bed.proxy.ip, bed.proxy.port))
        let outside = try carol.refer(room: "800", "sip:zed@\(bed.proxy.ip)")
        #expect(outside.flatMap(statusCode) == 202, "\(outside ?? "no response")\n\(bed.proxy.logTail())")
        let trying = try carol.notify()
        #expect(trying.map(Self.body) == "SIP/2.0 100 Trying" && trying.flatMap { headerValue($0, "Call-ID") } == carol.callID,
                "\(trying ?? "no NOTIFY")\n\(bed.proxy.logTail())")
        #expect(try carol.notify().map(Self.body) == "SIP/2.0 404 Not Found")
        #expect(try alice.hangUp())
    }
}
