// ConferenceMixer: one 20 ms tick of a room, as a pure function: every participant hears everyone but themselves
// (an N-1 mix), plus the room's tones, without clipping.

public enum ConferenceMixer {
    /// One participant's part in a tick.
    public struct Input: Sendable {
        public var id: Int
        /// What the participant said this tick (nil: nothing in hand).
        public var frame: [Int16]?
        /// Muted participants are heard by nobody, but still hear the others.
        public var muted: Bool

        public init(id: Int, frame: [Int16]?, muted: Bool = false) {
            self.id = id
            self.frame = frame
            self.muted = muted
        }
    }

    /// The frame each participant hears: the sum of the others' frames and `overlay` (a join or leave tone). A sum
    /// louder than 16 bits is scaled down as a whole frame rather than clipped (clipping is what makes a loud
    /// conference crackle); `frame` is the tick's sample count.
    public static func mix(_ inputs: [Input], overlay: [Int16]? = nil, frame: Int) -> [Int: [Int16]] {
        var total = [Int32](repeating: 0, count: frame)
        if let overlay {
            for i in 0..<min(frame, overlay.count) { total[i] += Int32(overlay[i]) }
        }
        for input in inputs where !input.muted {
            guard let samples = input.frame else { continue }
            for i in 0..<min(frame, samples.count) { total[i] += Int32(samples[i]) }
        }
        var out: [Int: [Int16]] = [:]
        for input in inputs {
            var mine = total
            if !input.muted, let samples = input.frame {
                for i in 0..<min(frame, samples.count) { mine[i] -= Int32(samples[i]) }
            }
            let peak = mine.reduce(Int32(0)) { max($0, abs($1)) }
            if peak > Int32(Int16.max) {
                let scale = Double(Int16.max) / Double(peak)
                out[input.id] = mine.map { Int16(Double($0) * scale) }
            } else {
                out[input.id] = mine.map { Int16($0) }
            }
        }
        return out
    }

    /// The PIN prompt, tick by tick: a 200 ms 440 Hz beep every 2 s (100 ticks of 20 ms), silence between.
    public static func prompt(tick: Int, frame: Int, sampleRate: Int = 8000) -> [Int16] {
        let position = tick % 100
        guard position < 10 else { return [Int16](repeating: 0, count: frame) }
        return (0..<frame).map { n in
            let t = Double(position * frame + n) / Double(sampleRate)
            return Int16(5000 * sin(2 * Double.pi * 440 * t))
        }
    }

    /// A short rising (join) or falling (leave) two-note chime at 8 kHz, quiet enough to talk over.
    public static func chime(rising: Bool, sampleRate: Int = 8000) -> [Int16] {
        let notes: [Double] = rising ? [523.25, 659.25] : [659.25, 523.25]
        let length = sampleRate * 12 / 100  // 120 ms per note
        var out: [Int16] = []
        for note in notes {
            for n in 0..<length {
                // A raised-cosine envelope: no click at either end.
                let envelope = 0.5 - 0.5 * cos(2 * Double.pi * Double(n) / Double(length - 1))
                let value = 6000 * envelope * sin(2 * Double.pi * note * Double(n) / Double(sampleRate))
                out.append(Int16(value))
            }
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
