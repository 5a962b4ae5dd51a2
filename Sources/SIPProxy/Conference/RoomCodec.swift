// RoomCodec: the audio codecs a conference room speaks, and which one it answers an offer with (RFC 3264 §6.1:
// the first of the offerer's formats that the room supports).

import Foundation

/// A codec of the room, as negotiated for one participant.
public enum RoomCodec: String, Sendable, Equatable, CaseIterable {
    case pcmu = "PCMU"
    case pcma = "PCMA"
    case g722 = "G722"
    case opus = "opus"

    /// The `a=rtpmap` encoding (RFC 4566 §6): name, RTP clock rate and, for Opus, its mandatory channel count.
    public var rtpmap: String {
        switch self {
        case .pcmu: "PCMU/8000"
        case .pcma: "PCMA/8000"
        // RFC 3551 §4.5.2: G.722 samples at 16 kHz but its RTP clock is 8 kHz, a historic error kept for interop.
        case .g722: "G722/8000"
        // RFC 7587 §7: always "opus/48000/2", even for mono.
        case .opus: "opus/48000/2"
        }
    }

    public var clockRate: Int { self == .opus ? 48_000 : 8_000 }

    /// The RTP timestamp step of a 20 ms packet.
    public var timestampStep: UInt32 { UInt32(self.clockRate / 50) }

    /// The static payload type (RFC 3551 §6), or nil for Opus, which is always dynamic.
    var staticPayloadType: UInt8? {
        switch self {
        case .pcmu: 0
        case .pcma: 8
        case .g722: 9
        case .opus: nil
        }
    }

    /// The codec an offered payload type stands for: a static type by number, a dynamic one by its `a=rtpmap`.
    static func codec(payloadType: String, rtpmaps: [String: String]) -> RoomCodec? {
        if let encoding = rtpmaps[payloadType]?.lowercased() {
            if encoding.hasPrefix("opus/48000") { return .opus }
            if encoding.hasPrefix("pcmu/8000") { return .pcmu }
            if encoding.hasPrefix("pcma/8000") { return .pcma }
            if encoding.hasPrefix("g722/8000") { return .g722 }
            return nil
        }
        return Self.allCases.first { $0.staticPayloadType.map(String.init) == payloadType }
    }

    /// The offerer's first format the room speaks, with its payload type; and its telephone-event type at that
    /// codec's clock rate (RFC 4733 §7.1.1: events use the audio's clock), if offered.
    static func choose(formats: [String], lines: [String]) -> (codec: RoomCodec, payloadType: UInt8, dtmf: UInt8?)? {
        var rtpmaps: [String: String] = [:]
        for line in lines where line.lowercased().hasPrefix("a=rtpmap:") {
            let parts = line.dropFirst("a=rtpmap:".count).split(separator: " ", maxSplits: 1)
            if parts.count == 2 { rtpmaps[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        for format in formats {
            guard let codec = Self.codec(payloadType: format, rtpmaps: rtpmaps), let payloadType = UInt8(format) else { continue }
            let dtmf = formats.first { rtpmaps[$0]?.lowercased() == "telephone-event/\(codec.clockRate)" }.flatMap { UInt8($0) }
            return (codec, payloadType, dtmf)
        }
        return nil
    }
}
