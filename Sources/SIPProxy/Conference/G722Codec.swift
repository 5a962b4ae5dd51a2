// G722Codec: ITU-T G.722 (64 kbit/s sub-band ADPCM, 16 kHz audio) through spandsp, for conference participants
// whose phones prefer wideband. One encoder and one decoder per participant: ADPCM keeps state between frames.

import CSpanDSP

/// A participant's G.722 encoder and decoder. Not thread-safe: used on its room's event loop only.
public final class G722Codec {
    private let encoder: OpaquePointer
    private let decoder: OpaquePointer

    /// Nil when spandsp cannot allocate its state.
    public init?() {
        guard let encoder = g722_encode_init(nil, 64_000, 0) else { return nil }
        guard let decoder = g722_decode_init(nil, 64_000, 0) else {
            g722_encode_free(encoder)
            return nil
        }
        self.encoder = encoder
        self.decoder = decoder
    }

    deinit {
        g722_encode_free(self.encoder)
        g722_decode_free(self.decoder)
    }

    /// One octet of G.722 carries two 16 kHz samples: 160 octets are 20 ms, 320 samples.
    public func decode(_ payload: UnsafeRawBufferPointer) -> [Int16] {
        guard payload.count > 0 else { return [] }
        var samples = [Int16](repeating: 0, count: payload.count * 2)
        let count = samples.withUnsafeMutableBufferPointer { out in
            payload.withMemoryRebound(to: UInt8.self) { input in
                g722_decode(self.decoder, out.baseAddress, input.baseAddress, Int32(input.count))
            }
        }
        return Array(samples.prefix(Int(max(0, count))))
    }

    public func encode(_ samples: [Int16]) -> [UInt8] {
        guard !samples.isEmpty else { return [] }
        var octets = [UInt8](repeating: 0, count: (samples.count + 1) / 2)
        let count = octets.withUnsafeMutableBufferPointer { out in
            samples.withUnsafeBufferPointer { input in
                g722_encode(self.encoder, out.baseAddress, input.baseAddress, Int32(input.count))
            }
        }
        return Array(octets.prefix(Int(max(0, count))))
    }
}
