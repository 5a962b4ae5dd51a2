import Foundation
import SIPProxy
import Testing

/// A conference room over time, with SIPp for the signalling and the test's own RTP sockets for the audio, so every
/// phase is timed by the test: three callers each send a tone and hear the other two; a fourth joins and hears
/// three; `*6` (RFC 4733) mutes one for the others; one hangs up and one is kicked (the proxy's BYE) while the
/// others keep hearing each other; the room ends with its last participant. A room with a PIN keeps a caller
/// apart, hearing a prompt, until it keys the PIN; three wrong PINs end the call.
@Suite("Conference rooms: joins, leaves, *6, kick and PIN", .serialized)
struct ConferenceMixTests {
    /// One participant's audio: a socket on the phone's address that sends a tone as PCMU every 20 ms to the room's
    /// port (the room latches onto it) and keeps what the room sends back, decoded.
    final class Talker {
        let name: String
        let tone: Double
        let socket: RawSocket
        var port: Int?
        var talking = true
        private var sequence: UInt16 = 1
        private var timestamp: UInt32 = 0
        private var phase = 0.0
        /// Samples heard since the last `take()`.
        private(set) var heard: [Float] = []

        init(_ name: String, ip: String, tone: Double) throws {
            self.name = name
            self.tone = tone
            self.socket = try RawSocket(udpOn: ip)
        }

        private func header(payloadType: UInt8, marker: Bool = false) -> [UInt8] {
            let s = self.sequence, t = self.timestamp
            self.sequence &+= 1
            return [0x80, payloadType | (marker ? 0x80 : 0), UInt8(s >> 8), UInt8(s & 0xFF),
                    UInt8(t >> 24), UInt8((t >> 16) & 0xFF), UInt8((t >> 8) & 0xFF), UInt8(t & 0xFF),
                    0x12, 0x34, 0x56, UInt8(self.name.utf8.first ?? 0)]
        }

        /// One 20 ms frame of its tone (amplitude well below full scale, so three together do not clip).
        func sendFrame() throws {
            guard let port = self.port, self.talking else { return }
            var packet = self.header(payloadType: 0)
            for _ in 0..<160 {
                packet.append(G711.ulaw(Int16(6000 * sin(self.phase))))
                self.phase += 2 * Double.pi * self.tone / 8000
            }
            self.timestamp &+= 160
            try self.socket.send(packet, to: "127.0.0.10", port: port)
        }

        /// RFC 4733 §2.5: an event is sent as packets of one timestamp with a growing duration, the last three with
        /// the E bit. Event 10 is `*`, 11 is `#`.
        func sendDigit(_ event: UInt8) throws {
            guard let port = self.port else { return }
            for step in 1...6 {
                let end = step > 3
                let duration = UInt16(min(step, 4) * 160)
                var packet = self.header(payloadType: 101, marker: step == 1)
                packet += [event, (end ? 0x80 : 0) | 10, UInt8(duration >> 8), UInt8(duration & 0xFF)]
                try self.socket.send(packet, to: "127.0.0.10", port: port)
            }
            self.timestamp &+= 800
        }

        func sendDigits(_ text: String) throws {
            for character in text {
                let event: UInt8 = character == "*" ? 10 : character == "#" ? 11 : UInt8(String(character)) ?? 0
                try self.sendDigit(event)
                Thread.sleep(forTimeInterval: 0.06)
            }
        }

        func drain() {
            for datagram in self.socket.drainDatagrams() where datagram.count > 12 && datagram[1] & 0x7F == 0 {
                self.heard += datagram[12...].map { Float(G711.ulawTable[Int($0)]) / 32768 }
            }
        }

        func take() -> [Float] {
            defer { self.heard = [] }
            return self.heard
        }
    }

    /// A caller whose INVITE, ACK and BYE the test sends itself over its own SIP socket, so it hangs up exactly
    /// when the test says (a SIPp caller's `-d` pause runs by the clock, which a loaded machine outruns).
    final class SIPCaller {
        let user: String
        let socket: RawSocket
        let proxy: (ip: String, port: Int)
        let callID = "\(UUID().uuidString)@conference-test"
        private var toValue = ""
        private var vias = 0

        init(_ user: String, ip: String, proxy: (ip: String, port: Int)) throws {
            self.user = user
            self.socket = try RawSocket(udpOn: ip)
            self.proxy = proxy
        }

        private func request(_ method: String, room: String, cseq: Int, to: String, body: String = "") -> String {
            self.vias += 1
            let me = "\(self.socket.localIP):\(self.socket.localPort)"
            var lines = [
                "\(method) sip:\(room)@\(self.proxy.ip):\(self.proxy.port) SIP/2.0",
                "Via: SIP/2.0/UDP \(me);branch=z9hG4bK-\(self.user)-\(self.vias);rport",
                "Max-Forwards: 70", "From: <sip:\(self.user)@\(self.proxy.ip)>;tag=\(self.user)-tag", "To: \(to)",
                "Call-ID: \(self.callID)", "CSeq: \(cseq) \(method)", "Contact: <sip:\(self.user)@\(me)>",
            ]
            if !body.isEmpty { lines.append("Content-Type: application/sdp") }
            lines.append("Content-Length: \(body.utf8.count)")
            return lines.joined(separator: "\r\n") + "\r\n\r\n" + body
        }

        /// INVITE (PCMU and telephone-event), the 2xx, ACK.
        func join(_ room: String) throws {
            let ip = self.socket.localIP
            let sdp = ["v=0", "o=\(self.user) 1 1 IN IP4 \(ip)", "s=-", "c=IN IP4 \(ip)", "t=0 0", "m=audio 4000 RTP/AVP 0 101",
                       "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", ""].joined(separator: "\r\n")
            try self.socket.send(self.request("INVITE", room: room, cseq: 1, to: "<sip:\(room)@\(self.proxy.ip)>", body: sdp),
                                 to: self.proxy.ip, port: self.proxy.port)
            let answer = self.socket.receive(timeout: 10) { $0.contains { $0.hasPrefix("SIP/2.0 200") } }.messages
                .first { $0.hasPrefix("SIP/2.0 200") }
            guard let answer, let to = answer.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("to:") }) else {
                throw TestSupportError("\(self.user): no 200 to the INVITE")
            }
            self.toValue = String(to.dropFirst(3)).trimmingCharacters(in: .whitespaces)
            try self.socket.send(self.request("ACK", room: room, cseq: 1, to: self.toValue), to: self.proxy.ip, port: self.proxy.port)
        }

        /// BYE, and its 200.
        func hangUp(_ room: String) throws -> Bool {
            try self.socket.send(self.request("BYE", room: room, cseq: 2, to: self.toValue), to: self.proxy.ip, port: self.proxy.port)
            return self.socket.receive(timeout: 10) { $0.contains { $0.hasPrefix("SIP/2.0 200") && $0.contains("BYE") } }
                .messages.contains { $0.hasPrefix("SIP/2.0 200") && $0.contains("BYE") }
        }
    }

    static let frequencies: [Double] = [400, 800, 1300, 1800, 440]

    /// Sends and receives on a 20 ms clock: first until every talker hears the room (at least `settle` seconds, and
    /// until each has 0.4 s of audio back, at most 10 s more: a loaded machine may take a while to latch and fill
    /// the jitter buffers), then for `seconds`; returns what each talker heard in that window.
    static func talk(_ talkers: [Talker], seconds: Double, settle: Double = 0.4) throws -> [String: ToneReport] {
        var start = Date()
        var ticks = 0
        var measuring = false
        while true {
            for talker in talkers { try talker.sendFrame() }
            ticks += 1
            let next = start.addingTimeInterval(Double(ticks) * 0.02)
            if next > Date() { Thread.sleep(until: next) }
            for talker in talkers { talker.drain() }
            let elapsed = Date().timeIntervalSince(start)
            if measuring {
                if elapsed >= seconds { break }
            } else if elapsed >= settle,
                talkers.allSatisfy({ !$0.talking || $0.heard.count >= 3200 }) || elapsed >= settle + 10
            {
                for talker in talkers { _ = talker.take() }
                measuring = true
                start = Date()
                ticks = 0
            }
        }
        var out: [String: ToneReport] = [:]
        for talker in talkers {
            out[talker.name] = ToneAnalysis.analyze(PCMWave(sampleRate: 8000, channels: 1, samples: talker.take()),
                                                    frequencies: frequencies, voicedThresholdDBFS: -45)
        }
        return out
    }

    static func rooms(_ bed: TestBed) async throws -> [ConferenceInfo] {
        let r = try await sipctl(["conference", "list", "--json"], cwd: bed.directory)
        guard r.succeeded else { throw TestSupportError("sipctl conference list failed\n\(r)") }
        return try ControlCoding.decode([ConferenceInfo].self, from: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Polls the room list until `ready` holds (10 s of wall clock at most).
    static func rooms(_ bed: TestBed, until ready: ([ConferenceInfo]) -> Bool) async throws -> [ConferenceInfo] {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        var last = try await Self.rooms(bed)
        while !ready(last), clock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            last = try await Self.rooms(bed)
        }
        return last
    }

    /// Seats the talkers' ports once `room` lists them.
    static func seat(_ talkers: [Talker], in room: String, _ bed: TestBed) async throws {
        let rooms = try await Self.rooms(bed) { rooms in
            let users = Set(rooms.first { $0.room == room }?.participants.map(\.user) ?? [])
            return talkers.allSatisfy { users.contains($0.name) }
        }
        let participants = rooms.first { $0.room == room }?.participants ?? []
        for talker in talkers {
            guard let port = participants.first(where: { $0.user == talker.name })?.port else {
                throw TestSupportError("\(talker.name) is not in room \(room): \(rooms)\n\(bed.proxy.logTail())")
            }
            talker.port = port
        }
    }

    static func ports(_ n: Int) -> String {
        // After the media relay tests' and the control test's ranges (MediaRelayTests.ports), inside this process's block.
        let base = 40_000 + (Int(getpid()) % 40) * 400 + 340 + n * 15
        return "\(base)-\(base + 14)"
    }

    @Test("room 800: three hear each other, a fourth joins and hears three, *6 mutes, a hang-up and a kick leave the others talking")
    func joinsMuteLeaveKick() async throws {
        let bed = try await TestBed("conference-mix", proxyArguments: [
            "--conference", "800", "--rtp-ports", Self.ports(0), "--trace-flush-ms", "0",
        ], logLevel: "info")
        defer { bed.shutdown() }
        func report(_ heard: [String: ToneReport]) -> String {
            heard.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
        }
        let alice = try Talker("alice", ip: "127.0.0.11", tone: 400)
        let bob = try Talker("bob", ip: "127.0.0.12", tone: 800)
        let carol = try Talker("carol", ip: "127.0.0.13", tone: 1300)
        let dave = try Talker("dave", ip: "127.0.0.14", tone: 1800)
        // alice, bob and dave (SIPp) stay until kicked; carol's calls are the test's own, so she hangs up when told.
        var sipp: [String: SIPpProcess] = [:]
        for name in ["alice", "bob"] {
            sipp[name] = try bed.start("uac-conference-kicked.xml", as: Phone(name, ip: name == "alice" ? "127.0.0.11" : "127.0.0.12"),
                                       client: true, service: "800", timeout: 240)
        }
        let carolCall = try SIPCaller("carol", ip: "127.0.0.13", proxy: (bed.proxy.ip, bed.proxy.port))
        try carolCall.join("800")
        try await Self.seat([alice, bob, carol], in: "800", bed)

        // Three: each hears the other two and not itself.
        var heard = try Self.talk([alice, bob, carol], seconds: 2)
        for talker in [alice, bob, carol] {
            let mine = try #require(heard[talker.name])
            for other in [alice, bob, carol] where other !== talker {
                #expect(mine.relativePower(at: other.tone) >= 0.15, "\(talker.name) hears \(other.name)\n\(report(heard))")
            }
            #expect(mine.relativePower(at: talker.tone) <= 0.01, "\(talker.name) does not hear itself\n\(report(heard))")
        }

        // A fourth joins and hears the three; the others hear it.
        sipp["dave"] = try bed.start("uac-conference-kicked.xml", as: Phone("dave", ip: "127.0.0.14"), client: true, service: "800",
                                     timeout: 240)
        try await Self.seat([dave], in: "800", bed)
        heard = try Self.talk([alice, bob, carol, dave], seconds: 2)
        for other in [alice, bob, carol] {
            #expect(heard["dave"]!.relativePower(at: other.tone) >= 0.1, "dave hears \(other.name)\n\(report(heard))")
        }
        #expect(heard["dave"]!.relativePower(at: dave.tone) <= 0.01, "\(report(heard))")
        #expect(heard["alice"]!.relativePower(at: dave.tone) >= 0.1, "alice hears dave\n\(report(heard))")

        // *6 from alice: the others stop hearing her, she still hears them; the room lists her as muted.
        try alice.sendDigits("*6")
        let listed = try await Self.rooms(bed) { $0.first?.participants.first { $0.user == "alice" }?.muted == true }
        #expect(listed.first?.participants.first { $0.user == "alice" }?.muted == true, "alice muted by *6: \(listed)")
        heard = try Self.talk([alice, bob, carol, dave], seconds: 2)
        for other in [bob, carol, dave] {
            #expect(heard[other.name]!.relativePower(at: alice.tone) <= 0.01, "\(other.name) no longer hears alice\n\(report(heard))")
        }
        #expect(heard["alice"]!.relativePower(at: bob.tone) >= 0.1, "muted alice still hears bob\n\(report(heard))")

        // carol hangs up: bob and dave keep hearing each other, not her.
        carol.talking = false
        #expect(try carolCall.hangUp("800"), "the room answers carol's BYE with 200")
        _ = try await Self.rooms(bed) { $0.first?.participants.count == 3 }
        heard = try Self.talk([alice, bob, dave], seconds: 1.6)
        #expect(heard["bob"]!.relativePower(at: dave.tone) >= 0.3 && heard["bob"]!.relativePower(at: carol.tone) <= 0.01,
                "after carol left, bob hears dave only\n\(report(heard))")
        #expect(heard["dave"]!.relativePower(at: bob.tone) >= 0.3, "dave hears bob\n\(report(heard))")

        // Kick dave: the proxy sends him BYE with a Reason (his SIPp answers 200 and passes); bob hears nobody new.
        let kick = try await sipctl(["conference", "kick", "800", "dave"], cwd: bed.directory)
        #expect(kick.succeeded && kick.stdout.contains("dave removed from 800"), "\(kick)")
        let daveDone = await sipp["dave"]!.wait()
        #expect(daveDone.passed, "dave got the room's BYE\n\(bed.diagnostics(daveDone))")
        dave.talking = false
        let unknown = try await sipctl(["conference", "kick", "800", "zed"], cwd: bed.directory)
        #expect(!unknown.succeeded && unknown.stderr.contains("no participant 'zed' in room 800"), "\(unknown)")

        // The last two are kicked too: the room ends.
        for name in ["alice", "bob"] {
            _ = try await sipctl(["conference", "kick", "800", name], cwd: bed.directory)
            let done = await sipp[name]!.wait()
            #expect(done.passed, "\(name) got the room's BYE\n\(bed.diagnostics(done))")
        }
        let after = try await Self.rooms(bed) { $0.isEmpty }
        #expect(after.isEmpty, "the room ends with its last participant: \(after)")

        // The journal: four legs of room 800, carol hung up herself, the others were ended by the room.
        let records = try await SIPpJournalTests.waitForRecords(bed, count: 4, timeout: .seconds(8))
        let legs = records.filter { $0.conference == "800" }
        #expect(legs.count == 4 && legs.allSatisfy { $0.outcome == .completed }, "\(legs)")
        #expect(legs.first { $0.caller.contains("carol") }?.hungUpBy == .caller, "\(legs)")
        #expect(legs.filter { $0.hungUpBy == .callee }.count == 3, "three legs ended by the room\n\(legs)")
    }

    @Test("room 801 with a PIN: a caller hears the prompt and nobody hears it until the PIN; three wrong PINs end its call")
    func pin() async throws {
        let bed = try await TestBed("conference-pin", proxyArguments: [
            "--conference", "801:4321", "--rtp-ports", Self.ports(1),
        ], logLevel: "info")
        defer { bed.shutdown() }
        let erin = try Talker("erin", ip: "127.0.0.15", tone: 400)
        let frank = try Talker("frank", ip: "127.0.0.16", tone: 800)
        var sipp: [String: SIPpProcess] = [:]
        for (name, ip) in [("erin", "127.0.0.15"), ("frank", "127.0.0.16")] {
            sipp[name] = try bed.start("uac-conference-kicked.xml", as: Phone(name, ip: ip), client: true, service: "801", timeout: 90)
        }
        try await Self.seat([erin, frank], in: "801", bed)
        var rooms = try await Self.rooms(bed)
        #expect(rooms.first?.pin == true && rooms.first?.participants.allSatisfy { $0.awaitingPIN == true } == true, "\(rooms)")
        // Before the PIN: a prompt (440 Hz beeps), not each other.
        var heard = try Self.talk([erin, frank], seconds: 2.2, settle: 0)
        #expect(heard["erin"]!.relativePower(at: 440) >= 0.5 && heard["erin"]!.relativePower(at: frank.tone) <= 0.01,
                "erin hears the prompt, not frank: \(heard["erin"]!)")
        // Both key the PIN (frank with the optional #): they hear each other.
        try erin.sendDigits("4321")
        try frank.sendDigits("4321#")
        rooms = try await Self.rooms(bed) { $0.first?.participants.allSatisfy { $0.awaitingPIN == false } == true }
        #expect(rooms.first?.participants.allSatisfy { $0.awaitingPIN == false } == true, "\(rooms)")
        heard = try Self.talk([erin, frank], seconds: 1.6)
        #expect(heard["erin"]!.relativePower(at: frank.tone) >= 0.5, "erin hears frank after the PIN: \(heard["erin"]!)")
        #expect(heard["frank"]!.relativePower(at: erin.tone) >= 0.5, "frank hears erin after the PIN: \(heard["frank"]!)")

        // A third caller keys three wrong PINs: the room ends its call, and it was never heard.
        let gina = try Talker("gina", ip: "127.0.0.17", tone: 1300)
        sipp["gina"] = try bed.start("uac-conference-kicked.xml", as: Phone("gina", ip: "127.0.0.17"), client: true, service: "801",
                                     timeout: 60)
        try await Self.seat([gina], in: "801", bed)
        heard = try Self.talk([erin, frank, gina], seconds: 1)
        #expect(heard["erin"]!.relativePower(at: gina.tone) <= 0.01, "nobody hears a caller without the PIN: \(heard["erin"]!)")
        try gina.sendDigits("1111#")
        try gina.sendDigits("2222#")
        try gina.sendDigits("9999")
        let ginaDone = await sipp["gina"]!.wait()
        #expect(ginaDone.passed, "three wrong PINs: the room's BYE\n\(bed.diagnostics(ginaDone))")
        #expect(bed.proxy.logTail(1000).contains("gina keyed a wrong PIN (3 of 3)"), "\(bed.proxy.logTail())")
        for name in ["erin", "frank"] {
            _ = try await sipctl(["conference", "kick", "801", name], cwd: bed.directory)
            let done = await sipp[name]!.wait()
            #expect(done.passed, "\(bed.diagnostics(done))")
        }
    }

    @Test("the conference factory (RFC 4579): a call to conf opens room conf-1, named with isfocus in the 2xx's Contact; others dial that URI; it ends with its last participant")
    func factory() async throws {
        let bed = try await TestBed("conference-factory", proxyArguments: [
            "--conference-factory", "conf", "--rtp-ports", Self.ports(3),
        ], logLevel: "info")
        defer { bed.shutdown() }
        let ivan = try bed.start("uac-conference.xml", as: Phone("ivan", ip: "127.0.0.19"), client: true, service: "conf",
                                 timeout: 40, extraArguments: ["-d", "6000"])
        let opened = try await Self.rooms(bed) { !$0.isEmpty }
        #expect(opened.map(\.room) == ["conf-1"] && opened.first?.participants.map(\.user) == ["ivan"], "\(opened)")
        // A second caller dials the room's URI, as a REFER from the first one's phone would make it do.
        let judy = try bed.start("uac-conference.xml", as: Phone("judy", ip: "127.0.0.20"), client: true, service: "conf-1",
                                 timeout: 40, extraArguments: ["-d", "2000"])
        let both = try await Self.rooms(bed) { $0.first?.participants.count == 2 }
        #expect(both.count == 1 && Set(both.first?.participants.map(\.user) ?? []) == ["ivan", "judy"], "\(both)")
        let j = await judy.wait()
        let i = await ivan.wait()
        #expect(i.passed && j.passed, "\(bed.diagnostics(i, j))")
        let contact = i.receivedResponses(200).first.flatMap { headers("Contact", in: $0).first } ?? ""
        #expect(contact.contains("sip:conf-1@127.0.0.10:") && contact.hasSuffix(";isfocus"), "the focus URI: \(contact)")
        // The room is gone with its last participant: a new call to conf-1 finds nobody (404), conf opens conf-2.
        #expect(try await Self.rooms(bed) { $0.isEmpty }.isEmpty)
        let gone = try await bed.run("uac-expect-final.xml", as: Phone("ivan", ip: "127.0.0.19"), service: "conf-1", sets: ["code": "404"])
        #expect(gone.passed, "\(bed.diagnostics(gone))")
        let again = try bed.start("uac-conference.xml", as: Phone("ivan", ip: "127.0.0.19"), client: true, service: "conf",
                                  timeout: 40, extraArguments: ["-d", "1000"])
        let second = try await Self.rooms(bed) { !$0.isEmpty }
        #expect(second.map(\.room) == ["conf-2"], "\(second)")
        let a = await again.wait()
        #expect(a.passed, "\(bed.diagnostics(a))")
    }

    @Test("a participant whose RTP stops is taken out after the media timeout and its call ended with a BYE")
    func mediaTimeout() async throws {
        let bed = try await TestBed("conference-timeout", proxyArguments: [
            "--conference", "800", "--rtp-ports", Self.ports(2), "--media-timeout", "2s",
        ], logLevel: "info")
        defer { bed.shutdown() }
        let hank = try Talker("hank", ip: "127.0.0.18", tone: 400)
        let caller = try bed.start("uac-conference-kicked.xml", as: Phone("hank", ip: "127.0.0.18"), client: true, service: "800", timeout: 30)
        try await Self.seat([hank], in: "800", bed)
        _ = try Self.talk([hank], seconds: 1)
        // hank goes silent: within 2 s (+ the once-a-second check) the room ends his call.
        let done = await caller.wait()
        #expect(done.passed, "\(bed.diagnostics(done))")
        #expect(bed.proxy.logTail(1000).contains("no RTP for 2 s"), "\(bed.proxy.logTail())")
        let after = try await Self.rooms(bed) { $0.isEmpty }
        #expect(after.isEmpty, "\(after)")
    }
}
