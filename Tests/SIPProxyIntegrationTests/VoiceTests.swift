import Foundation
import Testing

/// Voice, not just signalling: two real phones (baresip) call each other through the proxy, each sends its own
/// tone, records what it hears, and the recordings must hold the other phone's tone and not their own. See
/// `VoiceCall` for how the phones are set up, driven and recorded.
@Suite("Voice: two baresip phones hear each other through the proxy", .serialized)
struct VoiceTests {
    @Test("two baresip phones hear each other's tone through the proxy (media direct)")
    func mediaDirect() async throws {
        let call = try await VoiceCall.run(proxyArguments: [])
        var passed = Self.expectVoiceBothWays(call)
        // Media direct: the proxy leaves the SDP alone, so each phone is told the other phone's own RTP address.
        let offer = call.bob.received("INVITE ").first?.text ?? ""
        let answer = call.alice.received("SIP/2.0 200").first { $0.text.contains("\r\n\r\nv=0") }?.text ?? ""
        passed = check(offer.contains("c=IN IP4 \(VoiceCall.alice.address)"),
                       "bob was offered alice's own RTP address\n\(offer)") && passed
        passed = check(answer.contains("c=IN IP4 \(VoiceCall.bob.address)"),
                       "alice got bob's own RTP address in the answer\n\(answer)") && passed
        Self.finish(call, passed: passed)
    }

    @Test("two baresip phones hear each other's tone through the media relay; the trace holds and plays both directions")
    func mediaRelay() async throws {
        let call = try await VoiceCall.run(proxyArguments: ["--media", "relay", "--rtp-ports", "30000-30099", "--trace-flush-ms", "0"])
        var passed = Self.expectVoiceBothWays(call)
        // Each phone was told to send its RTP to the proxy. baresip sends from 127.0.0.1, not the address in its
        // SDP: only latching gets its audio back to it.
        let offer = call.bob.received("INVITE ").first?.text ?? ""
        let answer = call.alice.received("SIP/2.0 200").first { $0.text.contains("\r\n\r\nv=0") }?.text ?? ""
        passed = check(offer.contains("c=IN IP4 127.0.0.10") && !offer.contains("c=IN IP4 \(VoiceCall.alice.address)"),
                       "bob was offered the relay's address\n\(offer)") && passed
        passed = check(answer.contains("c=IN IP4 127.0.0.10"), "alice got the relay's address in the answer\n\(answer)") && passed
        // The proxy's trace: four RTP streams (each phone to the relay, the relay to each phone) without loss, and
        // each decodes to its speaker's tone, as Wireshark's player would play it.
        let traces = call.directory.appendingPathComponent("traces")
        let file = traceFiles(in: traces).first
        passed = check(file != nil, "no trace file in \(traces.path)") && passed
        if let file {
            let streams = try await ToolRunner.run("/usr/bin/env", ["tshark", "-q", "-z", "rtp,streams", "-r", file.path],
                                                   in: call.directory)
            // (A packet the relay sent before a phone's first one went to the phone's SDP address: a stream of
            // its own in tshark's list, left out here.)
            let rows = streams.stdout.split(separator: "\n").filter { row in
                row.contains("g711") && (row.split(separator: " ").dropFirst(8).first.flatMap { Int($0) } ?? 0) >= 100
            }
            passed = check(rows.count == 4 && rows.allSatisfy { $0.contains(" 0 (0.0%)") },
                           "four RTP streams without loss in the trace\n\(streams.stdout)") && passed
            let payloads = try await Self.rtpPayloads(file, in: call.directory)
            var tones: [Double] = []
            for (stream, samples) in payloads.sorted(by: { $0.key < $1.key }) where samples.count >= 100 * 160 {
                let report = ToneAnalysis.analyze(try PCMWave.parse(PCMWave.wavData(samples, sampleRate: 8000)),
                                                  frequencies: VoiceCall.frequencies)
                let tone = VoiceCall.frequencies.first { report.relativePower(at: $0) > 0.5 }
                passed = check(tone != nil && report.voicedDuration >= 2.5, "stream \(stream) plays no clear tone: \(report)") && passed
                if let tone { tones.append(tone) }
            }
            passed = check(tones.filter { $0 == VoiceCall.frequencies[0] }.count == 2
                           && tones.filter { $0 == VoiceCall.frequencies[1] }.count == 2,
                           "each tone in two streams (to the relay and from it): \(tones)") && passed
        }
        Self.finish(call, passed: passed)
    }

    /// The G.711 payload of each RTP stream (SSRC, source and destination) in a capture, decoded to samples.
    static func rtpPayloads(_ file: URL, in directory: URL) async throws -> [String: [Float]] {
        let fields = try await ToolRunner.run("/usr/bin/env", [
            "tshark", "-r", file.path, "-Y", "rtp", "-T", "fields", "-E", "separator=/t", "-e", "rtp.ssrc", "-e", "ip.src",
            "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport", "-e", "rtp.p_type", "-e", "rtp.payload",
        ], in: directory)
        var out: [String: [Float]] = [:]
        for line in fields.stdout.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 7, let type = Int(f[5]), type == 0 || type == 8 else { continue }
            let hex = f[6].replacingOccurrences(of: ":", with: "")
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex), index < hex.endIndex {
                if let byte = UInt8(hex[index..<next], radix: 16) { bytes.append(byte) }
                index = next
            }
            out["\(f[0]) \(f[1]):\(f[2])->\(f[3]):\(f[4])", default: []] += bytes.map { type == 0 ? Self.ulaw($0) : Self.alaw($0) }
        }
        return out
    }

    /// G.711 μ-law and A-law to linear (ITU-T G.711), scaled to -1...1.
    static func ulaw(_ byte: UInt8) -> Float {
        let u = ~byte
        let sign = u & 0x80, exponent = Int((u >> 4) & 0x07), mantissa = Int(u & 0x0F)
        let magnitude = ((mantissa << 3) + 0x84) << exponent - 0x84
        return Float(sign != 0 ? -magnitude : magnitude) / 32768
    }

    static func alaw(_ byte: UInt8) -> Float {
        let a = byte ^ 0x55
        let sign = a & 0x80, exponent = Int((a >> 4) & 0x07), mantissa = Int(a & 0x0F)
        let magnitude = exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1)
        return Float(sign != 0 ? magnitude : -magnitude) / 32768
    }

    /// The expectations every voice call must meet, whatever the proxy does with the media: the script ran to the
    /// end, the call was set up and torn down through the proxy, and each phone heard the other's tone clearly
    /// (at least half of the voiced energy, 20 dB over its own tone, not quieter than -30 dBFS, for nearly the
    /// whole call). Returns whether all held; the messages are short, `finish` adds the whole story once.
    static func expectVoiceBothWays(_ call: VoiceCallResult, audioSeconds: Double = 3,
                                    sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        var passed = check(call.completed, "the call script did not run every step: \(call.failedStep)",
                           sourceLocation)
        passed = check(!call.bob.received("INVITE ").isEmpty && !call.alice.received("SIP/2.0 200").isEmpty
                       && !call.bob.received("BYE ").isEmpty,
                       "bob got the INVITE and the BYE, alice the 200", sourceLocation) && passed
        passed = check(call.proxyLog.contains("out INVITE sip:bob"), "the proxy forwarded the INVITE",
                       sourceLocation) && passed
        for (listener, speaker) in [(call.alice, call.bob), (call.bob, call.alice)] {
            guard let heard = listener.heard else {
                passed = check(false, "\(listener.name) recorded nothing it heard", sourceLocation)
                continue
            }
            let wanted = heard.relativePower(at: speaker.tone), own = heard.relativePower(at: listener.tone)
            let what = "\(listener.name) heard \(heard)"
            passed = check(heard.voicedDuration >= audioSeconds - 0.5,
                           "\(what): not \(audioSeconds - 0.5) s of sound", sourceLocation) && passed
            passed = check(heard.levelDBFS >= -30, "\(what): too quiet", sourceLocation) && passed
            passed = check(wanted >= 0.5, "\(what): \(speaker.name)'s \(Int(speaker.tone)) Hz is not most of it",
                           sourceLocation) && passed
            passed = check(own <= 0.01 && wanted >= 100 * own,
                           "\(what): its own \(Int(listener.tone)) Hz came back", sourceLocation) && passed
        }
        return passed
    }

    /// The end of every voice test: the working directory goes when everything held; otherwise it stays, and one
    /// issue tells where it is and what happened (script steps, phones' SIP and consoles, proxy log).
    static func finish(_ call: VoiceCallResult, passed: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        if passed {
            try? FileManager.default.removeItem(at: call.directory)
        } else {
            Issue.record(Comment(rawValue: "the voice call in detail:\n\(call.context)"),
                         sourceLocation: sourceLocation)
        }
    }
}

/// `#expect` that also returns the condition, so a test can tell at its end whether everything held.
private func check(_ condition: Bool, _ message: @autoclosure () -> String,
                   _ sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    if !condition { Issue.record(Comment(rawValue: message()), sourceLocation: sourceLocation) }
    return condition
}

/// The WAV reader and the Goertzel analysis the voice tests rely on, on recordings made here.
@Suite("ToneAnalysis: WAV parsing and Goertzel power")
struct ToneAnalysisTests {
    /// `seconds` of `amplitude`·sin at `frequency`, plus optional deterministic noise of peak `noise`.
    static func tone(_ frequency: Double, amplitude: Float, seconds: Double, sampleRate: Int,
                     noise: Float = 0) -> [Float] {
        var seed: UInt32 = 12345
        return (0..<Int(seconds * Double(sampleRate))).map { n in
            seed = seed &* 1_664_525 &+ 1_013_904_223  // LCG: the same noise on every run
            let random = Float(seed >> 8) / Float(1 << 24) * 2 - 1
            return amplitude * Float(sin(2 * Double.pi * frequency * Double(n) / Double(sampleRate))) + noise * random
        }
    }

    @Test("a tone after silence: only the voiced part counts, and the tone holds almost all of its energy")
    func toneAfterSilence() throws {
        let samples = [Float](repeating: 0, count: 8000)
            + zip(Self.tone(1000, amplitude: 0.3, seconds: 2, sampleRate: 8000, noise: 0.01),
                  Self.tone(440, amplitude: 0.003, seconds: 2, sampleRate: 8000)).map { $0 + $1 }
        // A LIST chunk before the data: the reader must walk the chunks, not assume a 44-byte header.
        let wave = try PCMWave.parse(PCMWave.wavData(samples, sampleRate: 8000, extraChunk: true))
        #expect(wave.sampleRate == 8000 && wave.channels == 1 && wave.samples.count == 24000)
        let report = ToneAnalysis.analyze(wave, frequencies: [440, 1000])
        #expect(abs(report.duration - 3) < 0.001)
        #expect(abs(report.voicedDuration - 2) < 0.001, "\(report)")
        #expect(abs(report.levelDBFS - 20 * log10(0.3 / 2.0.squareRoot())) < 0.5, "\(report)")
        #expect(report.relativePower(at: 1000) > 0.98, "\(report)")
        // 0.003 against 0.3 is 40 dB down: 1e-4 of the energy.
        #expect(report.relativePower(at: 440) > 0.5e-4 && report.relativePower(at: 440) < 2e-4, "\(report)")
    }

    @Test("silence and noise carry no tone; a recording whose writer was killed is read to its end")
    func noiseAndUnfinishedHeader() throws {
        let silent = ToneAnalysis.analyze(try PCMWave.parse(PCMWave.wavData([Float](repeating: 0, count: 8000),
                                                                            sampleRate: 8000)),
                                          frequencies: [440, 1000])
        #expect(silent.voicedDuration == 0 && silent.relativePower(at: 1000) == 0)
        let noise = ToneAnalysis.analyze(try PCMWave.parse(PCMWave.wavData(
            Self.tone(0, amplitude: 0, seconds: 1, sampleRate: 48000, noise: 0.5), sampleRate: 48000)),
            frequencies: [440, 1000])
        #expect(noise.voicedDuration == 1, "\(noise)")
        #expect(noise.relativePower(at: 440) < 0.01 && noise.relativePower(at: 1000) < 0.01, "\(noise)")
        // libsndfile writes the data size when it closes the file; before that it is 0.
        var unfinished = PCMWave.wavData(Self.tone(440, amplitude: 0.5, seconds: 1, sampleRate: 8000), sampleRate: 8000)
        unfinished.replaceSubrange(40..<44, with: [0, 0, 0, 0])
        let wave = try PCMWave.parse(unfinished)
        #expect(wave.samples.count == 8000)
        #expect(ToneAnalysis.analyze(wave, frequencies: [440]).relativePower(at: 440) > 0.99)
        #expect(throws: TestSupportError.self) { try PCMWave.parse(Data("RIFF....WAVEfmt ".utf8)) }
    }
}
