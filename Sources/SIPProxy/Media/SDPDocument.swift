// SDPDocument: an SDP body (RFC 4566 / RFC 8866) as lines, read and rewritten by a media relay.
//
// A relay changes only where media goes: the connection addresses (`c=`), the ports of `m=` lines and the RTCP
// address (`a=rtcp`, RFC 3605). Every other line, known or not, is kept as it was and in its place (codecs,
// `a=fmtp`, `a=crypto` for SDES-SRTP, `a=fingerprint`/`a=setup` for DTLS-SRTP, direction attributes, vendor
// lines), so phones negotiate exactly what they would have without the relay. ICE lines (RFC 8839) are dropped:
// candidates name the phone's own addresses, which the relay hides, and ICE checks would go around it.

/// One media section: its `m=` line's fields and its lines (without the `m=` line).
public struct SDPMediaSection: Sendable, Equatable {
    /// `audio`, `video`, `application`, ...
    public var media: String
    /// 0: the stream is disabled or rejected (RFC 3264 §6, §8.2).
    public var port: Int
    /// The `/<number of ports>` part of `m=`, kept as text when present.
    public var portCount: String?
    /// `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, ...
    public var proto: String
    public var formats: [String]
    /// The lines after `m=` up to the next `m=`, without line ends.
    public var lines: [String]

    /// The section's own `c=` address, if it has one (`c=IN IP4 192.0.2.1`).
    public var connection: SDPConnection? { self.lines.lazy.compactMap(SDPConnection.init(line:)).first }

    /// `sendrecv`, `sendonly`, `recvonly` or `inactive` when the section says (RFC 3264 §5.1).
    public var direction: String? {
        self.lines.first { ["a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"].contains($0) }.map { String($0.dropFirst(2)) }
    }

    /// The clock rate of each payload type: `a=rtpmap` values, else RFC 3551's static ones.
    public var clockRates: [Int: Int] {
        var rates: [Int: Int] = [:]
        for format in self.formats {
            if let pt = Int(format), let rate = SDPDocument.staticClockRates[pt] { rates[pt] = rate }
        }
        for line in self.lines where line.hasPrefix("a=rtpmap:") {
            let parts = line.dropFirst("a=rtpmap:".count).split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let pt = Int(parts[0]) else { continue }
            let fields = parts[1].split(separator: "/")
            if fields.count >= 2, let rate = Int(fields[1]) { rates[pt] = rate }
        }
        return rates
    }

    /// The first codec's name (`PCMU`), for lists and ladders.
    public var codec: String? {
        guard let first = self.formats.first else { return nil }
        for line in self.lines where line.hasPrefix("a=rtpmap:\(first) ") {
            return line.split(separator: " ", maxSplits: 1).last.flatMap { $0.split(separator: "/").first }.map(String.init)
        }
        return Int(first).flatMap { SDPDocument.staticPayloads[$0] } ?? first
    }

    /// Whether the section multiplexes RTCP on the RTP port (RFC 5761).
    public var rtcpMux: Bool { self.lines.contains("a=rtcp-mux") }
}

/// `c=IN IP4 192.0.2.1` (RFC 4566 §5.7), the TTL or address count of multicast kept as text.
public struct SDPConnection: Sendable, Equatable {
    public var addressType: String
    public var address: String
    public var suffix: String

    public init(addressType: String, address: String, suffix: String = "") {
        self.addressType = addressType
        self.address = address
        self.suffix = suffix
    }

    init?(line: String) {
        guard line.hasPrefix("c=") else { return nil }
        let parts = line.dropFirst(2).split(separator: " ")
        guard parts.count == 3, parts[0] == "IN" else { return nil }
        let address = parts[2].split(separator: "/", maxSplits: 1)
        self.addressType = String(parts[1])
        self.address = String(address[0])
        self.suffix = address.count > 1 ? "/" + address[1] : ""
    }

    var line: String { "c=IN \(self.addressType) \(self.address)\(self.suffix)" }

    /// `0.0.0.0` (RFC 2543 hold, still sent by some phones: RFC 3264 §8.4) or `::`.
    public var isUnspecified: Bool { self.address == "0.0.0.0" || self.address == "::" }
}

/// An SDP body as session lines and media sections.
public struct SDPDocument: Sendable, Equatable {
    /// `v=` up to the first `m=`, without line ends.
    public var sessionLines: [String]
    public var media: [SDPMediaSection]
    /// The body's line end (`\r\n` per RFC 4566 §5; some phones send `\n`), kept for the rewrite.
    public var lineEnd: String

    /// RFC 3551 §6 static payload types (those still met in practice).
    public static let staticPayloads: [Int: String] = [
        0: "PCMU", 3: "GSM", 4: "G723", 5: "DVI4", 6: "DVI4", 7: "LPC", 8: "PCMA", 9: "G722", 10: "L16", 11: "L16",
        12: "QCELP", 13: "CN", 14: "MPA", 15: "G728", 16: "DVI4", 17: "DVI4", 18: "G729", 25: "CelB", 26: "JPEG",
        28: "nv", 31: "H261", 32: "MPV", 33: "MP2T", 34: "H263",
    ]

    /// RFC 3551 §6 clock rates of static payload types (G.722 is 8000 in SDP for historical reasons, §4.5.2).
    static let staticClockRates: [Int: Int] = [
        0: 8000, 3: 8000, 4: 8000, 5: 8000, 6: 16000, 7: 8000, 8: 8000, 9: 8000, 10: 44100, 11: 44100, 12: 8000,
        13: 8000, 14: 90000, 15: 8000, 16: 11025, 17: 22050, 18: 8000, 25: 90000, 26: 90000, 28: 90000, 31: 90000,
        32: 90000, 33: 90000, 34: 90000,
    ]

    /// Reads an SDP body; nil when it is not one (no `v=0` first line) or an `m=` line is malformed.
    public init?(_ body: [UInt8]) {
        let text = String(decoding: body, as: UTF8.self)
        self.lineEnd = text.contains("\r\n") ? "\r\n" : "\n"
        var lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { String($0) }
        while let last = lines.last, last.allSatisfy({ $0 == " " || $0 == "\t" }) { lines.removeLast() }
        guard lines.first == "v=0" else { return nil }
        var session: [String] = []
        var media: [SDPMediaSection] = []
        for line in lines {
            if line.hasPrefix("m=") {
                // m=<media> <port>[/<number of ports>] <proto> <fmt> ...  (RFC 4566 §5.14)
                let parts = line.dropFirst(2).split(separator: " ")
                let portParts = parts.count > 1 ? parts[1].split(separator: "/", maxSplits: 1) : []
                guard parts.count >= 3, let port = portParts.first.flatMap({ Int($0) }), (0...65535).contains(port) else {
                    return nil
                }
                media.append(SDPMediaSection(
                    media: String(parts[0]), port: port, portCount: portParts.count > 1 ? String(portParts[1]) : nil,
                    proto: String(parts[2]), formats: parts.dropFirst(3).map(String.init), lines: []
                ))
            } else if media.isEmpty {
                session.append(line)
            } else {
                media[media.count - 1].lines.append(line)
            }
        }
        self.sessionLines = session
        self.media = media
    }

    /// The session-level `c=` address, if any.
    public var sessionConnection: SDPConnection? { self.sessionLines.lazy.compactMap(SDPConnection.init(line:)).first }

    /// Where section `index` receives media: its own `c=` or the session's, and its port.
    public func destination(of index: Int) -> (address: String, port: Int)? {
        guard index < self.media.count else { return nil }
        let section = self.media[index]
        guard let connection = section.connection ?? self.sessionConnection else { return nil }
        return (connection.address, section.port)
    }

    /// The body as bytes.
    public var bytes: [UInt8] {
        var out: [String] = self.sessionLines
        for section in self.media {
            let port = "\(section.port)" + (section.portCount.map { "/\($0)" } ?? "")
            out.append((["m=\(section.media)", port, section.proto] + section.formats).joined(separator: " "))
            out += section.lines
        }
        return Array((out.joined(separator: self.lineEnd) + self.lineEnd).utf8)
    }

    /// ICE attributes (RFC 8839 §5): dropped by the relay, which hides the addresses they name.
    static let iceAttributes = [
        "a=candidate:", "a=ice-ufrag:", "a=ice-pwd:", "a=ice-options:", "a=ice-lite", "a=ice-mismatch",
        "a=remote-candidates:", "a=end-of-candidates", "a=ice-pacing:",
    ]

    /// The document with media going to the relay: `address` in every `c=` (a session-level one, or one per
    /// section), section `i`'s port replaced by `ports[i]` (nil: left as it is, e.g. a rejected stream with port 0),
    /// `a=rtcp` pointed at the relay's RTCP port (the RTP port + 1, RFC 3605), and ICE lines dropped.
    /// An unspecified `c=` (`0.0.0.0`, hold per RFC 2543) stays unspecified, so the other phone still sees hold.
    public func relayed(address: String, addressType: String, ports: [Int?]) -> SDPDocument {
        var copy = self
        func isICE(_ line: String) -> Bool { Self.iceAttributes.contains { line.hasPrefix($0) } }
        func rewrite(_ line: String) -> String {
            guard var connection = SDPConnection(line: line), !connection.isUnspecified else { return line }
            connection.address = address
            connection.addressType = addressType
            connection.suffix = ""
            return connection.line
        }
        copy.sessionLines = self.sessionLines.filter { !isICE($0) }.map(rewrite)
        // RFC 4566 §5.2: the o= line's address names the session's originator; it is left alone (phones do not
        // route media by it) so that the session version, which only the phone advances, stays its own.
        for i in copy.media.indices {
            var section = copy.media[i]
            let port = i < ports.count ? ports[i] : nil
            if let port { section.port = port }
            section.lines = section.lines.filter { !isICE($0) }.map { line -> String in
                if line.hasPrefix("c=") { return rewrite(line) }
                if line.hasPrefix("a=rtcp:"), let port {
                    // a=rtcp:<port> [IN IP4 <address>]: RTCP on the relay's odd port (or on the RTP port with mux).
                    return "a=rtcp:\(section.rtcpMux ? port : port + 1)"
                        + (line.split(separator: " ").count > 1 ? " IN \(addressType) \(address)" : "")
                }
                return line
            }
            copy.media[i] = section
        }
        return copy
    }
}
