// JitterBuffer: one conference participant's decoded audio, put back in order and taken out 20 ms at a time by
// the mixer's clock.
//
// Packets arrive with network jitter, now and then out of order or not at all; the mixer ticks every 20 ms on its
// own clock. The buffer holds a few packets to reorder them (by RTP sequence number, RFC 3550 §5.1), plays out only
// once it has some audio in hand (so a late packet does not make a gap), conceals a lost packet by repeating the
// last one fading out (simple packet loss concealment, as G.711 Appendix I suggests in spirit), and drops audio
// when it runs too far ahead (a phone whose clock runs fast, or a burst after a stall), so the delay stays bounded.
// Any packet size works: audio is kept as samples, not packets.

/// A value: `push` and `pop` are pure updates.
public struct JitterBuffer: Sendable, Equatable {
    /// Samples the mixer takes per tick (20 ms at 8 kHz).
    public let frame: Int
    /// Audio held before playing out, and the most it holds before dropping the oldest.
    public let target: Int
    public let limit: Int

    /// Packets waiting for an earlier one, by sequence number.
    private var waiting: [UInt16: [Int16]] = [:]
    /// The sequence number expected next; nil before the first packet.
    private var expected: UInt16?
    private var samples: [Int16] = []
    private var playing = false
    /// The last frame played, for concealment, and how many times it was repeated.
    private var last: [Int16] = []
    private var concealed = 0

    public private(set) var lostPackets = 0
    public private(set) var droppedSamples = 0

    public init(frame: Int = 160, target: Int = 2 * 160, limit: Int = 12 * 160) {
        self.frame = frame
        self.target = target
        self.limit = limit
    }

    /// Audio samples held now.
    public var buffered: Int { self.samples.count }

    /// A packet's decoded samples.
    public mutating func push(sequence: UInt16, _ audio: [Int16]) {
        guard let expected = self.expected else {
            self.expected = sequence &+ 1
            self.append(audio)
            return
        }
        let ahead = sequence &- expected
        if ahead >= 0x8000 { return }  // older than what was played: too late
        if ahead == 0 {
            self.append(audio)
            self.expected = sequence &+ 1
            self.release()
            return
        }
        self.waiting[sequence] = audio
        // Three packets behind a hole: the missing one is lost (or late beyond use); skip it.
        if self.waiting.count >= 3 {
            while self.waiting[self.expected ?? 0] == nil, let next = self.expected {
                self.expected = next &+ 1
                self.lostPackets += 1
            }
            self.release()
        }
    }

    /// The next `frame` samples for the mixer: audio when there is some, a fading repeat of the last frame for a
    /// short gap, silence otherwise (nil: nothing to mix, e.g. before the first packet or after a long gap).
    public mutating func pop() -> [Int16]? {
        if !self.playing {
            guard self.samples.count >= self.target else { return nil }
            self.playing = true
        }
        if self.samples.count >= self.frame {
            let out = Array(self.samples.prefix(self.frame))
            self.samples.removeFirst(self.frame)
            self.last = out
            self.concealed = 0
            return out
        }
        // Underrun: conceal up to three frames (60 ms), each quieter; then stop playing until audio builds up again.
        guard self.concealed < 3, self.last.count == self.frame else {
            self.playing = false
            return nil
        }
        self.concealed += 1
        let gain = Int32(4 - self.concealed)  // 3/4, 2/4, 1/4
        var out = self.last.map { Int16(Int32($0) * gain / 4) }
        // What arrived meanwhile goes first.
        for (i, sample) in self.samples.enumerated() where i < out.count { out[i] = sample }
        self.samples.removeAll()
        return out
    }

    private mutating func append(_ audio: [Int16]) {
        self.samples += audio
        if self.samples.count > self.limit {
            let excess = self.samples.count - self.target
            self.samples.removeFirst(excess)
            self.droppedSamples += excess
        }
    }

    /// Moves waiting packets that are now in order to the samples.
    private mutating func release() {
        while let next = self.expected, let audio = self.waiting.removeValue(forKey: next) {
            self.append(audio)
            self.expected = next &+ 1
        }
    }
}
