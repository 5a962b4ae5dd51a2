// SessionDescription: the little of SDP (RFC 4566) the call journal needs: the media streams of a body.

/// Reads `m=` and `a=rtpmap` lines of an SDP body.
enum SessionDescription {
    /// RFC 3551 §6 static payload types (those still met in practice).
    static let staticPayloads: [Int: String] = [
        0: "PCMU", 3: "GSM", 4: "G723", 5: "DVI4", 6: "DVI4", 7: "LPC", 8: "PCMA", 9: "G722", 10: "L16", 11: "L16",
        12: "QCELP", 13: "CN", 14: "MPA", 15: "G728", 16: "DVI4", 17: "DVI4", 18: "G729", 25: "CelB", 26: "JPEG",
        28: "nv", 31: "H261", 32: "MPV", 33: "MP2T", 34: "H263",
    ]

    /// The media streams of a body; nil when the body is not SDP (no `v=` line or no `m=` line).
    static func media(of body: [UInt8]) -> [CallMedia]? {
        guard !body.isEmpty else { return nil }
        let text = String(decoding: body, as: UTF8.self)
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { $0.trimmingSIPWhitespace() }
        guard lines.contains(where: { $0.hasPrefix("v=") }) else { return nil }
        var streams: [(media: CallMedia, formats: [String], names: [String: String])] = []
        for line in lines {
            if line.hasPrefix("m=") {
                // m=<media> <port>[/<number of ports>] <proto> <fmt> ...  (RFC 4566 §5.14)
                let parts = line.dropFirst(2).split(separator: " ")
                guard parts.count >= 3 else { continue }
                let port = Int(parts[1].split(separator: "/").first ?? "") ?? 0
                let media = CallMedia(type: String(parts[0]), port: port, codecs: [])
                streams.append((media, parts.dropFirst(3).map(String.init), [:]))
            } else if line.hasPrefix("a=rtpmap:"), !streams.isEmpty {
                // a=rtpmap:<payload type> <encoding name>/<clock rate>[/<parameters>]  (RFC 4566 §6)
                let rest = line.dropFirst("a=rtpmap:".count)
                let parts = rest.split(separator: " ", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let name = parts[1].split(separator: "/").first.map(String.init) ?? String(parts[1])
                streams[streams.count - 1].names[String(parts[0])] = name
            }
        }
        guard !streams.isEmpty else { return nil }
        return streams.map { stream in
            var media = stream.media
            media.codecs = stream.formats.map { format in
                if let name = stream.names[format] { return name }
                if let number = Int(format), let name = Self.staticPayloads[number] { return name }
                return format
            }
            return media
        }
    }
}
