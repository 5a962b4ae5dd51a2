// G711: μ-law and A-law (ITU-T G.711), the codecs every SIP phone has, to and from 16-bit linear samples.

/// G.711 companding. Decoding uses 256-entry tables; encoding follows the reference segment search.
public enum G711 {
    /// μ-law (PCMU, RTP payload type 0) to linear.
    public static let ulawTable: [Int16] = (0...255).map { byte in
        let u = ~UInt8(byte)
        let exponent = Int((u >> 4) & 0x07)
        let mantissa = Int(u & 0x0F)
        let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
        return Int16(u & 0x80 != 0 ? -magnitude : magnitude)
    }

    /// A-law (PCMA, RTP payload type 8) to linear.
    public static let alawTable: [Int16] = (0...255).map { byte in
        let a = UInt8(byte) ^ 0x55
        let exponent = Int((a >> 4) & 0x07)
        let mantissa = Int(a & 0x0F)
        let magnitude = exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1)
        return Int16(a & 0x80 != 0 ? magnitude : -magnitude)
    }

    public static func ulaw(_ sample: Int16) -> UInt8 {
        let bias = 0x84
        var value = Int(sample)
        let sign: Int = value < 0 ? 0x80 : 0
        if value < 0 { value = -value }
        value = min(value, 32635) + bias
        var exponent = 7
        var mask = 0x4000
        while exponent > 0 && value & mask == 0 {
            exponent -= 1
            mask >>= 1
        }
        let mantissa = (value >> (exponent + 3)) & 0x0F
        return ~UInt8(sign | (exponent << 4) | mantissa)
    }

    public static func alaw(_ sample: Int16) -> UInt8 {
        var value = Int(sample)
        let sign: Int = value >= 0 ? 0x80 : 0
        if value < 0 { value = -value - 1 }
        value = min(value, 32767)
        let byte: Int
        if value < 256 {
            byte = value >> 4
        } else {
            var exponent = 1
            while exponent < 7 && value >= (256 << exponent) { exponent += 1 }
            byte = (exponent << 4) | ((value >> (exponent + 3)) & 0x0F)
        }
        return UInt8(sign | byte) ^ 0x55
    }
}
