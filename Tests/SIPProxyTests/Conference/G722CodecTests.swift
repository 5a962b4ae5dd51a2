// G.722 through spandsp and the 8 <-> 16 kHz resampling of the conference mix.

import Foundation
import Testing

@testable import SIPProxy

@Suite("Conference: G.722 and resampling")
struct G722CodecTests {
    static func tone(_ frequency: Double, rate: Double, count: Int, amplitude: Double = 8000) -> [Int16] {
        (0..<count).map { Int16(amplitude * sin(2 * Double.pi * frequency * Double($0) / rate)) }
    }

    /// The amplitude of `frequency` in `samples` (a single-bin DFT, normalised so a sine of amplitude A gives A).
    static func amplitude(_ samples: ArraySlice<Int16>, _ frequency: Double, rate: Double) -> Double {
        var re = 0.0, im = 0.0
        for (n, s) in samples.enumerated() {
            let phase = 2 * Double.pi * frequency * Double(n) / rate
            re += Double(s) * cos(phase)
            im -= Double(s) * sin(phase)
        }
        return 2 * (re * re + im * im).squareRoot() / Double(samples.count)
    }

    @Test("20 ms of 16 kHz audio is 160 octets of G.722; a 5 kHz tone (wideband: above G.711's band) survives a round trip")
    func roundTrip() throws {
        let codec = try #require(G722Codec())
        let input = Self.tone(5000, rate: 16_000, count: 3200)
        var output: [Int16] = []
        for start in stride(from: 0, to: input.count, by: 320) {
            let octets = codec.encode(Array(input[start..<start + 320]))
            #expect(octets.count == 160)
            output += octets.withUnsafeBytes { codec.decode($0) }
        }
        #expect(output.count == 3200)
        // Past the codec's start-up (ADPCM adapts) the tone is there at close to its level, and little else.
        let tail = output[1600...]
        let kept = Self.amplitude(tail, 5000, rate: 16_000)
        #expect(kept > 6000 && kept < 10000, "5 kHz amplitude \(kept)")
        #expect(Self.amplitude(tail, 1000, rate: 16_000) < 400)
    }

    @Test("up then down keeps a 1 kHz tone at its level; going down removes a 6 kHz tone instead of folding it to 2 kHz")
    func resampling() {
        var up = HalfbandResampler(), down = HalfbandResampler()
        var wide: [Int16] = [], back: [Int16] = []
        let narrow = Self.tone(1000, rate: 8000, count: 1600)
        for start in stride(from: 0, to: narrow.count, by: 160) {
            let frame = up.up(Array(narrow[start..<start + 160]))
            #expect(frame.count == 320)
            wide += frame
            back += down.down(frame)
        }
        #expect(abs(Self.amplitude(wide[640...], 1000, rate: 16_000) - 8000) < 400, "1 kHz at 16 kHz")
        #expect(Self.amplitude(wide[640...], 7000, rate: 16_000) < 200, "no image at 7 kHz")
        #expect(abs(Self.amplitude(back[320...], 1000, rate: 8000) - 8000) < 400, "1 kHz back at 8 kHz")
        var decimator = HalfbandResampler()
        let high = Self.tone(6000, rate: 16_000, count: 3200)
        var folded: [Int16] = []
        for start in stride(from: 0, to: high.count, by: 320) { folded += decimator.down(Array(high[start..<start + 320])) }
        #expect(Self.amplitude(folded[320...], 2000, rate: 8000) < 200, "6 kHz does not alias to 2 kHz")
    }
}

@Suite("Conference: Opus and the codec of an offer")
struct RoomCodecTests {
    static func lines(_ maps: [String]) -> [String] { maps.map { "a=rtpmap:\($0)" } }

    @Test("the offerer's first supported format wins; Opus and renamed static codecs by a=rtpmap; telephone-event at the codec's clock")
    func choose() throws {
        let pcmu = try #require(RoomCodec.choose(formats: ["0", "8", "101"], lines: Self.lines(["101 telephone-event/8000"])))
        #expect(pcmu.codec == .pcmu && pcmu.payloadType == 0 && pcmu.dtmf == 101)
        let opus = try #require(RoomCodec.choose(
            formats: ["111", "9", "0", "101", "102"],
            lines: Self.lines(["111 opus/48000/2", "101 telephone-event/48000", "102 telephone-event/8000"])
        ))
        #expect(opus.codec == .opus && opus.payloadType == 111 && opus.dtmf == 101)
        let g722 = try #require(RoomCodec.choose(formats: ["18", "9", "0"], lines: Self.lines(["102 telephone-event/48000"])))
        #expect(g722.codec == .g722 && g722.payloadType == 9 && g722.dtmf == nil)
        let renamed = try #require(RoomCodec.choose(formats: ["96"], lines: Self.lines(["96 PCMA/8000"])))
        #expect(renamed.codec == .pcma && renamed.payloadType == 96)
        #expect(RoomCodec.choose(formats: ["18", "97"], lines: Self.lines(["97 iLBC/8000"])) == nil)
        #expect(RoomCodec.opus.rtpmap == "opus/48000/2" && RoomCodec.opus.timestampStep == 960 && RoomCodec.g722.timestampStep == 160)
    }

    @Test("Opus at 16 kHz: 20 ms frames round-trip a 1 kHz tone at close to its level")
    func opusRoundTrip() throws {
        let codec = try #require(OpusCodec(sampleRate: 16_000))
        let input = G722CodecTests.tone(1000, rate: 16_000, count: 16_000)
        var output: [Int16] = []
        for start in stride(from: 0, to: input.count, by: 320) {
            let packet = codec.encode(Array(input[start..<start + 320]))
            #expect(!packet.isEmpty && packet.count < 400)
            output += packet.withUnsafeBytes { codec.decode($0) }
        }
        #expect(output.count == 16_000)
        let kept = G722CodecTests.amplitude(output[8000...], 1000, rate: 16_000)
        #expect(kept > 6000 && kept < 10000, "1 kHz amplitude \(kept)")
        #expect(G722CodecTests.amplitude(output[8000...], 3000, rate: 16_000) < 400)
    }
}
