// RTPStreamStats: packets, loss and interarrival jitter of one direction of a relayed stream (RFC 3550 §6.4.1,
// Appendix A.1, A.3 and A.8), computed from the RTP headers as packets pass.

/// The statistics of packets seen in one direction. A value: `record` is a pure update.
public struct RTPStreamStats: Sendable, Equatable {
    public var packets: UInt64 = 0
    public var octets: UInt64 = 0
    /// Packets expected from the sequence numbers minus packets received (A.3); never negative here.
    public var lost: UInt64 { self.expected > self.rtpPackets ? self.expected - self.rtpPackets : 0 }
    /// Interarrival jitter in milliseconds (A.8), 0 until two RTP packets of one payload type were seen.
    public var jitterMs: Double { self.clockRate > 0 ? self.jitter / Double(self.clockRate) * 1000 : 0 }

    // RFC 3550 A.1 sequence state.
    var rtpPackets: UInt64 = 0
    var baseSeq: UInt32 = 0
    var maxSeq: UInt16 = 0
    var cycles: UInt32 = 0
    var ssrc: UInt32?
    /// The jitter in timestamp units and what it needs (A.8).
    var jitter: Double = 0
    var lastTransit: Int64?
    var clockRate = 0

    public init() {}

    var expected: UInt64 {
        guard self.rtpPackets > 0 else { return 0 }
        return UInt64(self.cycles) + UInt64(self.maxSeq) - UInt64(self.baseSeq) + 1
    }

    /// The figures a list or the journal shows.
    public var summary: RTPStreamSummary {
        RTPStreamSummary(packets: self.packets, octets: self.octets, lost: self.lost, jitterMs: (self.jitterMs * 100).rounded() / 100)
    }

    /// Counts a datagram of `octets` arriving at `arrivalNanos` (monotonic). An RTP packet (version 2, not an RTCP
    /// packet type on a muxed port: RFC 5761 §4) also updates loss and jitter; `clockRates` maps payload types to
    /// their clock rates from the SDP.
    public mutating func record(_ header: RTPHeader?, octets: Int, arrivalNanos: Int64, clockRates: [Int: Int]) {
        self.packets += 1
        self.octets += UInt64(octets)
        guard let header else { return }
        if self.ssrc != header.ssrc {
            // A new source (or the first): sequence state starts again (A.1 init_seq).
            self.ssrc = header.ssrc
            self.baseSeq = UInt32(header.sequence)
            self.maxSeq = header.sequence
            self.cycles = 0
            self.rtpPackets = 1
            self.lastTransit = nil
            self.jitter = 0
        } else {
            self.rtpPackets += 1
            let delta = header.sequence &- self.maxSeq
            if delta > 0 && delta < 3000 {
                // In order, with a permissible gap; a wrap adds a cycle (A.1 update_seq, MAX_DROPOUT).
                if header.sequence < self.maxSeq { self.cycles += 65536 }
                self.maxSeq = header.sequence
            }
        }
        guard let rate = clockRates[Int(header.payloadType)], rate > 0 else { return }
        if rate != self.clockRate {
            self.clockRate = rate
            self.lastTransit = nil
            self.jitter = 0
        }
        // A.8: transit = arrival (in timestamp units) - timestamp; J += (|D| - J) / 16. Only differences matter,
        // so the arithmetic wraps: a capture's times and an SDP's clock rate are whatever the file says.
        let seconds = arrivalNanos / 1_000_000_000
        let fraction = arrivalNanos % 1_000_000_000
        let arrival = (seconds &* Int64(rate)) &+ (fraction &* Int64(rate)) / 1_000_000_000
        let transit = arrival &- Int64(header.timestamp)
        if let last = self.lastTransit {
            var d = Double(transit &- last)
            if d < 0 { d = -d }
            // A timestamp wrap or a new talk spurt far away would be one huge jump: ignore what is over 10 s.
            if d < Double(rate) * 10 { self.jitter += (d - self.jitter) / 16 }
        }
        self.lastTransit = transit
    }
}

/// One direction of a stream in `sipctl media` and the call journal.
public struct RTPStreamSummary: Sendable, Equatable, Hashable, Codable {
    public var packets: UInt64
    public var octets: UInt64
    public var lost: UInt64
    public var jitterMs: Double

    public init(packets: UInt64 = 0, octets: UInt64 = 0, lost: UInt64 = 0, jitterMs: Double = 0) {
        self.packets = packets
        self.octets = octets
        self.lost = lost
        self.jitterMs = jitterMs
    }
}

/// The fixed part of an RTP header (RFC 3550 §5.1).
public struct RTPHeader: Sendable, Equatable {
    public var payloadType: UInt8
    public var marker: Bool
    public var sequence: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32

    /// Reads the header; nil when the datagram is not RTP version 2, or is RTCP on a muxed port (payload types
    /// 64-95 with the marker bit are RTCP packet types 192-223, RFC 5761 §4).
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 12, bytes[0] >> 6 == 2 else { return nil }
        let second = bytes[1]
        let type = second & 0x7F
        guard !(64...95).contains(type) else { return nil }
        self.payloadType = type
        self.marker = second & 0x80 != 0
        self.sequence = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        self.timestamp = UInt32(bytes[4]) << 24 | UInt32(bytes[5]) << 16 | UInt32(bytes[6]) << 8 | UInt32(bytes[7])
        self.ssrc = UInt32(bytes[8]) << 24 | UInt32(bytes[9]) << 16 | UInt32(bytes[10]) << 8 | UInt32(bytes[11])
    }
}
