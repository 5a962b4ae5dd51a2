import Foundation
import SIPProxy
import Testing

/// The media relay (`--media relay`) with SIPp phones: SDP names the proxy, RTP sent to the relay reaches the other
/// phone (SIPp's `-rtp_echo` sends it back the same way), latching, ports freed on BYE and CANCEL, 503 when the
/// range is used up, and the media timeout. RTP is sent by the test from its own sockets, so it knows exactly what
/// went in and what came out.
@Suite("Media relay")
struct MediaRelayTests {
    /// Port ranges inside the kernel's ephemeral range, apart per test: a port another socket holds is skipped.
    static func ports(_ n: Int) -> String {
        let base = 40_000 + (Int(getpid()) % 40) * 400 + n * 40
        return "\(base)-\(base + 39)"
    }

    /// `sipctl media --json`.
    static func media(_ bed: TestBed) async throws -> MediaStatus {
        let r = try await sipctl(["media", "--json"], cwd: bed.directory)
        guard r.succeeded else { throw TestSupportError("sipctl media failed\n\(r)") }
        return try ControlCoding.decode(MediaStatus.self, from: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Polls `sipctl media` until `ready` holds or 8 s went by (wall clock: on a loaded machine one `sipctl` run
    /// can take a good part of a second); returns the last answer.
    static func media(_ bed: TestBed, until ready: (MediaStatus) -> Bool) async throws -> MediaStatus {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(8)
        var last = try await Self.media(bed)
        while !ready(last), clock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            last = try await Self.media(bed)
        }
        return last
    }

    /// An RTP packet: PCMU, 160 samples of silence.
    static func rtp(_ seq: Int) -> [UInt8] {
        let s = UInt16(seq), ts = UInt32(seq * 160)
        return [0x80, 0x00, UInt8(s >> 8), UInt8(s & 0xFF), UInt8(ts >> 24), UInt8((ts >> 16) & 0xFF),
                UInt8((ts >> 8) & 0xFF), UInt8(ts & 0xFF), 0xCA, 0xFE, 0x00, 0x01] + Array(repeating: 0xFF, count: 160)
    }

    /// Sends `count` RTP packets every 20 ms from `socket` to the relay's port and counts what comes back.
    static func talk(_ socket: RawSocket, to ip: String, port: Int, count: Int) throws -> Int {
        var received = 0
        for seq in 0..<count {
            try socket.send(Self.rtp(seq), to: ip, port: port)
            received += socket.receive(timeout: 0.02).messages.count
        }
        received += socket.receive(timeout: 0.5, until: { _ in false }).messages.count
        return received
    }

    /// bob (SIPp UAS echoing RTP) registered; alice's held call started. Returns both SIPp processes.
    static func startCall(
        _ bed: TestBed, hold ms: Int = 12_000, sdpIP: String? = nil
    ) async throws -> (alice: SIPpProcess, bob: SIPpProcess) {
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let uas = try bed.start("uas-answer.xml", as: bob, client: false, timeout: 40, extraArguments: ["-rtp_echo"])
        guard await uas.waitListening() else { throw TestSupportError("bob's UAS did not start\n\(await uas.wait())") }
        let alice = Phone("alice", ip: "127.0.0.11")
        let caller = try bed.start(
            sdpIP == nil ? "uac-call-hold.xml" : "uac-call-hold-sdp.xml", as: alice, client: true, service: "bob",
            keys: sdpIP.map { ["sdpip": $0] } ?? [:], timeout: 40, extraArguments: ["-d", String(ms)]
        )
        return (caller, uas)
    }

    @Test("a relayed call: each phone's SDP names the proxy, RTP goes both ways through it, the trace has it, BYE frees the ports")
    func relayedCall() async throws {
        let bed = try await TestBed("media-relay", proxyArguments: ["--media", "relay", "--rtp-ports", Self.ports(0),
                                                                    "--trace-flush-ms", "0"], logLevel: "info")
        defer { bed.shutdown() }
        let (caller, callee) = try await Self.startCall(bed)
        let during = try await Self.media(bed) { $0.sessions.first?.streams.first?.callee != nil && $0.sessions.first?.answered == true }
        let stream = try #require(during.sessions.first?.streams.first, "no relayed session\n\(during)\n\(bed.proxy.logTail())")
        #expect(during.mode == "relay" && during.pairsInUse == 2, "\(during)")
        let callerPort = try #require(stream.callerPort)
        let calleePort = try #require(stream.calleePort)

        let socket = try RawSocket(udpOn: "127.0.0.11")
        let echoed = try Self.talk(socket, to: "127.0.0.10", port: callerPort, count: 50)
        #expect(echoed >= 48, "RTP went to bob through the relay and came back: \(echoed) of 50")
        let counted = try await Self.media(bed) { ($0.sessions.first?.streams.first?.fromCallee.packets ?? 0) >= 48 }
        let after = try #require(counted.sessions.first?.streams.first)
        #expect(after.fromCaller.packets == 50 && after.fromCaller.lost == 0, "\(after)")
        #expect(after.callerLatched && after.caller == "127.0.0.11:\(socket.localPort)", "alice latched where she sends from\n\(after)")
        #expect(after.callee?.hasPrefix("127.0.0.12:") == true && after.codec == "PCMU", "\(after)")

        let a = await caller.wait()
        let b = await callee.wait()
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        // Each phone was told to send to the relay's port facing it.
        let invite = try #require(b.receivedRequests("INVITE").first)
        #expect(invite.contains("c=IN IP4 127.0.0.10") && invite.contains("m=audio \(calleePort) RTP/AVP 0"), "\(invite)")
        let ok = try #require(a.receivedResponses(200).first { $0.contains("application/sdp") })
        #expect(ok.contains("c=IN IP4 127.0.0.10") && ok.contains("m=audio \(callerPort) RTP/AVP 0"), "\(ok)")
        let ended = try await Self.media(bed) { $0.sessions.isEmpty }
        #expect(ended.sessions.isEmpty && ended.pairsInUse == 0, "BYE frees the ports\n\(ended)")

        // The journal has what went through; the trace has both directions of both legs, no loss.
        let records = try await SIPpJournalTests.waitForRecords(bed, count: 1)
        let rtp = try #require(records.first?.rtp?.first, "\(records)")
        #expect(rtp.fromCaller.packets == 50 && rtp.fromCallee.packets >= 48 && rtp.media == "audio", "\(rtp)")
        let files = traceFiles(in: bed.directory.appendingPathComponent("traces"))
        let streams = try await ToolRunner.run("/usr/bin/env", ["tshark", "-q", "-z", "rtp,streams", "-r", try #require(files.first).path],
                                               in: bed.directory)
        let rows = streams.stdout.split(separator: "\n").filter { $0.contains("g711U") }
        #expect(rows.count == 4 && rows.allSatisfy { $0.contains(" 0 (0.0%)") }, "4 RTP streams without loss\n\(streams)")
        // The ladder draws each stream as a row with its codec and counts.
        let ladder = try await sipctl(["trace", "ladder", "--ascii", "--no-color", "--width", "140"], cwd: bed.directory)
        #expect(ladder.succeeded && ladder.stdout.components(separatedBy: "RTP PCMU").count == 5, "4 RTP rows\n\(ladder)")
        #expect(ladder.stdout.contains("50 pkts · 0 lost"), "\(ladder)")
        let plain = try await sipctl(["trace", "ladder", "--no-rtp", "--ascii", "--no-color"], cwd: bed.directory)
        #expect(plain.succeeded && !plain.stdout.contains("RTP PCMU"), "\(plain)")
    }

    @Test("--trace-rtp headers keeps 12-octet RTP headers in the trace; --trace-rtp off keeps none", arguments: ["headers", "off"])
    func traceRTPModes(_ mode: String) async throws {
        let bed = try await TestBed("media-trace-\(mode)", proxyArguments: [
            "--media", "relay", "--rtp-ports", Self.ports(mode == "off" ? 6 : 7), "--trace-rtp", mode, "--trace-flush-ms", "0",
        ], logLevel: "info")
        defer { bed.shutdown() }
        let (caller, callee) = try await Self.startCall(bed, hold: 8000)
        let during = try await Self.media(bed) { $0.sessions.first?.answered == true }
        let port = try #require(during.sessions.first?.streams.first?.callerPort)
        let echoed = try Self.talk(try RawSocket(udpOn: "127.0.0.11"), to: "127.0.0.10", port: port, count: 10)
        #expect(echoed >= 9, "\(echoed)")
        let a = await caller.wait()
        let b = await callee.wait()
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let file = try #require(traceFiles(in: bed.directory.appendingPathComponent("traces")).first)
        // Datagrams to or from the relay's ports (the SIP of the call is on other ports).
        let range = Self.ports(mode == "off" ? 6 : 7).split(separator: "-").compactMap { Int($0) }
        let filter = "udp.port >= \(range[0]) && udp.port <= \(range[1]) && ip.addr == 127.0.0.10"
        let udp = try await ToolRunner.run("/usr/bin/env", ["tshark", "-r", file.path, "-Y", filter, "-T", "fields",
                                                            "-e", "udp.length"], in: bed.directory)
        let lengths = udp.stdout.split(separator: "\n").compactMap { Int($0) }
        if mode == "off" {
            #expect(lengths.isEmpty, "no RTP in the trace\n\(udp)")
        } else {
            #expect(lengths.count >= 36 && lengths.allSatisfy { $0 == 8 + 12 }, "UDP header + 12-octet RTP header\n\(lengths)")
        }
    }

    @Test("latching: a phone whose SDP names another address still gets its media where it sends from")
    func latching() async throws {
        let bed = try await TestBed("media-latch", proxyArguments: ["--media", "relay", "--rtp-ports", Self.ports(1)],
                                    logLevel: "info")
        defer { bed.shutdown() }
        // 127.0.0.99 stands for the private address of a phone behind NAT: nothing listens there, and it stays
        // on loopback.
        let (caller, callee) = try await Self.startCall(bed, sdpIP: "127.0.0.99")
        let during = try await Self.media(bed) { $0.sessions.first?.answered == true }
        let stream = try #require(during.sessions.first?.streams.first, "\(during)")
        #expect(stream.caller == "127.0.0.99:\(Phone.mediaPort(of: caller))" && !stream.callerLatched, "before latching: the SDP address\n\(stream)")
        let socket = try RawSocket(udpOn: "127.0.0.11")
        let echoed = try Self.talk(socket, to: "127.0.0.10", port: try #require(stream.callerPort), count: 25)
        #expect(echoed >= 23, "the echo came back to where alice sends from, not to her SDP address: \(echoed) of 25")
        let a = await caller.wait()
        let b = await callee.wait()
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
    }

    @Test("a CANCEL while ringing frees the ports; a used-up port range gives the caller 503")
    func cancelAndExhaustion() async throws {
        // 8 ports = 2 pairs: one stream (two pairs, one per side) fits, a second call does not.
        let base = Int(Self.ports(2).split(separator: "-")[0])!
        let bed = try await TestBed("media-cancel", proxyArguments: ["--media", "relay", "--rtp-ports", "\(base)-\(base + 3)"],
                                    logLevel: "info")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let ringing = try await bed.startUAS("uas-ring-cancel.xml", as: bob)
        let cancelled = try await bed.run("uac-cancel.xml", as: Phone("alice", ip: "127.0.0.11"), service: "bob")
        let r = await ringing.wait()
        #expect(cancelled.passed && r.passed, "\(bed.diagnostics(cancelled, r))")
        #expect(r.receivedRequests("INVITE").first?.contains("c=IN IP4 127.0.0.10") == true, "the ringing phone saw the relay")
        let freed = try await Self.media(bed) { $0.pairsInUse == 0 }
        #expect(freed.pairsInUse == 0 && freed.sessions.isEmpty, "CANCEL frees the ports\n\(freed)")

        let (caller, callee) = try await Self.startCall(bed, hold: 8000)
        _ = try await Self.media(bed) { $0.pairsInUse == 2 }
        let refused = try await bed.run("uac-expect-final.xml", as: Phone("carol", ip: "127.0.0.13"), service: "bob",
                                        sets: ["code": "503"])
        #expect(refused.passed, "the second call gets 503 while the range is used up\n\(bed.diagnostics(refused))")
        #expect(refused.receivedResponses(503).first.map { headers("Retry-After", in: $0) } == ["5"], "\(bed.diagnostics(refused))")
        let a = await caller.wait()
        let b = await callee.wait()
        #expect(a.passed && b.passed, "the first call is not disturbed\n\(bed.diagnostics(a, b))")
        let status = try await sipctl(["status"], cwd: bed.directory)
        #expect(status.succeeded, "the proxy is still up\n\(status)")
    }

    @Test("no RTP after the answer for --media-timeout: ports freed, the journal says media-timeout")
    func mediaTimeout() async throws {
        let bed = try await TestBed("media-timeout", proxyArguments: ["--media", "relay", "--rtp-ports", Self.ports(3),
                                                                      "--media-timeout", "1s"], logLevel: "info")
        defer { bed.shutdown() }
        let (caller, callee) = try await Self.startCall(bed, hold: 6000)
        _ = try await Self.media(bed) { $0.sessions.first?.answered == true }
        let freed = try await Self.media(bed) { $0.sessions.isEmpty }
        #expect(freed.sessions.isEmpty && freed.pairsInUse == 0, "the silent call's ports are freed\n\(freed)")
        let records = try await SIPpJournalTests.waitForRecords(bed, count: 1)
        #expect(records.first?.outcome == .mediaTimeout, "\(records)")
        let log = readText(bed.directory.appendingPathComponent("calls.log"))
        #expect(log.contains("ended by media timeout"), "\(log)")
        // The phones' own BYE later still goes through.
        let a = await caller.wait()
        let b = await callee.wait()
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
    }

    @Test("hold and resume by re-INVITE: the direction passes through, the stream keeps its ports")
    func holdResume() async throws {
        let bed = try await TestBed("media-hold", proxyArguments: ["--media", "relay", "--rtp-ports", Self.ports(5)],
                                    logLevel: "info")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer-hold.xml", as: bob)
        let a = try await bed.run("uac-hold-resume.xml", as: Phone("alice", ip: "127.0.0.11"), service: "bob")
        let b = await uas.wait()
        #expect(a.passed && b.passed, "the phones saw sendonly/recvonly and sendrecv through the relay\n\(bed.diagnostics(a, b))")
        func audio(_ message: String) -> String {
            message.split(whereSeparator: \.isNewline).first { $0.hasPrefix("m=audio ") }.map(String.init) ?? ""
        }
        let invites = b.receivedRequests("INVITE")
        #expect(invites.count == 3 && Set(invites.map(audio)).count == 1, "one stream, the same relay port throughout\n\(invites.map(audio))")
        #expect(invites.allSatisfy { $0.contains("c=IN IP4 127.0.0.10") })
        let answers = a.receivedResponses(200).filter { $0.contains("application/sdp") }
        #expect(Set(answers.map(audio)).count == 1, "\(answers.map(audio))")
        let ended = try await Self.media(bed) { $0.sessions.isEmpty }
        #expect(ended.pairsInUse == 0, "\(ended)")
    }

    @Test("video added by re-INVITE: the new stream gets ports, all are freed at the end")
    func reinviteVideo() async throws {
        let bed = try await TestBed("media-video", proxyArguments: ["--media", "relay", "--rtp-ports", Self.ports(4)],
                                    logLevel: "info")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer-reinvite.xml", as: bob)
        let a = try await bed.run("uac-reinvite-video.xml", as: Phone("alice", ip: "127.0.0.11"), service: "bob")
        let b = await uas.wait()
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let invites = b.receivedRequests("INVITE")
        #expect(invites.count == 2, "\(invites)")
        let reinvite = try #require(invites.last)
        #expect(reinvite.contains("c=IN IP4 127.0.0.10"), "\(reinvite)")
        let video = reinvite.split(whereSeparator: \.isNewline).first { $0.hasPrefix("m=video ") }.map(String.init) ?? ""
        #expect(!video.isEmpty && !video.hasPrefix("m=video 0 "), "the added video stream has a relay port: \(video)")
        let ended = try await Self.media(bed) { $0.sessions.isEmpty }
        #expect(ended.pairsInUse == 0, "\(ended)")
        let records = try await SIPpJournalTests.waitForRecords(bed, count: 1)
        #expect(records.first?.rtp?.map(\.media) == ["audio", "video"], "\(records)")
    }
}

extension Phone {
    /// The media port SIPp is started with for this phone (`-mp`).
    static func mediaPort(of process: SIPpProcess) -> Int { process.phone.port + 2 }
}
