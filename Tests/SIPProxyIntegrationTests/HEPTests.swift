import Foundation
import SIPProxy
import Testing

/// HEP to Homer (`--hep udp:IP:PORT --hep-id N --hep-password S`, issue 16): a collector socket in the test receives
/// every SIP message of a call as HEPv3, each one matching the proxy's own pcap trace (same messages, addresses,
/// order and timestamps), and tshark decodes the SIP inside; relayed RTCP arrives as HEP type 5 with the Call-ID.
@Suite("HEP to a collector", .serialized)
struct HEPTests {
    @Test("every SIP message of a call reaches the collector as HEPv3 with the agent id and password, matching the pcap trace")
    func callMatchesTrace() async throws {
        let collector = try HEPCollector()
        let metricsPort = PortAllocator.block(on: "127.0.0.10")
        // One worker: the pcap queue and the HEP queue then see the messages in one order (with two, a message
        // read on one shard and one sent on the other may reach the two queues in either order).
        let bed = try await TestBed("hep-call", proxyArguments: [
            "--hep", collector.address, "--hep-id", "4242", "--hep-password", "letmein", "--trace-flush-ms", "0",
            "--workers", "1", "--metrics", "127.0.0.10:\(metricsPort)",
        ], logLevel: "info")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        let reg = try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer.xml", as: bob)
        let a = try await bed.run("uac-call-bye.xml", as: Phone("alice", ip: "127.0.0.11"), service: "bob")
        let b = await uas.wait()
        #expect(reg.passed && a.passed && b.passed, "\(bed.diagnostics(reg, a, b))")

        // The proxy's own trace: every message it sent or received, as tshark reads it.
        let file = try #require(traceFiles(in: bed.directory.appendingPathComponent("traces")).first)
        var traced: [CapturedSIP] = []
        let clock = ContinuousClock()
        // Wall clock, generous: on a loaded CI machine one tshark run alone can take seconds.
        let deadline = clock.now + .seconds(30)
        repeat {
            let (messages, r) = try await TShark.messages(file.path)
            #expect(r.succeeded, "\(r)")
            traced = messages
            // Complete once both 200s to the BYE (bob's, and the proxy's to alice) are written.
            if traced.filter({ $0.key == "200 BYE" }).count == 2 { break }
            try await Task.sleep(for: .milliseconds(100))
        } while clock.now < deadline
        #expect(traced.count >= 11, "REGISTER/200, INVITE/100/INVITE/180/180/200/200/ACK/ACK, BYE/BYE/200/200\n\(traced)")

        let packets = collector.collect(timeout: .seconds(8)) { $0.count >= traced.count }
        #expect(packets.count == traced.count, "one HEP packet per traced message\n\(packets.map(\.description).joined(separator: "\n"))")
        for packet in packets {
            #expect(packet.captureID == 4242 && packet.authKey == "letmein" && packet.protocolType == 1, "\(packet)")
            #expect(packet.family == 2 && packet.ipProtocol == 17, "\(packet)")
        }
        var mismatches: [String] = []
        for (i, (hep, pcap)) in zip(packets, traced).enumerated() {
            let time = Double(hep.seconds) + Double(hep.microseconds) / 1_000_000
            if hep.key != pcap.key || hep.callID != pcap.callID || hep.sourceAddress != pcap.sourceAddress
                || hep.destinationAddress != pcap.destinationAddress || abs(time - pcap.time) > 0.000_002
            {
                mismatches.append("message \(i + 1): HEP \(hep) at \(time), pcap \(pcap) at \(pcap.time)")
            }
        }
        #expect(mismatches.isEmpty, "HEP and pcap differ\n\(mismatches.joined(separator: "\n"))")

        // /metrics counts what the collector got, and that neither the pcap ring nor HEP dropped anything.
        let scrape = try httpGet("127.0.0.10", metricsPort, "/metrics")
        let metrics = try PrometheusText(scrape.body)
        #expect(metrics.value("sipproxy_hep_sent_total") == Double(packets.count), "\(scrape.body)")
        #expect(metrics.value("sipproxy_hep_drops_total") == 0, "\(scrape.body)")
        #expect(metrics.value("sipproxy_trace_drops_total") == 0, "\(scrape.body)")

        // Wireshark's SIP dissector reads the SIP inside each HEP packet.
        let (rows, r) = try await collector.tshark(in: bed.directory)
        #expect(r.succeeded, "\(r)")
        #expect(rows.count == traced.count, "tshark decodes every HEP packet as SIP\n\(r)")
        for (row, pcap) in zip(rows, traced) where row.count >= 6 {
            let key = row[2].isEmpty ? "\(row[3]) \(row[4])" : row[2]
            #expect(row[0] == "4242" && row[1] == "letmein" && key == pcap.key && row[5] == pcap.callID, "\(row) vs \(pcap)")
        }
    }

    @Test("set in YAML, with trace recording off, HEP still gets the SIP, and a phone's RTCP through the media relay arrives as type 5 with the Call-ID")
    func rtcpThroughTheRelay() async throws {
        let collector = try HEPCollector()
        let config = try TestEnvironment.makeTemporaryDirectory("hep-config").appendingPathComponent("proxy.yaml")
        defer { try? FileManager.default.removeItem(at: config.deletingLastPathComponent()) }
        try "hep:\n  collector: \"\(collector.address)\"\n  id: 77\n  password: \"pa ss\"\n".write(to: config, atomically: true, encoding: .utf8)
        let bed = try await TestBed("hep-rtcp", proxyArguments: [
            "--config", config.path, "--no-trace", "--media", "relay", "--rtp-ports", MediaRelayTests.ports(9),
        ], logLevel: "info")
        defer { bed.shutdown() }
        let (caller, callee) = try await MediaRelayTests.startCall(bed, hold: 6000)
        let during = try await MediaRelayTests.media(bed) { $0.sessions.first?.answered == true }
        let session = try #require(during.sessions.first, "no relayed session\n\(during)\n\(bed.proxy.logTail())")
        let port = try #require(session.streams.first?.callerPort)
        // A receiver report (RFC 3550 §6.4.2: V=2, RC=1, PT=201, length 7) from alice to the relay's RTCP port.
        let report: [UInt8] = [0x81, 0xC9, 0x00, 0x07, 0x12, 0x34, 0x56, 0x78] + [UInt8](repeating: 0, count: 24)
        let socket = try RawSocket(udpOn: "127.0.0.11")
        try socket.send(report, to: "127.0.0.10", port: port + 1)
        let packets = collector.collect(timeout: .seconds(8)) { $0.contains { $0.protocolType == 5 } }
        let rtcp = packets.filter { $0.protocolType == 5 }
        #expect(rtcp.count == 1, "one HEP packet for the one report\n\(packets.map(\.description).joined(separator: "\n"))")
        #expect(rtcp.first?.correlationID == session.callID, "correlated with the call\n\(rtcp)")
        #expect(rtcp.first?.payload == report && rtcp.first?.sourceAddress == "127.0.0.11:\(socket.localPort)")
        #expect(rtcp.first?.destinationAddress == "127.0.0.10:\(port + 1)")

        let a = await caller.wait()
        let b = await callee.wait()
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        let sip = collector.collect(timeout: .seconds(8)) { $0.contains { $0.key == "200 BYE" } }.filter { $0.protocolType == 1 }
        #expect(sip.contains { $0.key == "INVITE" } && sip.contains { $0.key == "200 BYE" }, "\(sip)")
        #expect(collector.packets.allSatisfy { $0.captureID == 77 && $0.authKey == "pa ss" }, "the YAML's id and password")
        #expect(traceFiles(in: bed.directory.appendingPathComponent("traces")).isEmpty, "no pcap with --no-trace")
    }
}
