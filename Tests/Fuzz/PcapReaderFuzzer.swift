// libFuzzer harness: capture analysis, from a pcap/pcapng file to `sipctl trace calls` output and a ladder.
//
// Built by scripts/fuzz.sh together with Sources/SIPProxy/Message/*.swift, the Analysis sources and TextTable into
// one module (not a SwiftPM target). The reader takes a path (libpcap's offline API), so each input is written to
// one temporary file per process first. The pipeline is the one `sipctl trace calls` and `sipctl trace ladder`
// use: PcapFileReader, LinkLayer, IPDecoder with IPFragmentReassembler, TCPStream, PacketDissector,
// SIPMessageInfo, CallCollector and CallList, then Ladder and both renderers for the last dialog and its group.
// Errors (AnalysisError) are expected; traps, sanitizer reports, leaks and timeouts are findings.

import Foundation

@testable import SIPProxy

@_cdecl("LLVMFuzzerTestOneInput")
public func pcapReaderFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    PcapReaderFuzzer.write(UnsafeRawBufferPointer(start: data, count: size))
    PcapReaderFuzzer.analyze(PcapReaderFuzzer.path)
    return 0
}

enum PcapReaderFuzzer {
    /// One file per process, in memory when /dev/shm exists, removed at exit.
    static let path: String = {
        var isDirectory: ObjCBool = false
        let shm = FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory) && isDirectory.boolValue
        let directory = shm ? "/dev/shm" : NSTemporaryDirectory()
        let path = (directory as NSString).appendingPathComponent("sipproxy-fuzz-\(getpid()).pcap")
        atexit { unlink(PcapReaderFuzzer.path) }
        return path
    }()

    static func write(_ bytes: UnsafeRawBufferPointer) {
        let fd = open(Self.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { fatalError("cannot write \(Self.path): errno \(errno)") }
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            guard n > 0 else { fatalError("cannot write \(Self.path): errno \(errno)") }
            offset += n
        }
        close(fd)
    }

    static func analyze(_ path: String) {
        let timeline = TraceTimeline(paths: [path])
        var collector = CallCollector()
        var messages: [CapturedMessage] = []
        var rtp = CapturedRTPStreams()
        do throws(AnalysisError) {
            _ = try timeline.linkTypes()
            // RTP too, as `trace ladder` collects it: headers, SDP codecs and clock rates from the file.
            let warnings = try timeline.forEachMessage(
                { message in
                    collector.add(message)
                    rtp.learn(message)
                    messages.append(message)
                },
                extraFrame: { frame, callID in _ = (frame, callID) },
                rtp: { rtp.add($0) }
            )
            _ = warnings.joined(separator: "\n")
        } catch {
            _ = error.description
            return
        }
        let calls = collector.calls
        _ = CallList.table(calls)
        _ = CallList.csv(calls)
        _ = CallList.json(calls)
        for call in calls {
            _ = CallFilter(since: call.start, until: call.last, user: "a", method: "INVITE").matches(call)
        }
        // `trace ladder` with --group: the last dialog and its relatives.
        let chosen: [CallSummary]
        do throws(AnalysisError) {
            chosen = try CallSelection.last.resolve(in: calls, group: true)
        } catch {
            _ = error.description
            return
        }
        let ids = Set(chosen.map(\.callID))
        let selected = messages.filter { ids.contains($0.info.callID) }
        let streams = rtp.streams(of: selected)
        for stream in streams { _ = (stream.label, stream.figures) }
        let ladder = Ladder(
            callIDs: chosen.map(\.callID), messages: selected, options: LadderOptions(mergeHosts: calls.count % 2 == 0),
            streams: streams
        )
        _ = LadderTextRenderer(width: 100, ascii: false, color: true, raw: true).render(ladder)
        _ = LadderTextRenderer(width: 40, ascii: true, color: false, raw: false).render(ladder)
        _ = LadderSVGRenderer().html(ladder)
    }
}
