import Foundation
import SIPProxy
import Testing

/// The limit on participants in all rooms together (`--conference-participants`), answered 503 with Retry-After,
/// shown by `sipctl status`; and `sipctl conference show --json` with every field of a room and a participant.
@Suite("Conference rooms: participant limit, show --json")
struct ConferenceLimitTests {
    @Test("--conference-participants 2: a third caller in another room gets 503 with Retry-After; status shows the limits; show --json lists the room's fields")
    func participantLimit() async throws {
        let bed = try await TestBed("conference-limit", proxyArguments: [
            "--conference", "800", "--conference", "801", "--conference-participants", "2", "--rtp-ports", "30480-30519",
        ], logLevel: "info")
        defer { bed.shutdown() }
        let proxy = (bed.proxy.ip, bed.proxy.port)
        let alice = try RoomParticipant("alice", ip: "127.0.0.11", proxy: proxy)
        let bob = try RoomParticipant("bob", ip: "127.0.0.12", proxy: proxy)
        try alice.join("800")
        try bob.join("801")
        let carol = try RoomParticipant("carol", ip: "127.0.0.13", proxy: proxy)
        let sdp = "v=0\r\no=carol 1 1 IN IP4 127.0.0.13\r\ns=-\r\nc=IN IP4 127.0.0.13\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
        try carol.send("INVITE", uri: "sip:801@\(bed.proxy.ip):\(bed.proxy.port)", to: "<sip:801@\(bed.proxy.ip)>", body: sdp,
                       contentType: "application/sdp")
        let refused = carol.next { statusCode($0).map { $0 >= 200 } == true }
        #expect(refused.flatMap(statusCode) == 503, "\(refused ?? "no final response")\n\(bed.proxy.logTail())")
        #expect(refused.flatMap { headerValue($0, "Retry-After") }.flatMap { Int($0) } != nil, "\(refused ?? "")")

        let status = try await sipctl(["status"], cwd: bed.directory)
        #expect(status.stdout.contains("conference: 30 per room, 2 in all rooms"), "\(status)")

        // `show 800 --json`: one room with its fields, alice's participant with hers.
        let shown = try await sipctl(["conference", "show", "800", "--json"], cwd: bed.directory)
        #expect(shown.succeeded, "\(shown)")
        let json = shown.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let rooms = try ControlCoding.decode([ConferenceInfo].self, from: json)
        #expect(rooms.count == 1 && rooms.first?.room == "800" && rooms.first?.locked == false && rooms.first?.pin == nil, "\(json)")
        let participant = try #require(rooms.first?.participants.first, "\(json)")
        #expect(rooms.first?.participants.count == 1)
        #expect(participant.user == "alice" && participant.callID == alice.callID && participant.codec == "PCMU" && !participant.muted)
        #expect((30480...30519).contains(participant.port), "\(json)")
        #expect(!participant.joinedAt.isEmpty && participant.awaitingPIN == nil, "\(json)")
        for key in ["\"room\"", "\"locked\"", "\"participants\"", "\"callID\"", "\"user\"", "\"codec\"", "\"muted\"", "\"port\"",
                    "\"packetsIn\"", "\"packetsOut\"", "\"lost\"", "\"jitterMs\"", "\"joinedAt\""] {
            #expect(json.contains(key), "show --json has \(key): \(json)")
        }
        #expect(!json.contains("\"801\""), "only the room asked for: \(json)")
        #expect(try alice.hangUp() && bob.hangUp())
    }
}
