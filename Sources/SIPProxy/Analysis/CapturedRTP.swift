// CapturedRTP: the RTP streams of a capture (each direction of each source, RFC 3550 §8), with their counts, loss
// and jitter, matched to a call by the SDP that asked for them (what sngrep's RTP rows and Wireshark's RTP Streams
// show).

/// Where an SDP media section asks for media, and what its payload types are.
public struct SDPMediaDestination: Sendable, Equatable {
    public var media: String
    public var address: String
    public var port: Int
    /// Payload type → codec name and clock rate (`a=rtpmap`, else RFC 3551's static types).
    public var codecs: [Int: String]
    public var clockRates: [Int: Int]

    /// Every section with a port of an SDP body.
    static func all(in body: [UInt8]) -> [SDPMediaDestination] {
        guard let sdp = SDPDocument(body) else { return [] }
        return sdp.media.indices.compactMap { index in
            guard let (address, port) = sdp.destination(of: index), port != 0 else { return nil }
            let section = sdp.media[index]
            var codecs: [Int: String] = [:]
            for format in section.formats {
                if let pt = Int(format), let name = SDPDocument.staticPayloads[pt] { codecs[pt] = name }
            }
            for line in section.lines where line.hasPrefix("a=rtpmap:") {
                let parts = line.dropFirst("a=rtpmap:".count).split(separator: " ", maxSplits: 1)
                guard parts.count == 2, let pt = Int(parts[0]), let name = parts[1].split(separator: "/").first else { continue }
                codecs[pt] = String(name)
            }
            return SDPMediaDestination(
                media: section.media, address: address, port: port, codecs: codecs, clockRates: section.clockRates
            )
        }
    }
}

/// One RTP packet seen in a capture.
public struct CapturedRTP: Sendable {
    public var time: CaptureTime
    public var source: Endpoint
    public var destination: Endpoint
    public var header: RTPHeader
    public var size: Int
}

/// One direction of one RTP source in a capture.
public struct CapturedRTPStream: Sendable {
    public var source: Endpoint
    public var destination: Endpoint
    public var ssrc: UInt32
    public var payloadType: UInt8
    public var first: CaptureTime
    public var last: CaptureTime
    public var stats = RTPStreamStats()
    /// `PCMU` from the SDP that asked for this stream, else the payload type.
    public var codec: String
    /// The SDP media section this stream answers to (nil: no SDP in the capture named its destination).
    public var sdp: SDPMediaDestination?

    /// `RTP PCMU`: what the ladder's row says.
    public var label: String { "RTP \(self.codec)" }

    /// `250 pkts · 0 lost · jitter 0.41 ms · 4.98 s`: the line under it.
    public var figures: String {
        var text = "\(self.stats.packets) pkts · \(self.stats.lost) lost"
        if self.stats.jitterMs > 0 {
            let hundredths = Int((self.stats.jitterMs * 100).rounded())
            text += " · jitter \(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100) ms"
        }
        return text + " · \(CaptureClock.seconds(self.last - self.first)) s"
    }
}

/// Collects RTP streams while a capture streams past; SDP seen on the way names their codecs and clock rates.
public struct CapturedRTPStreams: Sendable {
    private struct Key: Hashable {
        var source: Endpoint
        var destination: Endpoint
        var ssrc: UInt32
    }

    private var byKey: [Key: CapturedRTPStream] = [:]
    private var order: [Key] = []
    /// SDP destinations seen so far, by `ip:port`.
    private var destinations: [String: SDPMediaDestination] = [:]

    public init() {}

    /// Remembers where a message's SDP asks for media.
    public mutating func learn(_ message: CapturedMessage) {
        for destination in message.info.mediaDestinations {
            self.destinations["\(destination.address):\(destination.port)"] = destination
        }
    }

    public mutating func add(_ packet: CapturedRTP) {
        let key = Key(source: packet.source, destination: packet.destination, ssrc: packet.header.ssrc)
        var stream = self.byKey[key] ?? {
            self.order.append(key)
            // The SDP that asked for it: its destination's, else its source's (a relay sends from the port its
            // SDP named, to wherever the phone's packets came from).
            let sdp = self.destinations["\(packet.destination.address):\(packet.destination.port)"]
                ?? self.destinations["\(packet.source.address):\(packet.source.port)"]
            let pt = Int(packet.header.payloadType)
            return CapturedRTPStream(
                source: packet.source, destination: packet.destination, ssrc: packet.header.ssrc,
                payloadType: packet.header.payloadType, first: packet.time, last: packet.time,
                codec: sdp?.codecs[pt] ?? SDPDocument.staticPayloads[pt] ?? "PT \(pt)", sdp: sdp
            )
        }()
        stream.last = packet.time
        var rates = stream.sdp?.clockRates ?? [:]
        if rates.isEmpty, let rate = SDPDocument.staticClockRates[Int(packet.header.payloadType)] {
            rates[Int(packet.header.payloadType)] = rate
        }
        stream.stats.record(packet.header, octets: packet.size, arrivalNanos: packet.time, clockRates: rates)
        self.byKey[key] = stream
    }

    /// The streams in order of their first packet.
    public var streams: [CapturedRTPStream] { self.order.compactMap { self.byKey[$0] } }

    /// The streams to or from an address one of `messages`' SDP named (the RTP of those calls; from covers a
    /// relay's port sending to a latched address the SDP did not name).
    public func streams(of messages: [CapturedMessage]) -> [CapturedRTPStream] {
        let wanted = Set(messages.flatMap { $0.info.mediaDestinations.map { "\($0.address):\($0.port)" } })
        return self.streams.filter {
            wanted.contains("\($0.destination.address):\($0.destination.port)")
                || wanted.contains("\($0.source.address):\($0.source.port)")
        }
    }
}
