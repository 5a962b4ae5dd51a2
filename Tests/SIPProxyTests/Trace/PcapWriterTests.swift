// PcapWriter: files written through libpcap read back with libpcap and tshark; rotation, retention, flushing.

import CPcap
import Foundation
import Testing

@testable import SIPProxy

/// A settable clock for the writer (used from one test only).
final class FakeClock {
    var now: TraceTimestamp
    init(_ microseconds: Int64 = 1_700_000_000_000_000) { self.now = TraceTimestamp(microseconds: microseconds) }
    func advance(seconds: Double) { self.now = self.now + Int64(seconds * 1_000_000) }
}

@Suite struct TracePcapWriterTests {
    let proxy4 = TraceTest.address("127.0.0.10", 5060)
    let phone4 = TraceTest.address("127.0.0.11", 5061)
    let proxy6 = TraceTest.address("::1", 5060)
    let phone6 = TraceTest.address("::1", 5062)

    func configuration(
        _ directory: String,
        maxFileSize: Int = 10_000_000,
        maxDuration: Int64 = 3_600_000_000,
        maxFiles: Int = 50,
        flushInterval: Int64 = 0
    ) -> PcapWriter.Configuration {
        PcapWriter.Configuration(
            directory: directory, maxFileSize: maxFileSize, maxDuration: maxDuration, maxFiles: maxFiles,
            flushInterval: flushInterval
        )
    }

    func files(_ directory: String) throws -> [TraceFileInfo] {
        try TraceFiles.list(directory: directory)
    }

    // MARK: Reading back

    @Test func udpRecordsReadBackWithLibpcapAndTshark() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        var framer = PacketFramer()
        let writer = try PcapWriter(configuration: self.configuration(dir))
        let t0: Int64 = 1_700_000_000_123_456
        let events = [
            TraceTest.event(.received, from: self.phone4, to: self.proxy4, at: t0,
                            payload: TraceTest.sipRequest("INVITE")),
            TraceTest.event(.sent, from: self.proxy4, to: self.phone4, at: t0 + 1_500,
                            payload: TraceTest.sipResponse(200, "OK", method: "INVITE")),
            TraceTest.event(.sent, from: self.proxy6, to: self.phone6, at: t0 + 3_000,
                            payload: TraceTest.sipRequest("OPTIONS")),
        ]
        var written: [[UInt8]] = []
        for event in events {
            let frames = try framer.frames(for: event)
            written += frames.map(\.bytes)
            try writer.write(frames)
        }
        let path = try #require(writer.currentPath)
        writer.close()

        // libpcap: link type, snapshot length, records byte for byte with their timestamps.
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        let pcap = try #require(pcap_open_offline(path, &errorBuffer))
        defer { pcap_close(pcap) }
        #expect(pcap_datalink(pcap) == DLT_EN10MB)
        #expect(pcap_snapshot(pcap) == 262_144)
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        var index = 0
        while pcap_next_ex(pcap, &header, &data) == 1, let header, let data {
            let bytes = Array(UnsafeBufferPointer(start: data, count: Int(header.pointee.caplen)))
            #expect(bytes == written[index])
            #expect(Int(header.pointee.len) == written[index].count)
            let micros = Int64(header.pointee.ts.tv_sec) * 1_000_000 + Int64(header.pointee.ts.tv_usec)
            #expect(micros == events[index].timestamp.microseconds)
            index += 1
        }
        #expect(index == 3)
        let info = TraceFiles.info(path: path)
        #expect(info.records == 3)
        #expect(info.first == TraceTimestamp(microseconds: t0))
        #expect(info.last == TraceTimestamp(microseconds: t0 + 3_000))
        #expect(info.size == Int64(24 + written.reduce(0) { $0 + 16 + $1.count }))

        guard TraceTest.tsharkPath != nil else {
            print("tshark not installed: skipping the tshark half of the check")
            return
        }
        let rows = try TraceTest.tsharkFields(path, [
            "ip.src", "ipv6.src", "udp.srcport", "udp.dstport", "sip.Method", "sip.Status-Code",
            "ip.checksum.status", "udp.checksum.status", "eth.src",
        ])
        #expect(rows.count == 3)
        guard rows.count == 3 else { return }
        #expect(rows[0] == ["127.0.0.11", "", "5061", "5060", "INVITE", "", "1", "1", "02:00:00:00:00:02"])
        #expect(rows[1] == ["127.0.0.10", "", "5060", "5061", "", "200", "1", "1", "02:00:00:00:00:01"])
        #expect(rows[2] == ["", "::1", "5060", "5062", "OPTIONS", "", "", "1", "02:00:00:00:00:01"])
    }

    @Test func tcpStreamIsFollowedByTsharkWithoutAnalysisFlags() throws {
        guard TraceTest.tsharkPath != nil else {
            print("tshark not installed: skipping")
            return
        }
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        var framer = PacketFramer()
        let writer = try PcapWriter(configuration: self.configuration(dir))
        let invite = TraceTest.sipRequest("INVITE", bodyLength: 5_000)
        let ok = TraceTest.sipResponse(200, "OK", method: "INVITE")
        let t0: Int64 = 1_700_000_000_000_000
        let events = [
            TraceTest.event(.received, .tcp, from: self.phone4, to: self.proxy4, connection: 3, at: t0,
                            payload: invite),
            TraceTest.event(.sent, .tcp, from: self.proxy4, to: self.phone4, connection: 3, at: t0 + 2_000,
                            payload: ok),
            TraceEvent.connectionClosed(direction: .received, source: self.phone4, destination: self.proxy4,
                                        connection: ConnectionID(rawValue: 3),
                                        timestamp: TraceTimestamp(microseconds: t0 + 5_000)),
        ]
        for event in events { try writer.write(try framer.frames(for: event)) }
        let path = try #require(writer.currentPath)
        writer.close()

        // No TCP analysis flag at all: no lost segment, retransmission, duplicate ACK, window full, ...
        let flagged = try TraceTest.tsharkFields(
            path, ["frame.number", "tcp.analysis.flags"], filter: "tcp.analysis.flags"
        )
        #expect(flagged.isEmpty, "tcp.analysis flags: \(flagged)")
        let badChecksums = try TraceTest.tsharkFields(
            path, ["frame.number"], filter: "ip.checksum.status != 1 || tcp.checksum.status != 1"
        )
        #expect(badChecksums.isEmpty)
        // Both messages decode as SIP (the INVITE reassembled from its segments), with the right addresses.
        let sip = try TraceTest.tsharkFields(
            path, ["ip.src", "tcp.srcport", "sip.Method", "sip.Status-Code", "sip.Content-Length"], filter: "sip"
        )
        #expect(sip == [["127.0.0.11", "5061", "INVITE", "", "5000"], ["127.0.0.10", "5060", "", "200", "0"]])
        let (_, follow, _) = try TraceTest.tshark(["-r", path, "-q", "-z", "follow,tcp,ascii,0"])
        #expect(follow.contains("INVITE sip:bob@127.0.0.10 SIP/2.0"))
        #expect(follow.contains("SIP/2.0 200 OK"))
        #expect(follow.contains("Node 0: 127.0.0.11:5061"))
        // The handshake and the close are there.
        let flags = try TraceTest.tsharkFields(path, ["tcp.flags.str"])
        let inviteSegments = (invite.count + 1459) / 1460
        #expect(inviteSegments == 4)
        // Handshake, the INVITE's segments and an ACK, the 200 and an ACK, the close.
        #expect(flags.count == 3 + inviteSegments + 1 + 2 + 3)
        #expect(flags.first?.first?.contains("S") == true)
        #expect(flags.suffix(3).map { $0.first?.contains("F") == true } == [true, true, false])
    }

    @Test func ipv4AndIPv6MixInOneFileWithoutExpertWarnings() throws {
        guard TraceTest.tsharkPath != nil else {
            print("tshark not installed: skipping")
            return
        }
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        var framer = PacketFramer()
        let writer = try PcapWriter(configuration: self.configuration(dir))
        let proxy6 = TraceTest.address("2001:db8::10", 5060)
        let phone6 = TraceTest.address("2001:db8::11", 40_000)
        let register = TraceTest.sipRequest("REGISTER", callID: "v6", bodyLength: 2_000)
        let events = [
            TraceTest.event(.received, from: self.phone4, to: self.proxy4, at: 1,
                            payload: TraceTest.sipRequest("INFO")),
            TraceTest.event(.sent, .tcp, from: proxy6, to: phone6, connection: 9, at: 2, payload: register),
            TraceTest.event(.received, .tcp, from: phone6, to: proxy6, connection: 9, at: 3,
                            payload: TraceTest.sipResponse(200, "OK", method: "REGISTER", callID: "v6")),
            TraceTest.event(.sent, from: self.proxy4, to: self.phone4, at: 4,
                            payload: TraceTest.sipResponse(200, "OK", method: "INFO")),
            TraceEvent.connectionClosed(direction: .sent, source: proxy6, destination: phone6,
                                        connection: ConnectionID(rawValue: 9),
                                        timestamp: TraceTimestamp(microseconds: 5)),
        ]
        for event in events { try writer.write(try framer.frames(for: event)) }
        let path = try #require(writer.currentPath)
        writer.close()
        let sip = try TraceTest.tsharkFields(
            path, ["ip.src", "ipv6.src", "sip.CSeq.method", "sip.Status-Code"], filter: "sip"
        )
        #expect(sip == [
            ["127.0.0.11", "", "INFO", ""],
            ["", "2001:db8::10", "REGISTER", ""],
            ["", "2001:db8::11", "REGISTER", "200"],
            ["127.0.0.10", "", "INFO", "200"],
        ])
        let bad = try TraceTest.tsharkFields(
            path, ["frame.number"],
            filter: "tcp.analysis.flags || tcp.checksum.status != 1 || udp.checksum.status != 1"
                + " || ip.checksum.status != 1 || _ws.malformed"
        )
        #expect(bad.isEmpty, "\(bad)")
        // tshark's expert info has nothing above "chat" (SYN, FIN, SIP request/response notes).
        let (_, expert, _) = try TraceTest.tshark(["-r", path, "-q", "-z", "expert,warn"])
        #expect(!expert.contains("Warns ("), "\(expert)")  // the section tshark prints for warnings
        #expect(!expert.contains("Errors ("), "\(expert)")
    }

    // MARK: Rotation and retention

    @Test func rotatesBySizeWithoutLosingRecords() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        var framer = PacketFramer()
        let clock = FakeClock()
        let writer = try PcapWriter(configuration: self.configuration(dir, maxFileSize: 2_000), clock: { clock.now })
        let payload = [UInt8](repeating: 0x41, count: 500)  // 542-octet frames, 558 with the record header
        for i in 0..<50 {
            clock.advance(seconds: 0.1)
            try writer.write(try framer.frames(
                for: TraceTest.event(.sent, from: self.proxy4, to: self.phone4, at: Int64(i), payload: payload)
            ))
        }
        writer.close()
        let infos = try self.files(dir)
        // 24 + 3 × 558 = 1698 ≤ 2000 < 24 + 4 × 558: three records a file, 17 files for 50.
        #expect(infos.count == 17)
        #expect(infos.reduce(0) { $0 + $1.records } == 50)
        #expect(infos.allSatisfy { $0.size <= 2_000 && $0.records > 0 })
        #expect(infos.map(\.records) == Array(repeating: 3, count: 16) + [2])
        // Consecutive: each file starts where the previous stopped.
        for (a, b) in zip(infos, infos.dropFirst()) {
            #expect(b.first!.microseconds == a.last!.microseconds + 1)
        }
        #expect(writer.filesOpened == 17)
        #expect(writer.recordsWritten == 50)
    }

    @Test func maxFilesDeletesTheOldestOfOurFilesOnly() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        _ = FileManager.default.createFile(atPath: dir + "/notes.txt", contents: Data("keep".utf8))
        _ = FileManager.default.createFile(atPath: dir + "/sip-capture.pcap", contents: Data())
        var framer = PacketFramer()
        let clock = FakeClock()
        let writer = try PcapWriter(
            configuration: self.configuration(dir, maxFileSize: 1_024, maxFiles: 3), clock: { clock.now }
        )
        var names: [String] = []
        for i in 0..<10 {
            clock.advance(seconds: 1)
            try writer.write(try framer.frames(
                for: TraceTest.event(.sent, from: self.proxy4, to: self.phone4, at: Int64(i),
                                     payload: [UInt8](repeating: 0x41, count: 900))
            ))
            if let path = writer.currentPath, names.last != path { names.append(path) }
        }
        writer.close()
        #expect(names.count == 10)
        let kept = try self.files(dir).map(\.path)
        #expect(kept == Array(names.suffix(3)))
        #expect(writer.filesKept == 3)
        #expect(FileManager.default.fileExists(atPath: dir + "/notes.txt"))
        #expect(FileManager.default.fileExists(atPath: dir + "/sip-capture.pcap"))
    }

    @Test func rotatesByDurationOnWriteAndOnTick() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        var framer = PacketFramer()
        let clock = FakeClock()
        let writer = try PcapWriter(
            configuration: self.configuration(dir, maxDuration: 10_000_000), clock: { clock.now }
        )
        let event = TraceTest.event(.sent, from: self.proxy4, to: self.phone4, payload: [0x41])
        try writer.write(try framer.frames(for: event))
        let first = writer.currentPath
        clock.advance(seconds: 5)
        try writer.write(try framer.frames(for: event))
        #expect(writer.currentPath == first)
        clock.advance(seconds: 5)
        try writer.write(try framer.frames(for: event))
        let second = writer.currentPath
        #expect(second != first)
        clock.advance(seconds: 10)
        writer.tick()
        #expect(writer.currentPath == nil)  // closed; the next write opens the next file
        clock.advance(seconds: 100)
        writer.tick()
        #expect(try self.files(dir).map(\.records) == [2, 1])
        try writer.write(try framer.frames(for: event))
        writer.close()
        #expect(try self.files(dir).map(\.records) == [2, 1, 1])
    }

    // MARK: Flushing

    @Test func flushesWithinTheIntervalOrAfterEveryRecord() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        var framer = PacketFramer()
        let clock = FakeClock()
        let event = TraceTest.event(.sent, from: self.proxy4, to: self.phone4, payload: TraceTest.sipRequest("BYE"))

        let lazy = try PcapWriter(
            configuration: self.configuration(dir + "/lazy", flushInterval: 1_000_000), clock: { clock.now }
        )
        try lazy.write(try framer.frames(for: event))
        let lazyPath = try #require(lazy.currentPath)
        // The header is flushed at open; the record waits in the stdio buffer.
        #expect(TraceFileSystem.size(lazyPath) == 24)
        #expect(lazy.microsecondsUntilFlush() == 1_000_000)
        clock.advance(seconds: 0.5)
        lazy.tick()
        #expect(TraceFileSystem.size(lazyPath) == 24)
        clock.advance(seconds: 0.5)
        lazy.tick()
        #expect(TraceFileSystem.size(lazyPath) == Int64(lazy.currentFileSize))
        #expect(TraceFiles.info(path: lazyPath).records == 1)
        #expect(lazy.microsecondsUntilFlush() == nil)

        let eager = try PcapWriter(
            configuration: self.configuration(dir + "/eager", flushInterval: 0), clock: { clock.now }
        )
        for count in 1...3 {
            try eager.write(try framer.frames(for: event))
            let path = try #require(eager.currentPath)
            #expect(TraceFileSystem.size(path) == Int64(eager.currentFileSize))
            #expect(TraceFiles.info(path: path).records == count)
        }
        lazy.close()
        eager.close()
    }

    // MARK: Names and listing

    @Test func fileNamesAreUTCAndSortByTime() throws {
        // 1700000000 s = 2023-11-14 22:13:20 UTC.
        let name = TraceFileName.make(time: TraceTimestamp(microseconds: 1_700_000_000_999_999), sequence: 7)
        #expect(name == "sip-20231114-221320-0007.pcap")
        #expect(TraceFileName.sequence(of: name) == 7)
        let epoch = TraceFileName.make(time: TraceTimestamp(microseconds: 0), sequence: 10_012)
        #expect(epoch == "sip-19700101-000000-0012.pcap")
        for bad in ["sip-20231114-221320-007.pcap", "sip-2023111a-221320-0007.pcap", "x-20231114-221320-0007.pcap",
                    "sip-20231114-221320-0007.pcapng", "sip-capture.pcap"] {
            #expect(TraceFileName.sequence(of: bad) == nil, "\(bad)")
        }
    }

    @Test func sequenceContinuesAfterExistingFiles() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        _ = FileManager.default.createFile(atPath: dir + "/sip-20231114-221320-0041.pcap", contents: Data())
        let clock = FakeClock(0)
        let writer = try PcapWriter(configuration: self.configuration(dir), clock: { clock.now })
        try writer.rotate()
        #expect(writer.currentPath == dir + "/sip-19700101-000000-0042.pcap")
        writer.close()
    }

    @Test func listingToleratesTruncatedAndEmptyFiles() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        var framer = PacketFramer()
        let writer = try PcapWriter(configuration: self.configuration(dir))
        for i in 0..<4 {
            try writer.write(try framer.frames(
                for: TraceTest.event(.sent, from: self.proxy4, to: self.phone4, at: Int64(i) * 1_000_000,
                                     payload: TraceTest.sipRequest("MESSAGE"))
            ))
        }
        let path = try #require(writer.currentPath)
        writer.close()
        // Cut the last record in the middle, as a crash during a write could.
        let size = try #require(TraceFileSystem.size(path))
        #expect(truncate(path, off_t(size - 10)) == 0)
        _ = FileManager.default.createFile(atPath: dir + "/sip-20991231-235959-9999.pcap", contents: Data([0xD4, 0xC3]))
        let infos = try self.files(dir)
        #expect(infos.count == 2)
        #expect(infos[0].records == 3)
        #expect(infos[0].last == TraceTimestamp(microseconds: 2_000_000))
        #expect(infos[1].records == 0 && infos[1].first == nil && infos[1].size == 2)
        #expect(throws: TraceError.self) { try TraceFiles.list(directory: dir + "/missing") }
    }

    @Test func creatingTheWriterFailsForAnUnwritableDirectory() throws {
        let dir = TraceTest.temporaryDirectory()
        defer { TraceTest.remove(dir) }
        _ = FileManager.default.createFile(atPath: dir + "/file", contents: Data())
        #expect(throws: TraceError.self) { try PcapWriter(configuration: self.configuration(dir + "/file/sub")) }
    }
}
