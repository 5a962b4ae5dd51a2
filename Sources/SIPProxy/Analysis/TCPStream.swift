// TCPStream: one direction of a TCP connection, reassembled in sequence order and cut into SIP messages.

/// A SIP message cut out of a TCP stream, with the frames whose segments carried any of its bytes.
struct StreamMessage {
    var bytes: [UInt8]
    var frames: [FrameRef]
    /// Stream offsets of the message (relative to the first byte seen).
    var range: Range<Int64>
}

/// Reassembles one direction of a TCP connection. Segments are placed by sequence number (32-bit wrap-around
/// safe), retransmitted and overlapping bytes are dropped, out-of-order segments wait until the hole is filled.
/// A hole that never fills (a capture that lost packets) is skipped once too much waits behind it, or at the end.
/// Messages are framed with `SIPParser.frame` (Content-Length); bytes that are not SIP are skipped up to the next
/// line that looks like a SIP start line, so a capture that begins mid-message resynchronizes.
final class TCPStream {
    static let maxPendingSegments = 256
    static let maxPendingBytes = 1 << 20

    /// The SYN frames of the connection: exported with each message so that readers can anchor the stream.
    private(set) var handshake: [FrameRef] = []
    private var nextSeq: UInt32?
    /// Stream offset just past the last in-order byte.
    private var nextOffset: Int64 = 0
    /// Unconsumed in-order bytes, starting at stream offset `bufferOffset`.
    private var buffer: [UInt8] = []
    private var bufferOffset: Int64 = 0
    private var segments: [(range: Range<Int64>, frame: FrameRef)] = []
    private var pending: [(offset: Int64, data: [UInt8], frame: FrameRef)] = []
    private var pendingBytes = 0
    /// The last messages cut, so that a late retransmission can be attributed to its call (for export).
    private var recent: [(range: Range<Int64>, callID: String)] = []

    /// Adds a segment. Returns the Call-IDs of earlier messages when the segment only repeats bytes already seen.
    func add(seq: UInt32, syn: Bool, payload: [UInt8], frame: FrameRef) -> [String] {
        if syn, self.nextSeq != seq &+ 1 {
            // A new connection on the same addresses and ports starts a new stream.
            self.reset()
            self.nextSeq = seq &+ 1
            self.handshake = [frame]
        }
        guard !payload.isEmpty else { return [] }
        let expected = self.nextSeq ?? seq
        self.nextSeq = expected
        let offset = self.nextOffset + Int64(Int32(bitPattern: seq &- expected))
        let end = offset + Int64(payload.count)
        if end <= self.nextOffset {
            // A retransmission: part of a message still being collected, or of one already cut.
            if end > self.bufferOffset { self.segments.append((offset..<end, frame)) }
            return self.recent.filter { $0.range.overlaps(offset..<end) }.map(\.callID)
        }
        if offset > self.nextOffset {
            self.pending.append((offset, payload, frame))
            self.pendingBytes += payload.count
            // At a message boundary, a segment that starts a new message after a hole (frames missing from the
            // capture, or an export of one call out of a shared connection) need not wait for the hole.
            let startsMessage = payload.withUnsafeBytes { SIPStartLine.classify($0) == .sip }
            if self.pending.count > Self.maxPendingSegments || self.pendingBytes > Self.maxPendingBytes
                || (self.buffer.isEmpty && startsMessage)
            {
                self.skipHole()
            }
            return []
        }
        self.append(offset: offset, data: payload, frame: frame)
        self.drainPending()
        return []
    }

    private func reset() {
        self.buffer.removeAll()
        self.segments.removeAll()
        self.pending.removeAll()
        self.pendingBytes = 0
        self.bufferOffset = self.nextOffset
    }

    /// Skips every remaining hole so that waiting segments are used (called at the end of the input).
    func flush() {
        while !self.pending.isEmpty { self.skipHole() }
    }

    /// Remembers which call a cut message belonged to.
    func remember(_ range: Range<Int64>, callID: String) {
        self.recent.append((range, callID))
        if self.recent.count > 16 { self.recent.removeFirst(self.recent.count - 16) }
    }

    private func append(offset: Int64, data: [UInt8], frame: FrameRef) {
        let skip = Int(self.nextOffset - offset)
        self.buffer.append(contentsOf: data[skip...])
        let end = offset + Int64(data.count)
        self.segments.append((offset..<end, frame))
        self.nextSeq = self.nextSeq.map { $0 &+ UInt32(truncatingIfNeeded: end - self.nextOffset) }
        self.nextOffset = end
    }

    private func drainPending() {
        var progressed = true
        while progressed {
            progressed = false
            var i = 0
            while i < self.pending.count {
                let piece = self.pending[i]
                if piece.offset <= self.nextOffset {
                    self.pending.remove(at: i)
                    self.pendingBytes -= piece.data.count
                    if piece.offset + Int64(piece.data.count) > self.nextOffset {
                        self.append(offset: piece.offset, data: piece.data, frame: piece.frame)
                        progressed = true
                    }
                } else {
                    i += 1
                }
            }
        }
    }

    /// Gives up on the bytes before the first waiting segment: the partial message in the buffer is lost.
    private func skipHole() {
        guard let first = self.pending.map(\.offset).min() else { return }
        self.buffer.removeAll()
        self.segments.removeAll()
        self.nextSeq = self.nextSeq.map { $0 &+ UInt32(truncatingIfNeeded: first - self.nextOffset) }
        self.nextOffset = first
        self.bufferOffset = first
        self.drainPending()
    }

    /// Cuts every complete SIP message from the buffer.
    func messages() -> [StreamMessage] {
        var result: [StreamMessage] = []
        var consumed = 0
        let parser = SIPParser(maxMessageSize: 1 << 20)
        self.buffer.withUnsafeBytes { raw in
            loop: while consumed < raw.count {
                if raw[consumed] == 13 || raw[consumed] == 10 {
                    consumed += 1
                    continue
                }
                let rest = UnsafeRawBufferPointer(rebasing: raw[consumed...])
                switch SIPStartLine.classify(rest) {
                case .needMoreData:
                    break loop
                case .notSIP:
                    guard let next = SIPStartLine.nextCandidate(rest) else {
                        // Keep only an unfinished last line: it may become a start line.
                        consumed += (rest.lastIndex(of: 10).map { $0 + 1 }) ?? 0
                        break loop
                    }
                    consumed += next
                case .sip:
                    let framed: SIPParser.FrameResult
                    do {
                        framed = try parser.frame(rest)
                    } catch {
                        consumed += 1
                        continue
                    }
                    switch framed {
                    case .needMoreData, .needBody:
                        break loop
                    case .keepAlive(let length):
                        consumed += length
                    case .message(let length):
                        let start = self.bufferOffset + Int64(consumed)
                        let range = start..<(start + Int64(length))
                        let frames = self.handshake + self.segments.filter { $0.range.overlaps(range) }.map(\.frame)
                        result.append(StreamMessage(bytes: Array(rest[0..<length]), frames: frames, range: range))
                        consumed += length
                    }
                }
            }
        }
        if consumed > 0 {
            self.buffer.removeFirst(consumed)
            self.bufferOffset += Int64(consumed)
            let keepFrom = self.bufferOffset
            self.segments.removeAll { $0.range.upperBound <= keepFrom }
        }
        return result
    }
}
