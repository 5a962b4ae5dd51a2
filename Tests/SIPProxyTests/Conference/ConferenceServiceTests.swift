// Seating callers: the SDP answer, and the limits answered with 486, 488 and 503 rather than a crash.

import Logging
import NIOCore
import NIOPosix
import Testing

@testable import SIPProxy

@Suite("Conference: seating and limits")
struct ConferenceServiceTests {
    static func offer(_ formats: String = "0 8 101", proto: String = "RTP/AVP", video: Bool = true) -> [UInt8] {
        var sdp = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            + "m=audio 4000 \(proto) \(formats)\r\na=rtpmap:101 telephone-event/8000\r\n"
        if video { sdp += "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" }
        return Array(sdp.utf8)
    }

    @Test("the answer keeps the offer's lines: audio on the room's port with the offerer's codec and telephone-event, video refused")
    func answerAndLimits() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var settings = ConferenceSettings()
        settings.rooms = ["800"]
        settings.maxRoomSize = 2
        settings.maxParticipants = 3
        let pool = MediaPortPool(range: 39200...39207, address: try SocketAddress(ipAddress: "127.0.0.1", port: 0))
        let service = ConferenceService(settings: settings, loops: [group.next()], pool: pool, sdpAddress: "192.0.2.1",
                                        recorder: nil, traceRTP: .off, logger: Logger(label: "test"))
        #expect(service.isRoom("800") && !service.isRoom("801") && !service.isRoom(nil))
        let answer = String(decoding: try service.join(room: "800", callID: "a", user: "alice", offer: Self.offer("8 0 101")).get(), as: UTF8.self)
        #expect(answer.contains("c=IN IP4 192.0.2.1\r\n"))
        #expect(answer.contains("m=audio 39200 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"))
        #expect(answer.contains("m=video 0 RTP/AVP 96\r\n"), "video is answered with port 0\n\(answer)")
        // A re-INVITE keeps the seat and raises the session version.
        let again = String(decoding: try service.join(room: "800", callID: "a", user: "alice", offer: Self.offer()).get(), as: UTF8.self)
        #expect(again.contains("m=audio 39200 ") && again.contains(" 2 IN IP4 192.0.2.1"))
        #expect(service.join(room: "800", callID: "g729", user: "x", offer: Self.offer("18")) == .failure(.notAcceptable))
        #expect(service.join(room: "800", callID: "srtp", user: "x", offer: Self.offer("0", proto: "RTP/SAVP")) == .failure(.notAcceptable))
        _ = try service.join(room: "800", callID: "b", user: "bob", offer: Self.offer()).get()
        #expect(service.join(room: "800", callID: "c", user: "carol", offer: Self.offer()) == .failure(.full), "room size 2")
        service.leave(callID: "b")
        service.lock(room: "800", true)
        #expect(service.join(room: "800", callID: "c", user: "carol", offer: Self.offer()) == .failure(.full), "locked")
        service.lock(room: "800", false)
        _ = try service.join(room: "800", callID: "c", user: "carol", offer: Self.offer()).get()
        let rooms = try await service.list(on: group.next()).get()
        #expect(rooms.first?.participants.map(\.user) == ["alice", "carol"])
        service.leave(callID: "a")
        service.leave(callID: "c")
        // The ports come back once the room closed the sockets.
        for _ in 0..<50 where pool.inUse > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(pool.inUse == 0)
        #expect(try await service.list(on: group.next()).get().isEmpty, "the room ends with its last participant")
        try await group.shutdownGracefully()
    }
}

@Suite("Conference: admission under concurrent joins")
struct ConferenceAdmissionTests {
    @Test("shards joining one room at once never seat more than its size, and every refused join gives its port back")
    func concurrentJoinsKeepTheLimit() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var settings = ConferenceSettings()
        settings.rooms = ["800"]
        settings.maxRoomSize = 5
        let pool = MediaPortPool(range: 39300...39363, address: try SocketAddress(ipAddress: "127.0.0.1", port: 0))
        let service = ConferenceService(settings: settings, loops: [group.next()], pool: pool, sdpAddress: "192.0.2.1",
                                        recorder: nil, traceRTP: .off, logger: Logger(label: "test"))
        // 24 callers on 8 threads at once: the admission check and the seat are one step.
        let seated = await withTaskGroup(of: Int.self) { tasks in
            for worker in 0..<8 {
                tasks.addTask {
                    var mine = 0
                    for n in 0..<3 {
                        let result = service.join(room: "800", callID: "c-\(worker)-\(n)", user: "u\(worker)\(n)",
                                                  offer: ConferenceServiceTests.offer())
                        if case .success = result { mine += 1 }
                    }
                    return mine
                }
            }
            return await tasks.reduce(0, +)
        }
        #expect(seated == 5)
        #expect(pool.inUse == 5, "five seats hold a port pair each; refused joins gave theirs back: \(pool.inUse)")
        try await group.shutdownGracefully()
    }
}

@Suite("Conference: the room's own offer (REFER to the room)")
struct ConferenceOfferTests {
    static func service(participants: Int = 200, ports: ClosedRange<Int>) throws -> (ConferenceService, MediaPortPool, MultiThreadedEventLoopGroup) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var settings = ConferenceSettings()
        settings.rooms = ["800"]
        settings.maxRoomSize = 3
        settings.maxParticipants = participants
        let pool = MediaPortPool(range: ports, address: try SocketAddress(ipAddress: "127.0.0.1", port: 0))
        let service = ConferenceService(settings: settings, loops: [group.next()], pool: pool, sdpAddress: "192.0.2.1",
                                        recorder: nil, traceRTP: .off, logger: Logger(label: "test"))
        return (service, pool, group)
    }

    @Test("the room offers G.722, G.711 and Opus with telephone-event; the answer's codec seats the party")
    func offerAndAnswer() async throws {
        let (service, pool, group) = try Self.service(ports: 39220...39227)
        let offer = String(decoding: try service.offer(room: "800", callID: "r1").get(), as: UTF8.self)
        #expect(offer.contains("c=IN IP4 192.0.2.1\r\n"))
        #expect(offer.contains("m=audio 39220 RTP/AVP 9 0 8 111 101 102\r\n"), "\(offer)")
        #expect(offer.contains("a=rtpmap:111 opus/48000/2\r\n") && offer.contains("a=rtpmap:101 telephone-event/8000\r\n"))
        #expect(offer.contains("a=sendrecv\r\n"))
        #expect(pool.inUse == 1, "the offer holds its port")
        // The answer picks PCMU, with telephone-event; its rtpmap for 0 is left out (static type).
        let answer = "v=0\r\no=b 1 1 IN IP4 127.0.0.12\r\ns=-\r\nc=IN IP4 127.0.0.12\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\n"
            + "a=rtpmap:101 telephone-event/8000\r\n"
        try service.accept(callID: "r1", user: "bob", answer: Array(answer.utf8)).get()
        #expect(service.isSeated("r1"))
        let rooms = try await service.list(on: group.next()).get()
        #expect(rooms.first?.participants.map(\.user) == ["bob"] && rooms.first?.participants.first?.codec == "PCMU")
        #expect(rooms.first?.participants.first?.port == 39220)
        service.leave(callID: "r1")
        for _ in 0..<50 where pool.inUse > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(pool.inUse == 0)
        try await group.shutdownGracefully()
    }

    @Test("an answer without a room codec is refused (488) and a withdrawn offer gives its port back")
    func refusedAndWithdrawn() async throws {
        let (service, pool, group) = try Self.service(ports: 39230...39237)
        _ = try service.offer(room: "800", callID: "r1").get()
        let g729 = "v=0\r\no=b 1 1 IN IP4 127.0.0.12\r\ns=-\r\nc=IN IP4 127.0.0.12\r\nt=0 0\r\nm=audio 6000 RTP/AVP 18\r\n"
        #expect(throws: ConferenceService.Refusal.notAcceptable) { try service.accept(callID: "r1", user: "bob", answer: Array(g729.utf8)).get() }
        #expect(!service.isSeated("r1") && pool.inUse == 0)
        _ = try service.offer(room: "800", callID: "r2").get()
        #expect(pool.inUse == 1)
        service.withdraw(callID: "r2")
        #expect(pool.inUse == 0)
        #expect(throws: ConferenceService.Refusal.unavailable) { try service.accept(callID: "r2", user: "bob", answer: Array(g729.utf8)).get() }
        try await group.shutdownGracefully()
    }

    @Test("offers waiting for their answer count towards the room size and the participant limit")
    func offersCount() async throws {
        let (service, _, group) = try Self.service(participants: 2, ports: 39240...39249)
        _ = try service.offer(room: "800", callID: "r1").get()
        _ = try service.join(room: "800", callID: "a", user: "alice", offer: ConferenceServiceTests.offer()).get()
        #expect(service.offer(room: "800", callID: "r2") == .failure(.unavailable), "two participants in all: 503")
        #expect(service.join(room: "800", callID: "b", user: "bob", offer: ConferenceServiceTests.offer()) == .failure(.unavailable))
        service.withdraw(callID: "r1")
        _ = try service.join(room: "800", callID: "b", user: "bob", offer: ConferenceServiceTests.offer()).get()
        service.leave(callID: "a")
        service.leave(callID: "b")
        try await group.shutdownGracefully()
    }
}

extension Result where Success == [UInt8], Failure == ConferenceService.Refusal {
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.failure(let a), .failure(let b)): return a == b
        case (.success(let a), .success(let b)): return a == b
        default: return false
        }
    }
}

@Suite("Conference: rooms and PINs as configured, the PIN prompt")
struct ConferenceSettingsTests {
    @Test("`800` and `801:4321` are rooms, the second with a PIN; bad names and PINs are refused")
    func roomsAndPINs() {
        var settings = ConferenceSettings()
        let added = [settings.add("800"), settings.add("801:4321"), settings.add("lab-a.1:*9")]
        #expect(added == [true, true, true])
        #expect(settings.rooms == ["800", "801", "lab-a.1"] && settings.pins == ["801": "4321", "lab-a.1": "*9"])
        for bad in ["", ":1234", "8 00", "800:", "800:12#", "800:abc", "800:12345678901234567", "800:4:1"] {
            let accepted = settings.add(bad)
            #expect(!accepted, "\(bad)")
        }
        #expect(settings.rooms.count == 3)
    }

    @Test("the PIN prompt: a 200 ms 440 Hz beep every 2 s, silence between")
    func prompt() {
        let beep = ConferenceMixer.prompt(tick: 0, frame: 160)
        #expect(beep.count == 160 && beep.map { abs(Int($0)) }.max()! > 4000)
        #expect(ConferenceMixer.prompt(tick: 9, frame: 160).contains { $0 != 0 })
        #expect(ConferenceMixer.prompt(tick: 10, frame: 160).allSatisfy { $0 == 0 })
        #expect(ConferenceMixer.prompt(tick: 99, frame: 160).allSatisfy { $0 == 0 })
        #expect(ConferenceMixer.prompt(tick: 100, frame: 160) == beep)
    }
}
