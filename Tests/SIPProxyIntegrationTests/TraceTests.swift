import Foundation
import SIPProxy
import Testing

/// The proxy's SIP trace recorder, checked with what a user opens the files with: tshark, tcpdump, sngrep and
/// `sipctl trace ...`. Every message the proxy logs (`in  ...` / `out ...` at info level) must be in the pcap
/// files, decoded as SIP, with the right addresses, ports and transport, in order.
@Suite("SIP trace recording", .serialized)
struct TraceTests {
    struct CallRun {
        let register: SIPpResult
        let caller: SIPpResult
        let callee: SIPpResult
        var allPassed: Bool { register.passed && caller.passed && callee.passed }
        /// The Call-ID of the caller's INVITE.
        var callID: String? { caller.sentRequests("INVITE").first.flatMap { headers("Call-ID", in: $0).first } }
    }

    /// Registers bob, starts his answering UAS (`calls` calls), runs alice's `uac-call-bye` (`calls` calls).
    private func call(
        _ bed: TestBed, transport: SIPTransport, calls: Int = 1, caller: String = "alice",
        callerIP: String = "127.0.0.11", calleeIP: String = "127.0.0.12",
        phones: (caller: Phone, callee: Phone)? = nil
    ) async throws -> CallRun {
        // Reusing the phones (same ports) keeps bob at one binding: a new port per call would add a binding each
        // time, and the proxy would fork to (and retransmit to) the stale ones.
        let alice = phones?.caller ?? Phone(caller, ip: callerIP, transport: transport)
        let bob = phones?.callee ?? Phone("bob", ip: calleeIP, transport: transport)
        let reg = try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer.xml", as: bob, calls: calls, timeout: 10 + calls)
        let a = try await bed.run("uac-call-bye.xml", as: alice, service: "bob", calls: calls, timeout: 10 + calls)
        let b = await uas.wait()
        return CallRun(register: reg, caller: a, callee: b)
    }

    /// Every SIP message in the bed's trace files (oldest file first), checking that tshark reads each file cleanly.
    private func captured(_ bed: TestBed, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [CapturedSIP] {
        let files = traceFiles(in: bed.directory.appendingPathComponent("traces"))
        #expect(!files.isEmpty, "no trace files in \(bed.directory.path)/traces", sourceLocation: sourceLocation)
        var all: [CapturedSIP] = []
        for file in files {
            let (messages, r) = try await TShark.messages(file.path)
            #expect(r.succeeded && !TShark.reportsDamage(r), "tshark cannot read \(file.lastPathComponent)\n\(r)",
                    sourceLocation: sourceLocation)
            all += messages
        }
        return all
    }

    /// Differences between the proxy's log and the capture: counts, then message by message (direction,
    /// transport, the phone's address, the proxy's own address, method or status, Call-ID), in order.
    private func mismatches(captured: [CapturedSIP], logged: [LoggedSIP], proxy: ProxyProcess) -> [String] {
        var problems: [String] = []
        if captured.count != logged.count {
            problems.append("the capture has \(captured.count) SIP messages, the proxy logged \(logged.count)")
        }
        for (i, (c, l)) in zip(captured, logged).enumerated() {
            let sent = c.source == proxy.ip
            let proxySide = sent ? c.sourceAddress : c.destinationAddress
            let phoneSide = sent ? c.destinationAddress : c.sourceAddress
            var what: [String] = []
            if (sent ? LoggedSIP.Direction.sent : .received) != l.direction { what.append("direction") }
            if proxySide != proxy.hostPort { what.append("proxy address \(proxySide), expected \(proxy.hostPort)") }
            if phoneSide != l.peer { what.append("phone address") }
            if c.transport != l.transport { what.append("transport") }
            if c.key != l.key { what.append("message") }
            if c.callID != l.callID { what.append("Call-ID") }
            if c.source == "0.0.0.0" || c.destination == "0.0.0.0" { what.append("0.0.0.0 address") }
            if !what.isEmpty {
                problems.append("message \(i + 1): \(what.joined(separator: ", ")): captured \(c), logged \(l)")
            }
        }
        return problems
    }

    private func report(_ captured: [CapturedSIP], _ logged: [LoggedSIP]) -> String {
        "--- captured (tshark) ---\n" + captured.map(\.description).joined(separator: "\n")
            + "\n--- logged (proxy) ---\n" + logged.map(\.description).joined(separator: "\n")
    }

    // MARK: 1 + 7: a call over UDP and TCP, read with tshark and sipctl trace calls/ladder

    @Test("a call over UDP/TCP: every message the proxy sent and received is in the pcap, decoded by tshark as SIP",
          arguments: SIPTransport.allCases)
    func callIsCaptured(transport: SIPTransport) async throws {
        _ = try Tool.require("tshark")
        // One shard here and in the rotation tests: they match the log's order of processing with the pcap's order
        // of socket events, which two shards may interleave differently (a message one shard reads is processed by
        // its call's owner, while the other shard goes on reading).
        let bed = try await TestBed("trace-call-\(transport)", proxyArguments: ["--workers", "1"], logLevel: "info")
        defer { bed.shutdown() }
        let run = try await call(bed, transport: transport)
        #expect(run.allPassed, "the call failed\n\(bed.diagnostics(run.register, run.caller, run.callee))")
        let callID = try #require(run.callID, "no INVITE Call-ID\n\(run.caller)")
        // A graceful stop flushes and closes the file; the log is complete too.
        #expect(bed.proxy.stop() == 0, "sipctl serve did not exit cleanly\n\(bed.proxy.logTail())")

        let logged = ProxyLog.messages(readText(bed.proxy.stderrURL))
        let captured = try await captured(bed)
        #expect(logged.count >= 9, "too few SIP log lines (REGISTER, 200, INVITE x2, 100, 180 x2, 200 x2, ACK x2, BYE x2, 200 x2)\n\(bed.proxy.logTail())")
        let problems = mismatches(captured: captured, logged: logged, proxy: bed.proxy)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))\n\(report(captured, logged))")
        // The phones' own addresses (each on its 127.0.0.x) are in the capture.
        let phoneIPs = Set(captured.map { $0.source == bed.proxy.ip ? $0.destination : $0.source })
        #expect(phoneIPs == ["127.0.0.11", "127.0.0.12"], "phone addresses in the capture: \(phoneIPs)")
        // The whole call: the caller's and the callee's legs.
        let call = captured.filter { $0.callID == callID }.map(\.key)
        for key in ["INVITE", "100 INVITE", "180 INVITE", "200 INVITE", "ACK", "BYE", "200 BYE"] {
            #expect(call.contains(key), "\(key) missing from the capture\n\(report(captured, logged))")
        }
        // SIPp's view: what each UA sent and received went through the proxy (and is captured).
        let uaMessages = run.caller.sent.count + run.caller.received.count + run.callee.sent.count + run.callee.received.count
        let callCaptured = captured.filter { $0.callID == callID }.count
        #expect(callCaptured == uaMessages,
                "the call has \(callCaptured) messages in the capture, the two UAs exchanged \(uaMessages)")

        let file = try #require(traceFiles(in: bed.directory.appendingPathComponent("traces")).last)
        if transport == .tcp {
            // Reused ports are real here: bob's REGISTER connection (bob's port -> proxy's port) closed, then the
            // proxy connects from its listening port to bob's, the same four-tuple. Everything else is a defect.
            let flags = try await TShark.count(
                file.path, filter: "(tcp.analysis.flags && !tcp.analysis.reused_ports) || tcp.analysis.lost_segment || _ws.malformed")
            #expect(flags.result.succeeded && flags.count == 0,
                    "tshark reports TCP analysis problems (lost segments, retransmissions...) or malformed packets\n\(flags.result)")
            let streams = try await Tool.run("tshark", ["-n", "-r", file.path, "-T", "fields", "-e", "tcp.stream"])
            let ids = Set(streams.stdout.split(separator: "\n").map(String.init))
            #expect(ids.count >= 2, "expected several TCP streams (bob's registration, alice, proxy to bob)\n\(streams)")
            var text = ""
            for id in ids.sorted() {
                let follow = try await Tool.run("tshark", ["-n", "-r", file.path, "-q", "-z", "follow,tcp,ascii,\(id)"])
                #expect(follow.succeeded && follow.stdout.contains("SIP/2.0"), "stream \(id) does not reassemble to SIP text\n\(follow)")
                text += follow.stdout
            }
            for line in ["INVITE sip:bob@", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK", "ACK sip:", "BYE sip:", "Call-ID: \(callID)"] {
                #expect(text.contains(line), "'\(line)' is not in the reassembled TCP streams")
            }
        }

        // 7: sipctl's own analysis of the proxy's pcap.
        let files = traceFiles(in: bed.directory.appendingPathComponent("traces")).map(\.path)
        let calls = try await sipctl(["trace", "calls"] + files, cwd: bed.directory)
        #expect(calls.succeeded, "\(calls)")
        let callLine = calls.stdout.split(separator: "\n").first { $0.contains(callID) || $0.contains(String(callID.prefix(20))) }
        #expect(callLine?.contains("completed") == true, "trace calls does not show the call as completed\n\(calls)")
        let ladder = try await sipctl(["trace", "ladder"] + files + ["--last", "--ascii", "--no-color", "--width", "160"],
                                      cwd: bed.directory)
        #expect(ladder.succeeded, "\(ladder)")
        // Each message: a label line ("INVITE (SDP)", "180 Ringing") above its arrow line ("|----->", "<-----|").
        let lines = ladder.stdout.split(separator: "\n").map(String.init)
        var labels: [String] = []
        for (i, line) in lines.enumerated() where line.contains("-->") || line.contains("<--") {
            let label = i > 0 ? lines[i - 1].split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { !$0.isEmpty } ?? "" : ""
            labels.append(String(label.split(separator: " ").first ?? ""))
        }
        let expected = captured.filter { $0.callID == callID }.map { $0.method ?? String($0.statusCode ?? 0) }
        #expect(labels == expected,
                "the ladder should draw one arrow per message of the call, in order\n\(ladder)\n\(report(captured, logged))")
    }

    // MARK: 2: tcpdump

    /// A 127.0.0.x on which port 5060 is free (UDP and TCP), so tcpdump's SIP decoder (port 5060 only) applies.
    private func freeAddressFor5060() throws -> String {
        for x in 60...120 {
            let ip = "127.0.0.\(x)"
            if PortProbe.isFree(ip: ip, port: 5060, udp: true), PortProbe.isFree(ip: ip, port: 5060, udp: false) {
                return ip
            }
        }
        throw TestSupportError("no 127.0.0.60-120 address with port 5060 free")
    }

    @Test("tcpdump reads the pcap and decodes the SIP messages on UDP port 5060")
    func tcpdumpDecodes() async throws {
        _ = try Tool.require("tcpdump")
        let bed = try await TestBed("trace-tcpdump", logLevel: "info", proxyIP: try freeAddressFor5060(), proxyPort: 5060)
        defer { bed.shutdown() }
        let run = try await call(bed, transport: .udp)
        #expect(run.allPassed, "the call failed\n\(bed.diagnostics(run.register, run.caller, run.callee))")
        #expect(bed.proxy.stop() == 0)
        let logged = ProxyLog.messages(readText(bed.proxy.stderrURL))
        let files = traceFiles(in: bed.directory.appendingPathComponent("traces"))
        #expect(files.count == 1, "\(files)")
        var sipLines = 0
        var text = ""
        for file in files {
            let r = try await Tool.run("tcpdump", ["-nn", "-v", "-r", file.path, "udp", "port", "5060"])
            #expect(r.succeeded, "\(r)")
            #expect(!r.stderr.contains("truncated") && !r.stderr.contains("cut short"), "\(r)")
            sipLines += r.stdout.split(separator: "\n").filter { $0.contains("SIP, length:") }.count
            text += r.stdout
            let ascii = try await Tool.run("tcpdump", ["-nn", "-A", "-r", file.path, "udp", "port", "5060"])
            #expect(ascii.succeeded && ascii.stdout.contains("INVITE sip:bob@") && ascii.stdout.contains("SIP/2.0 200 OK"),
                    "tcpdump -A does not show the SIP text\n\(ascii)")
        }
        #expect(sipLines == logged.count, "tcpdump decoded \(sipLines) SIP messages, the proxy logged \(logged.count)\n\(text)")
        #expect(text.contains("\(bed.proxy.ip).5060 > 127.0.0.12."), "no proxy-to-bob packet\n\(text)")
        #expect(text.contains("127.0.0.11.") && text.contains("> \(bed.proxy.ip).5060"), "no packet from alice\n\(text)")
        #expect(text.contains("INVITE sip:bob@"), "tcpdump -v shows no request line\n\(text)")
    }

    // MARK: 3: sngrep

    @Test("sngrep loads the pcap headless and writes back every SIP message it parsed")
    func sngrepLoads() async throws {
        _ = try Tool.require("sngrep")
        _ = try Tool.require("tshark")
        let bed = try await TestBed("trace-sngrep", logLevel: "info")
        defer { bed.shutdown() }
        let run = try await call(bed, transport: .udp)
        #expect(run.allPassed, "the call failed\n\(bed.diagnostics(run.register, run.caller, run.callee))")
        #expect(bed.proxy.stop() == 0)
        let file = try #require(traceFiles(in: bed.directory.appendingPathComponent("traces")).last)
        let original = try await TShark.messages(file.path).messages
        let out = bed.directory.appendingPathComponent("sngrep-out.pcap")
        let r = try await Tool.run("sngrep", ["-I", file.path, "-O", out.path, "-N", "-q", "-F"], cwd: bed.directory,
                                   timeout: .seconds(20))
        #expect(r.succeeded, "sngrep -N failed\n\(r)")
        let written = try await TShark.messages(out.path)
        #expect(written.result.succeeded, "tshark cannot read sngrep's output\n\(written.result)")
        #expect(written.messages.count == original.count,
                "sngrep wrote \(written.messages.count) SIP messages, the trace has \(original.count)\n\(r)")
        #expect(written.messages.map(\.key) == original.map(\.key))
    }

    // MARK: 4: rotation

    @Test("rotation: a small size limit and 3 files kept: 3 valid files, names sorted by time, the newest messages kept")
    func rotationKeepsFiles() async throws {
        let bed = try await TestBed("trace-rotate", proxyArguments: ["--trace-max-size", "2kB", "--trace-max-files", "3", "--workers", "1"],
                                    logLevel: "info")
        defer { bed.shutdown() }
        let run = try await call(bed, transport: .udp, calls: 4)
        #expect(run.allPassed, "calls failed\n\(bed.diagnostics(run.register, run.caller, run.callee))")
        #expect(bed.proxy.stop() == 0)
        let logged = ProxyLog.messages(readText(bed.proxy.stderrURL))
        let files = traceFiles(in: bed.directory.appendingPathComponent("traces"))
        #expect(files.count == 3, "expected 3 files kept: \(files.map(\.lastPathComponent))")
        var firstTimes: [Double] = []
        var kept: [CapturedSIP] = []
        for file in files {
            let (messages, r) = try await TShark.messages(file.path)
            #expect(r.succeeded && !TShark.reportsDamage(r), "\(file.lastPathComponent)\n\(r)")
            #expect(!messages.isEmpty, "\(file.lastPathComponent) has no SIP message")
            let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
            let largest = messages.count == 1
            #expect(size <= 2000 || largest, "\(file.lastPathComponent) is \(size) octets, above the 2 kB limit")
            firstTimes.append(messages.first?.time ?? 0)
            kept += messages
        }
        #expect(firstTimes == firstTimes.sorted(), "file names do not sort by time: \(zip(files.map(\.lastPathComponent), firstTimes).map { "\($0) \($1)" })")
        // The kept files hold the newest messages, without a gap between files.
        let suffix = Array(logged.suffix(kept.count))
        let problems = mismatches(captured: kept, logged: suffix, proxy: bed.proxy)
        #expect(problems.isEmpty, "the 3 kept files are not the last \(kept.count) messages\n\(problems.joined(separator: "\n"))\n\(report(kept, logged))")
        #expect(logged.count > kept.count, "rotation should have deleted older files")
    }

    @Test("rotation loses no message: tiny files, many kept: the sum over all files is every logged message",
          arguments: SIPTransport.allCases)
    func rotationLosesNothing(transport: SIPTransport) async throws {
        let bed = try await TestBed("trace-rotate-all-\(transport)",
                                    proxyArguments: ["--trace-max-size", "1500", "--trace-max-files", "200", "--workers", "1"],
                                    logLevel: "info")
        defer { bed.shutdown() }
        let run = try await call(bed, transport: transport, calls: 3)
        #expect(run.allPassed, "calls failed\n\(bed.diagnostics(run.register, run.caller, run.callee))")
        #expect(bed.proxy.stop() == 0)
        let logged = ProxyLog.messages(readText(bed.proxy.stderrURL))
        let files = traceFiles(in: bed.directory.appendingPathComponent("traces"))
        #expect(files.count >= 10, "expected many rotations, got \(files.count) files")
        let captured = try await captured(bed)
        let problems = mismatches(captured: captured, logged: logged, proxy: bed.proxy)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))\n\(report(captured, logged))")
        if transport == .tcp, let file = files.dropFirst(files.count / 2).first {
            let flags = try await TShark.count(file.path, filter: "_ws.malformed || tcp.analysis.lost_segment")
            #expect(flags.count == 0, "a rotated TCP file does not decode on its own\n\(flags.result)")
        }
    }

    // MARK: 5: SIGKILL

    @Test("SIGKILL under load: every file still reads cleanly; messages older than the flush interval are there",
          arguments: [nil, 0] as [Int?])
    func sigkill(flushMs: Int?) async throws {
        let args = ["--trace-max-size", "200kB"] + (flushMs.map { ["--trace-flush-ms", String($0)] } ?? [])
        let bed = try await TestBed("trace-kill-\(flushMs.map(String.init) ?? "default")", proxyArguments: args, logLevel: "info")
        defer { bed.shutdown() }
        let alice = Phone("alice", ip: "127.0.0.11")
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer.xml", as: bob, calls: 1000, timeout: 20)
        let uac = try bed.start("uac-call-bye.xml", as: alice, client: true, service: "bob", calls: 200, timeout: 20,
                                extraArguments: ["-r", "20"])
        try await Task.sleep(for: .milliseconds(3500))
        let killedAt = localTimeOfDay()
        #expect(bed.proxy.kill(signal: SIGKILL), "the proxy did not die")
        uac.stop()
        uas.stop()
        let logged = ProxyLog.messages(readText(bed.proxy.stderrURL))
        #expect(logged.count > 100, "too little load before the kill: \(logged.count) messages")
        let files = traceFiles(in: bed.directory.appendingPathComponent("traces"))
        #expect(!files.isEmpty)
        var captured: [CapturedSIP] = []
        for file in files {
            let (messages, r) = try await TShark.messages(file.path)
            #expect(r.exitCode == 0, "tshark fails on \(file.lastPathComponent) after SIGKILL\n\(r)")
            #expect(!r.stderr.contains("cut short"), "\(file.lastPathComponent) ends in a record cut short\n\(r)")
            let capinfo = try await TShark.frameCount(file.path)
            #expect(capinfo.result.exitCode == 0 && !capinfo.result.stderr.contains("cut short"), "\(capinfo.result)")
            captured += messages
        }
        // Records older than the flush interval (plus the writer's wake-up slack, generous: CI runs many of these
        // tests at once on two cores, and a writer thread can wait its turn for a second) must be on disk.
        let margin = Double(flushMs ?? 1000) / 1000 + 1.2
        let old = logged.filter { ($0.timeOfDay ?? killedAt) < killedAt - margin }
        func tally<S: Sequence>(_ s: S) -> [String: Int] where S.Element == String {
            s.reduce(into: [:]) { $0[$1, default: 0] += 1 }
        }
        let capturedTally = tally(captured.map { c in
            let sent = c.source == bed.proxy.ip
            return "\(sent ? "out" : "in") \(c.transport) \(sent ? c.destinationAddress : c.sourceAddress) \(c.key) \(c.callID)"
        })
        let oldTally = tally(old.map(\.description))
        let missing = oldTally.filter { capturedTally[$0.key, default: 0] < $0.value }
        #expect(missing.isEmpty, """
            \(missing.count) message kinds logged more than \(margin) s before the kill are missing from the pcap \
            (\(old.count) such messages, \(captured.count) captured, \(logged.count) logged; files: \
            \(files.map { "\($0.lastPathComponent) \((try? FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int).flatMap { $0 } ?? -1) B" }.joined(separator: ", "))):
            \(missing.keys.sorted().prefix(20).joined(separator: "\n"))
            """)
        // The log writer thread holds back up to 50 ms of lines (longer on a loaded machine), which SIGKILL loses;
        // with --trace-flush-ms 0 the pcap has them all.
        #expect(captured.count <= logged.count + 300, "far more captured than logged?")
    }

    @Test("sipctl trace calls/ladder/export without files read the running proxy's recordings; the ladder is the last call even when a phone registered after it")
    func analysisWithoutFiles() async throws {
        let bed = try await TestBed("trace-nofiles", proxyArguments: ["--trace-flush-ms", "0"], logLevel: "info")
        defer { bed.shutdown() }
        let run = try await call(bed, transport: .udp)
        #expect(run.allPassed, "calls failed\n\(bed.diagnostics(run.register, run.caller, run.callee))")
        let callID = try #require(run.callID)
        // A phone registers after the call: the newest dialog of the trace is now a REGISTER.
        try await bed.register(Phone("carol", ip: "127.0.0.13"))
        let calls = try await sipctl(["trace", "calls"], cwd: bed.directory)
        #expect(calls.succeeded && calls.stdout.contains(callID) && calls.stdout.contains("REGISTER"), "\(calls)")
        // The ages `sipctl calls --since` takes work here too.
        let recent = try await sipctl(["trace", "calls", "--since", "10m"], cwd: bed.directory)
        #expect(recent.succeeded && recent.stdout.contains(callID), "\(recent)")
        let old = try await sipctl(["trace", "calls", "--until", "1d"], cwd: bed.directory)
        #expect(old.succeeded && old.stdout == "no calls\n", "\(old)")
        let ladder = try await sipctl(["trace", "ladder", "--ascii", "--no-color", "--width", "120"], cwd: bed.directory)
        #expect(ladder.succeeded, "\(ladder)")
        #expect(ladder.stdout.contains(callID) && ladder.stdout.contains("INVITE") && !ladder.stdout.contains("REGISTER"),
                "the default ladder is the call, not the REGISTER after it\n\(ladder)")
        // Lifelines are named by who is there, learned from the trace, with the address below.
        let header = ladder.stdout.split(separator: "\n").first { $0.hasPrefix("time") }.map(String.init) ?? ""
        let names = header.split(separator: " ").dropFirst(2).map(String.init)
        #expect(names == ["alice", "proxy", "bob"], "\(ladder)")
        #expect(ladder.stdout.contains(bed.proxy.hostPort), "the proxy's address under its name\n\(ladder)")
        let plain = try await sipctl(["trace", "ladder", "--addresses", "--ascii", "--no-color", "--width", "120"], cwd: bed.directory)
        #expect(plain.succeeded && !plain.stdout.contains(" alice "), "--addresses: addresses only\n\(plain)")
        // A journal row leads to its ladder: `sipctl calls` lists the call, `--ladder 1` draws it.
        let journal = try await sipctl(["calls"], cwd: bed.directory)
        #expect(journal.succeeded && journal.stdout.contains(callID), "the journal lists the Call-ID\n\(journal)")
        let fromJournal = try await sipctl(["calls", "--ladder", "1", "--user", "alice"], cwd: bed.directory)
        #expect(fromJournal.succeeded && fromJournal.stdout.contains(callID)
                    && fromJournal.stdout.contains("alice → bob · completed"), "\(fromJournal)")
        let noRow = try await sipctl(["calls", "--ladder", "9"], cwd: bed.directory)
        #expect(!noRow.succeeded && noRow.stderr.contains("--ladder 9: the list has 1 call(s)"), "\(noRow)")
        // From another directory: --dir names the recordings; without it there are none to read.
        let elsewhere = try TestEnvironment.makeTemporaryDirectory("trace-nofiles-elsewhere")
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        let traces = bed.directory.appendingPathComponent("traces").path
        let viaDir = try await sipctl(["trace", "ladder", "--dir", traces, "--ascii", "--no-color"], cwd: elsewhere)
        #expect(viaDir.succeeded && viaDir.stdout.contains(callID), "\(viaDir)")
        let output = elsewhere.appendingPathComponent("call.pcap").path
        let export = try await sipctl(["trace", "export", "--dir", traces, "--call", callID, "-o", output], cwd: elsewhere)
        #expect(export.succeeded && FileManager.default.fileExists(atPath: output), "\(export)")
        // SIPPROXY_DIR names the directory the proxy runs in: its socket and (relative) recordings are found there.
        let binary = try TestEnvironment.sipctlBinary()
        let viaEnv = try await ToolRunner.run("/usr/bin/env", ["SIPPROXY_DIR=\(bed.directory.path)", binary, "trace", "ladder",
                                                             "--ascii", "--no-color"], in: elsewhere)
        #expect(viaEnv.succeeded && viaEnv.stdout.contains(callID), "\(viaEnv)")
        let status = try await ToolRunner.run("/usr/bin/env", ["SIPPROXY_DIR=\(bed.directory.path)", binary, "status"], in: elsewhere)
        #expect(status.succeeded && status.stdout.contains("listening:"), "\(status)")
        let none = try await sipctl(["trace", "calls"], cwd: elsewhere)
        #expect(!none.succeeded && none.stderr.contains("no capture files named"), "\(none)")
    }

    @Test("sipctl trace follow draws a call in progress through the running proxy, and ends cleanly on Ctrl-C")
    func followLive() async throws {
        // No recording: following needs none.
        let bed = try await TestBed("trace-follow", proxyArguments: ["--no-trace"], logLevel: "info")
        defer { bed.shutdown() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestEnvironment.sipctlBinary())
        process.arguments = ["trace", "follow", "--ascii", "--no-color", "--width", "100", "--duration", "60"]
        process.currentDirectoryURL = bed.directory
        let outURL = bed.directory.appendingPathComponent("follow.out")
        let errURL = bed.directory.appendingPathComponent("follow.err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        func text(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }
        let clock = ContinuousClock()
        let start = clock.now
        while !text(errURL).contains("following"), clock.now - start < .seconds(10) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(text(errURL).contains("following"), "follow did not start\n\(text(errURL))")

        let run = try await call(bed, transport: .udp)
        #expect(run.allPassed, "calls failed\n\(bed.diagnostics(run.register, run.caller, run.callee))")
        let callID = try #require(run.callID)
        while !text(outURL).contains("[1] completed"), clock.now - start < .seconds(20) {
            try await Task.sleep(for: .milliseconds(100))
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let out = text(outURL)
        #expect(process.terminationStatus == 0, "Ctrl-C ends the follow with status 0\n\(text(errURL))")
        #expect(out.contains("[1] alice → bob · INVITE") && out.contains("Call-ID: \(callID)"), "the call's title\n\(out)")
        for label in ["[1] INVITE", "[1] 100 Trying", "[1] 180 Ringing", "[1] 200 OK", "[1] ACK", "[1] BYE", "[1] 200 OK (BYE)"] {
            #expect(out.contains(label), "\(label) is drawn\n\(out)")
        }
        #expect(out.contains("[1] completed · talked"), "the end of the call is said\n\(out)")
        #expect(!out.contains("REGISTER"), "registrations are left out by default\n\(out)")
        let header = out.split(separator: "\n").last { $0.hasPrefix("time") }.map(String.init) ?? ""
        #expect(header.split(separator: " ").dropFirst(2).map(String.init) == ["alice", "proxy", "bob"],
                "lifelines named by who is there (bob learned from his REGISTER, proxy from its listeners)\n\(out)")
        #expect(out.split(separator: "\n").allSatisfy { $0.count <= 100 }, "every line within --width 100\n\(out)")
        // The INVITE comes before the BYE, each once (no message drawn twice across polls).
        let invite = out.range(of: "[1] INVITE")
        let bye = out.range(of: "[1] BYE")
        #expect(invite != nil && bye != nil && invite!.lowerBound < bye!.lowerBound, "\(out)")
        #expect(out.components(separatedBy: "[1] BYE").count == 3, "BYE drawn once per leg\n\(out)")

        // Without a proxy: one line and a non-zero status.
        let none = try await sipctl(["trace", "follow", "--socket", bed.directory.appendingPathComponent("none.sock").path],
                                    cwd: bed.directory)
        #expect(!none.succeeded && none.stderr.split(separator: "\n").count == 1, "\(none)")
    }

    // MARK: 6: sipctl trace start/stop/status/list/open

    @Test("sipctl trace start/stop/status/list/open against a running proxy")
    func controlRoundTrip() async throws {
        let bed = try await TestBed("trace-control", logLevel: "info")
        defer { bed.shutdown() }
        let dir = bed.directory
        let status = try await sipctl(["trace", "status"], cwd: dir)
        #expect(status.succeeded && status.stdout.contains("recording:  on"), "\(status)")
        #expect(status.stdout.contains("file:       traces/sip-"), "status names no current file\n\(status)")
        let statusJSON = try await sipctl(["trace", "status", "--json"], cwd: dir)
        let decoded = try JSONDecoder().decode(TraceStatus.self, from: Data(statusJSON.stdout.utf8))
        #expect(decoded.recording && decoded.currentFile?.hasPrefix("traces/sip-") == true, "\(statusJSON)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(decoded.currentFile ?? "-").path))

        // Call 1 recorded, call 2 while stopped not, call 3 after start recorded.
        let phones = (caller: Phone("alice", ip: "127.0.0.11"), callee: Phone("bob", ip: "127.0.0.12"))
        let first = try await call(bed, transport: .udp, phones: phones)
        let stop = try await sipctl(["trace", "stop"], cwd: dir)
        #expect(stop.succeeded && stop.stdout.contains("recording:  off"), "\(stop)")
        let stopped = try await sipctl(["trace", "status", "--json"], cwd: dir)
        let stoppedStatus = try JSONDecoder().decode(TraceStatus.self, from: Data(stopped.stdout.utf8))
        #expect(!stoppedStatus.recording && stoppedStatus.currentFile == nil, "\(stopped)")
        let second = try await call(bed, transport: .udp, phones: phones)
        let start = try await sipctl(["trace", "start"], cwd: dir)
        #expect(start.succeeded && start.stdout.contains("recording:  on"), "\(start)")
        let third = try await call(bed, transport: .udp, phones: phones)
        let stop2 = try await sipctl(["trace", "stop"], cwd: dir)
        #expect(stop2.succeeded, "\(stop2)")
        for r in [first, second, third] {
            #expect(r.allPassed, "a call failed\n\(bed.diagnostics(r.register, r.caller, r.callee))")
        }
        let logged = ProxyLog.messages(readText(bed.proxy.stderrURL))
        var captured = try await captured(bed)
        let ids = try [first, second, third].map { try #require($0.callID) }
        #expect(captured.contains { $0.callID == ids[0] }, "call before stop not recorded")
        #expect(!captured.contains { $0.callID == ids[1] }, "call while stopped was recorded")
        #expect(captured.contains { $0.callID == ids[2] }, "call after start not recorded")
        for id in [ids[0], ids[2]] {
            let l = logged.filter { $0.callID == id }.count
            let c = captured.filter { $0.callID == id }.count
            #expect(l == c, "call \(id): logged \(l) messages, captured \(c)")
        }

        // Filter: only alice's messages (not bob's REGISTER, not carol's call).
        let before = Set(traceFiles(in: dir.appendingPathComponent("traces")))
        let filtered = try await sipctl(["trace", "start", "--filter", "user=alice", "--json"], cwd: dir)
        let filteredStatus = try JSONDecoder().decode(TraceStatus.self, from: Data(filtered.stdout.utf8))
        #expect(filteredStatus.recording && filteredStatus.settings.filter?.users == ["alice"], "\(filtered)")
        let aliceCall = try await call(bed, transport: .udp, phones: phones)
        let carolCall = try await call(bed, transport: .udp, phones: (Phone("carol", ip: "127.0.0.13"), phones.callee))
        _ = try await sipctl(["trace", "stop"], cwd: dir)
        let newFiles = traceFiles(in: dir.appendingPathComponent("traces")).filter { !before.contains($0) }
        #expect(!newFiles.isEmpty)
        captured = []
        for f in newFiles { captured += try await TShark.messages(f.path).messages }
        let aliceID = try #require(aliceCall.callID)
        let carolID = try #require(carolCall.callID)
        let loggedAll = ProxyLog.messages(readText(bed.proxy.stderrURL))
        #expect(captured.filter { $0.callID == aliceID }.count == loggedAll.filter { $0.callID == aliceID }.count,
                "alice's call is not fully recorded\n\(report(captured, loggedAll))")
        #expect(captured.allSatisfy { $0.callID == aliceID }, "the filter let other messages in\n\(report(captured, []))")
        #expect(!captured.contains { $0.callID == carolID })

        // list: files with record counts matching tshark.
        let list = try await sipctl(["trace", "list", "--json"], cwd: dir)
        #expect(list.succeeded, "\(list)")
        let infos = try JSONDecoder().decode([TraceFileInfo].self, from: Data(list.stdout.utf8))
        let onDisk = traceFiles(in: dir.appendingPathComponent("traces"))
        #expect(infos.map { URL(fileURLWithPath: $0.path).lastPathComponent } == onDisk.map(\.lastPathComponent), "\(list)")
        for info in infos {
            let frames = try await TShark.frameCount(dir.appendingPathComponent(info.path).path)
            #expect(info.records == frames.count, "\(info.path): list says \(info.records) records, tshark reads \(frames.count)")
        }
        let table = try await sipctl(["trace", "list"], cwd: dir)
        #expect(table.succeeded && onDisk.allSatisfy { table.stdout.contains($0.lastPathComponent) }, "\(table)")

        // open --last --print-only: commands naming the newest file.
        let newest = try #require(onDisk.last).lastPathComponent
        let open = try await sipctl(["trace", "open", "--last", "--print-only"], cwd: dir)
        #expect(open.succeeded, "\(open)")
        for tool in ["tshark -r ", "tcpdump ", "wireshark -r "] {
            #expect(open.stdout.split(separator: "\n").contains { $0.contains(tool) && $0.contains(newest) },
                    "no '\(tool)... \(newest)' line\n\(open)")
        }

        // No proxy: a one-line error, non-zero exit.
        #expect(bed.proxy.stop() == 0)
        let none = try await sipctl(["trace", "status"], cwd: dir)
        #expect(none.exitCode != 0, "\(none)")
        let errorLines = none.stderr.split(separator: "\n").filter { !$0.contains("Running as user") }
        #expect(errorLines.count == 1, "expected a one-line error\n\(none)")
        #expect(none.stdout.isEmpty, "\(none)")
    }
}
