// The conference's pure parts: G.711 round trips, the jitter buffer's ordering and concealment, the N-1 mix.

import Testing

@testable import SIPProxy

@Suite("Conference: G.711, jitter buffer, N-1 mix")
struct ConferenceMixerTests {
    @Test("G.711 μ-law and A-law decode the reference values and round-trip within a quantization step")
    func g711() {
        #expect(G711.ulawTable[0xFF] == 0 && G711.ulawTable[0x7F] == 0)
        #expect(G711.ulawTable[0x00] == -32124 && G711.ulawTable[0x80] == 32124)
        #expect(G711.alawTable[0xD5] == 8 && G711.alawTable[0x55] == -8)
        #expect(G711.alawTable[0xAA] == 32256 && G711.alawTable[0x2A] == -32256)
        for sample in stride(from: -32000, through: 32000, by: 97).map(Int16.init) {
            let u = Int(G711.ulawTable[Int(G711.ulaw(sample))])
            let a = Int(G711.alawTable[Int(G711.alaw(sample))])
            // The step is about 1/16 of the magnitude (3 % relative error at most) plus a few units near zero.
            let tolerance = max(40, abs(Int(sample)) / 14)
            #expect(abs(u - Int(sample)) <= tolerance && abs(a - Int(sample)) <= tolerance, "\(sample): μ \(u), A \(a)")
        }
    }

    static func frame(_ value: Int16, _ count: Int = 160) -> [Int16] { Array(repeating: value, count: count) }

    @Test("the jitter buffer waits for two frames, reorders, conceals a lost packet, and bounds its delay")
    func jitterBuffer() {
        var buffer = JitterBuffer()
        #expect(buffer.pop() == nil, "nothing before the first packet")
        buffer.push(sequence: 65535, Self.frame(1))
        #expect(buffer.pop() == nil, "one frame is not enough to start")
        // 1 arrives before 0: held until 0 comes.
        buffer.push(sequence: 1, Self.frame(3))
        #expect(buffer.buffered == 160)
        buffer.push(sequence: 0, Self.frame(2))
        #expect(buffer.pop() == Self.frame(1) && buffer.pop() == Self.frame(2) && buffer.pop() == Self.frame(3))
        // A gap: the last frame repeated, fading; then nothing until audio builds up again.
        #expect(buffer.pop() == Self.frame(2) && buffer.pop() == Self.frame(1) && buffer.pop() == Self.frame(0))
        #expect(buffer.pop() == nil)
        // Packet 2 lost: three later packets release the ones after it.
        for seq in [3, 4, 5] as [UInt16] { buffer.push(sequence: seq, Self.frame(Int16(seq) * 10)) }
        #expect(buffer.lostPackets == 1)
        #expect(buffer.pop() == Self.frame(30))
        // Too late to play: ignored.
        buffer.push(sequence: 2, Self.frame(99))
        #expect(buffer.pop() == Self.frame(40))
        // A burst far ahead of the clock: the delay is cut back to the target.
        var burst = JitterBuffer()
        for seq in 0..<30 { burst.push(sequence: UInt16(seq), Self.frame(Int16(seq))) }
        #expect(burst.buffered <= burst.limit && burst.droppedSamples > 0)
        #expect(burst.pop() != nil)
    }

    @Test("N-1: each hears the others and not itself; the muted are heard by nobody; a loud sum is scaled, not clipped")
    func mix() {
        let inputs = [
            ConferenceMixer.Input(id: 1, frame: Self.frame(100)),
            ConferenceMixer.Input(id: 2, frame: Self.frame(20)),
            ConferenceMixer.Input(id: 3, frame: Self.frame(3), muted: true),
            ConferenceMixer.Input(id: 4, frame: nil),
        ]
        let out = ConferenceMixer.mix(inputs, frame: 160)
        #expect(out[1] == Self.frame(20) && out[2] == Self.frame(100) && out[3] == Self.frame(120) && out[4] == Self.frame(120))
        let withTone = ConferenceMixer.mix(inputs, overlay: Self.frame(5, 80), frame: 160)
        #expect(withTone[4]?.prefix(80).allSatisfy { $0 == 125 } == true && withTone[4]?.suffix(80).allSatisfy { $0 == 120 } == true)
        let loud = ConferenceMixer.mix([ConferenceMixer.Input(id: 1, frame: Self.frame(30000)), ConferenceMixer.Input(id: 2, frame: Self.frame(30000)),
                                        ConferenceMixer.Input(id: 3, frame: Self.frame(-1000))], frame: 160)
        #expect(loud[3] == Self.frame(Int16.max), "60000 scaled to full scale, not wrapped or clipped at random")
        #expect(loud[1] == Self.frame(29000))
        let chime = ConferenceMixer.chime(rising: true)
        #expect(chime.count == 1920 && chime.first == 0 && chime.allSatisfy { abs(Int($0)) <= 6000 })
    }
}
