// TraceTimeline: several capture files read as one timeline, merged by timestamp.

/// Reads capture files (a rotated ring, or captures from several hosts) as one timeline: frames are merged by
/// timestamp, ties kept in file order and then frame order, and streamed: only one frame per file is held.
public struct TraceTimeline: Sendable {
    public let paths: [String]

    public init(paths: [String]) {
        self.paths = paths
    }

    /// Visits every frame in time order. Returns warnings (truncated last records), one line each.
    @discardableResult
    public func forEachFrame(_ body: (CapturedFrame) throws(AnalysisError) -> Void) throws(AnalysisError) -> [String] {
        // Open everything first, so that a bad file fails before any output.
        var readers: [PcapFileReader] = []
        for (index, path) in self.paths.enumerated() {
            readers.append(try PcapFileReader(path: path, fileIndex: index))
        }
        var heads: [CapturedFrame?] = []
        for reader in readers { heads.append(try reader.next()) }
        while true {
            var best: Int?
            for (i, head) in heads.enumerated() {
                guard let head else { continue }
                if let b = best, let current = heads[b], current.time <= head.time { continue }
                best = i
            }
            guard let index = best, let frame = heads[index] else { break }
            try body(frame)
            heads[index] = try readers[index].next()
        }
        return readers.compactMap(\.warning)
    }

    /// Visits every SIP message in time order (of the frame that completed it), and with `rtp` every RTP packet.
    @discardableResult
    public func forEachMessage(
        _ body: (CapturedMessage) -> Void,
        extraFrame: (FrameRef, String) -> Void = { _, _ in },
        rtp: ((CapturedRTP) -> Void)? = nil
    ) throws(AnalysisError) -> [String] {
        var dissector = PacketDissector()
        dissector.collectsRTP = rtp != nil
        var lastTime: CaptureTime = 0
        var events: [DissectorEvent] = []
        func drain() {
            for event in events {
                switch event {
                case .message(let message): body(message)
                case .extraFrame(let frame, let callID): extraFrame(frame, callID)
                case .rtp(let packet): rtp?(packet)
                }
            }
            events.removeAll(keepingCapacity: true)
        }
        let warnings = try self.forEachFrame { frame in
            lastTime = frame.time
            dissector.process(frame, &events)
            if !events.isEmpty { drain() }
        }
        dissector.finish(time: lastTime, &events)
        drain()
        return warnings
    }

    /// The link types of the files, in command-line order.
    public func linkTypes() throws(AnalysisError) -> [Int32] {
        var result: [Int32] = []
        for (index, path) in self.paths.enumerated() {
            result.append(try PcapFileReader(path: path, fileIndex: index).linkType)
        }
        return result
    }
}
