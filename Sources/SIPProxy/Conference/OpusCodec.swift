// OpusCodec: Opus (RFC 6716) through libopus, for conference participants whose phones prefer it. The room works
// at 16 kHz, so the codec runs at 16 kHz mono (Opus decodes any stream at any of its rates); on the wire the RTP
// clock is 48 kHz whatever the audio is (RFC 7587 §4.1), so 20 ms advances the timestamp by 960.

import COpus

/// A participant's Opus encoder and decoder. Not thread-safe: used on its room's event loop only.
public final class OpusCodec {
    private let encoder: OpaquePointer
    private let decoder: OpaquePointer
    public let sampleRate: Int32

    /// Nil when libopus refuses the settings or cannot allocate.
    public init?(sampleRate: Int32 = 16_000) {
        var error: Int32 = 0
        guard let encoder = opus_encoder_create(sampleRate, 1, OPUS_APPLICATION_VOIP, &error), error == OPUS_OK else { return nil }
        guard let decoder = opus_decoder_create(sampleRate, 1, &error), error == OPUS_OK else {
            opus_encoder_destroy(encoder)
            return nil
        }
        self.encoder = encoder
        self.decoder = decoder
        self.sampleRate = sampleRate
    }

    deinit {
        opus_encoder_destroy(self.encoder)
        opus_decoder_destroy(self.decoder)
    }

    /// One packet to samples at `sampleRate` (at most 120 ms of them); nothing for a packet libopus rejects.
    public func decode(_ payload: UnsafeRawBufferPointer) -> [Int16] {
        guard payload.count > 0 else { return [] }
        let capacity = Int(self.sampleRate) * 120 / 1000
        var samples = [Int16](repeating: 0, count: capacity)
        let count = samples.withUnsafeMutableBufferPointer { out -> Int32 in
            guard let output = out.baseAddress else { return -1 }
            return payload.withMemoryRebound(to: UInt8.self) { input in
                opus_decode(self.decoder, input.baseAddress, Int32(input.count), output, Int32(capacity), 0)
            }
        }
        return count > 0 ? Array(samples.prefix(Int(count))) : []
    }

    /// One frame (20 ms: 320 samples at 16 kHz) to a packet; empty when libopus fails.
    public func encode(_ samples: [Int16]) -> [UInt8] {
        var packet = [UInt8](repeating: 0, count: 1276)  // RFC 6716 §3.2.1: the largest frame
        let count = samples.withUnsafeBufferPointer { input -> Int32 in
            packet.withUnsafeMutableBufferPointer { out -> Int32 in
                guard let pcm = input.baseAddress, let data = out.baseAddress else { return -1 }
                return opus_encode(self.encoder, pcm, Int32(input.count), data, Int32(out.count))
            }
        }
        return count > 0 ? Array(packet.prefix(Int(count))) : []
    }
}
