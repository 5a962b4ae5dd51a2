import Foundation

/// The samples of a 16-bit PCM WAV file (what baresip's sndfile module writes), first channel only, scaled to
/// -1...1. Parsed from the RIFF chunks rather than assuming a 44-byte header: other writers put LIST or fact chunks
/// before the data.
struct PCMWave: Sendable {
    let sampleRate: Int
    let channels: Int
    let samples: [Float]

    var duration: Double { Double(samples.count) / Double(sampleRate) }

    static func read(_ url: URL) throws -> PCMWave {
        try parse(Data(contentsOf: url))
    }

    static func parse(_ data: Data) throws -> PCMWave {
        let bytes = [UInt8](data)
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func tag(_ at: Int) -> String { String(decoding: bytes[at..<at + 4], as: UTF8.self) }
        guard bytes.count >= 12, tag(0) == "RIFF", tag(8) == "WAVE" else {
            throw TestSupportError("not a RIFF/WAVE file (\(bytes.count) bytes)")
        }
        var format: (channels: Int, rate: Int, blockAlign: Int)?
        var offset = 12
        while offset + 8 <= bytes.count {
            let id = tag(offset)
            let size = u32(offset + 4)
            let body = offset + 8
            switch id {
            case "fmt ":
                guard size >= 16, body + 16 <= bytes.count else { throw TestSupportError("short fmt chunk") }
                // 1 is PCM; 0xFFFE (extensible) carries PCM too, in its sub-format GUID, which we do not check.
                let code = u16(body), channels = u16(body + 2), rate = u32(body + 4)
                let blockAlign = u16(body + 12), bits = u16(body + 14)
                guard code == 1 || code == 0xFFFE, bits == 16, channels >= 1, rate > 0,
                    blockAlign == 2 * channels
                else {
                    throw TestSupportError("not 16-bit PCM: format \(code), \(bits) bits, \(channels) channels")
                }
                format = (channels, rate, blockAlign)
            case "data":
                guard let format else { throw TestSupportError("data chunk before the fmt chunk") }
                // A writer that was killed leaves the size it wrote at the start (0, or a placeholder): then the
                // data runs to the end of the file.
                let available = bytes.count - body
                let length = (size == 0 || size > available) ? available : size
                let frames = length / format.blockAlign
                var samples = [Float](repeating: 0, count: frames)
                for frame in 0..<frames {
                    samples[frame] = Float(Int16(bitPattern: UInt16(u16(body + frame * format.blockAlign)))) / 32768
                }
                return PCMWave(sampleRate: format.rate, channels: format.channels, samples: samples)
            default:
                break
            }
            offset = body + size + (size & 1)  // chunks are padded to an even length
        }
        throw TestSupportError("no data chunk")
    }

    /// A mono 16-bit PCM WAV file of `samples` (-1...1), for testing the parser and the analysis.
    static func wavData(_ samples: [Float], sampleRate: Int, extraChunk: Bool = false) -> Data {
        var out = Data()
        func put32(_ value: Int) { withUnsafeBytes(of: UInt32(value).littleEndian) { out.append(contentsOf: $0) } }
        func put16(_ value: Int) { withUnsafeBytes(of: UInt16(value).littleEndian) { out.append(contentsOf: $0) } }
        let list = Array("LIST".utf8) + [3, 0, 0, 0, 0x61, 0x62, 0x63, 0]  // an odd-sized chunk, padded
        let dataBytes = samples.count * 2
        out.append(contentsOf: Array("RIFF".utf8))
        put32(4 + 24 + (extraChunk ? list.count : 0) + 8 + dataBytes)
        out.append(contentsOf: Array("WAVE".utf8))
        out.append(contentsOf: Array("fmt ".utf8))
        put32(16); put16(1); put16(1); put32(sampleRate); put32(sampleRate * 2); put16(2); put16(16)
        if extraChunk { out.append(contentsOf: list) }
        out.append(contentsOf: Array("data".utf8))
        put32(dataBytes)
        for sample in samples {
            put16(Int(UInt16(bitPattern: Int16(max(-1, min(1, sample)) * 32767))))
        }
        return out
    }
}

/// How much of a recording's sound is at given frequencies: the recording is cut into blocks (100 ms: 10 Hz
/// resolution, and 440 and 1000 Hz fall on whole cycles at 8 and 48 kHz), blocks quieter than the threshold are
/// silence and left out, and each frequency's Goertzel power over the voiced blocks is divided by their energy.
/// A pure tone gives 1 at its frequency and about 0 elsewhere; noise spreads thinly over all frequencies.
struct ToneReport: Sendable, CustomStringConvertible {
    let sampleRate: Int
    let duration: Double
    let voicedDuration: Double
    /// RMS level of the voiced blocks in dB relative to full scale (-infinity when nothing was voiced).
    let levelDBFS: Double
    let frequencies: [Double]
    /// Fraction (0...1) of the voiced energy at each of `frequencies`.
    let relativePowers: [Double]

    func relativePower(at frequency: Double) -> Double {
        guard let index = frequencies.firstIndex(of: frequency) else { return .nan }
        return relativePowers[index]
    }

    var description: String {
        let powers = zip(frequencies, relativePowers)
            .map { String(format: "%.0f Hz %.4f", $0, $1) }.joined(separator: ", ")
        return String(format: "%d Hz, %.2f s, voiced %.2f s at %.1f dBFS; ", sampleRate, duration, voicedDuration,
                      levelDBFS) + powers
    }
}

enum ToneAnalysis {
    /// Goertzel filter: |X(f)|² of `samples`, the squared magnitude of the DFT at `frequency` (which need not fall
    /// on a bin). A tone of amplitude A over N samples gives (A·N/2)².
    static func goertzelPower(_ samples: ArraySlice<Float>, frequency: Double, sampleRate: Int) -> Double {
        let coefficient = 2 * cos(2 * Double.pi * frequency / Double(sampleRate))
        var s1 = 0.0, s2 = 0.0
        for sample in samples {
            let s0 = Double(sample) + coefficient * s1 - s2
            s2 = s1
            s1 = s0
        }
        return s1 * s1 + s2 * s2 - coefficient * s1 * s2
    }

    static func analyze(_ wave: PCMWave, frequencies: [Double], blockDuration: Double = 0.1,
                        voicedThresholdDBFS: Double = -40) -> ToneReport {
        let blockLength = max(1, Int(Double(wave.sampleRate) * blockDuration))
        // The threshold is on the RMS: a full-scale sine has an RMS of 1/√2, so -40 dBFS is a tone 37 dB down.
        let threshold = pow(10, voicedThresholdDBFS / 20)
        var voicedEnergy = 0.0, voicedSamples = 0
        var powers = [Double](repeating: 0, count: frequencies.count)
        var start = 0
        while start + blockLength <= wave.samples.count {
            let block = wave.samples[start..<start + blockLength]
            start += blockLength
            let energy = block.reduce(0.0) { $0 + Double($1) * Double($1) }
            guard (energy / Double(blockLength)).squareRoot() >= threshold else { continue }
            voicedEnergy += energy
            voicedSamples += blockLength
            for (index, frequency) in frequencies.enumerated() {
                // 2|X|²/N is the energy of the block's component at `frequency` (Parseval, one-sided).
                powers[index] += 2 * goertzelPower(block, frequency: frequency, sampleRate: wave.sampleRate)
                    / Double(blockLength)
            }
        }
        let level = voicedSamples > 0 ? 10 * log10(voicedEnergy / Double(voicedSamples)) : -Double.infinity
        return ToneReport(
            sampleRate: wave.sampleRate,
            duration: wave.duration,
            voicedDuration: Double(voicedSamples) / Double(wave.sampleRate),
            levelDBFS: level,
            frequencies: frequencies,
            relativePowers: powers.map { voicedEnergy > 0 ? $0 / voicedEnergy : 0 }
        )
    }
}
