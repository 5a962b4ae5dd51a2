// SessionDescription: the little of SDP (RFC 4566) the call journal needs: the media streams of a body.

/// Reads `m=` and `a=rtpmap` lines of an SDP body.
enum SessionDescription {
    static var staticPayloads: [Int: String] { SDPDocument.staticPayloads }

    /// The media streams of a body; nil when the body is not SDP (no `v=` line or no `m=` line).
    static func media(of body: [UInt8]) -> [CallMedia]? {
        guard !body.isEmpty else { return nil }
        // Lines are cut on bytes and only `m=` and `a=rtpmap:` lines become strings: the tracker reads every offer
        // and answer of every call, and splitting whole bodies into Character strings cost 2 % of the CPU per call.
        var lines: [String] = []
        var sawVersion = false
        for bytes in body.split(omittingEmptySubsequences: true, whereSeparator: { $0 == 10 || $0 == 13 }) {
            var start = bytes.startIndex
            while start < bytes.endIndex, bytes[start] == 32 || bytes[start] == 9 { start += 1 }
            let line = bytes[start...]
            guard line.count >= 2, line[line.startIndex + 1] == UInt8(ascii: "=") else { continue }
            switch line[line.startIndex] {
            case UInt8(ascii: "v"): sawVersion = true
            case UInt8(ascii: "m"): lines.append(String(decoding: line, as: UTF8.self).trimmingSIPWhitespace())
            case UInt8(ascii: "a") where line.starts(with: "a=rtpmap:".utf8):
                lines.append(String(decoding: line, as: UTF8.self).trimmingSIPWhitespace())
            default: break
            }
        }
        guard sawVersion else { return nil }
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
