// HalfbandResampler: 8 kHz <-> 16 kHz for the conference mix, which runs at 16 kHz so G.722 phones hear each other
// in wideband while G.711 phones take part at 8 kHz. A windowed-sinc low-pass at 4 kHz removes the images when
// going up and the aliases when going down; the filter keeps its history across frames so frame edges do not click.

/// One direction of one participant's resampling, with the filter's state.
public struct HalfbandResampler: Sendable {
    /// 31 taps, Blackman-windowed sinc, cut-off at a quarter of the 16 kHz rate (4 kHz), unity gain at DC.
    static let taps: [Float] = {
        let count = 31
        let middle = Float(count - 1) / 2
        var h = (0..<count).map { i -> Float in
            let n = Float(i) - middle
            let sinc = n == 0 ? 0.5 : sin(Float.pi * 0.5 * n) / (Float.pi * n)
            let w = 0.42 - 0.5 * cos(2 * Float.pi * Float(i) / Float(count - 1)) + 0.08 * cos(4 * Float.pi * Float(i) / Float(count - 1))
            return sinc * w
        }
        let sum = h.reduce(0, +)
        h = h.map { $0 / sum }
        return h
    }()

    /// The last input samples at 16 kHz (zero-stuffed when going up), newest last.
    private var history = [Float](repeating: 0, count: 30)

    public init() {}

    private mutating func filter(_ input: [Float]) -> [Float] {
        let taps = Self.taps
        let padded = self.history + input
        var out = [Float](repeating: 0, count: input.count)
        for i in 0..<input.count {
            var acc: Float = 0
            for k in 0..<taps.count { acc += taps[k] * padded[i + taps.count - 1 - k] }
            out[i] = acc
        }
        self.history = Array(padded.suffix(taps.count - 1))
        return out
    }

    /// 8 kHz to 16 kHz: zeros between the samples, low-passed, doubled (the zeros halve the energy).
    public mutating func up(_ samples: [Int16]) -> [Int16] {
        var stuffed = [Float](repeating: 0, count: samples.count * 2)
        for (i, s) in samples.enumerated() { stuffed[2 * i] = 2 * Float(s) }
        return self.filter(stuffed).map(Self.clamp)
    }

    /// 16 kHz to 8 kHz: low-passed, every other sample.
    public mutating func down(_ samples: [Int16]) -> [Int16] {
        let filtered = self.filter(samples.map(Float.init))
        return stride(from: 0, to: filtered.count, by: 2).map { Self.clamp(filtered[$0]) }
    }

    static func clamp(_ value: Float) -> Int16 {
        Int16(max(-32768, min(32767, value.rounded())))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
