// SDPSummary: one line per media section of an SDP body (RFC 4566), for the ladder.

/// Summarizes SDP media: `audio 49170 PCMU/8000 telephone-event`, plus the direction when not sendrecv.
enum SDPSummary {
    /// RFC 3551 static payload types.
    static let staticTypes: [String: String] = [
        "0": "PCMU/8000", "3": "GSM/8000", "4": "G723/8000", "8": "PCMA/8000", "9": "G722/8000",
        "13": "CN/8000", "18": "G729/8000", "34": "H263/90000",
    ]

    static func media(_ body: String) -> [String] {
        var result: [String] = []
        var section: (kind: String, port: String, formats: [String])?
        var rtpmap: [String: String] = [:]
        var direction: String?
        func close() {
            guard let current = section else { return }
            var line = "\(current.kind) \(current.port)"
            for format in current.formats {
                var codec = rtpmap[format] ?? Self.staticTypes[format] ?? format
                if codec.lowercased().hasPrefix("telephone-event") { codec = "telephone-event" }
                line += " " + codec
            }
            if let direction { line += " " + direction }
            result.append(line)
        }
        for raw in body.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = raw.trimmingSIPWhitespace()
            if line.hasPrefix("m=") {
                close()
                let parts = line.dropFirst(2).split(separator: " ")
                guard parts.count >= 3 else {
                    section = nil
                    continue
                }
                section = (String(parts[0]), String(parts[1]), parts.dropFirst(3).map(String.init))
                rtpmap = [:]
                direction = nil
            } else if section != nil, line.hasPrefix("a=rtpmap:") {
                let parts = line.dropFirst(9).split(separator: " ", maxSplits: 1)
                if parts.count == 2 {
                    // Drop the channel count of `opus/48000/2` only when it is 1.
                    var codec = String(parts[1])
                    if codec.hasSuffix("/1") { codec = String(codec.dropLast(2)) }
                    rtpmap[String(parts[0])] = codec
                }
            } else if section != nil, ["a=sendonly", "a=recvonly", "a=inactive"].contains(line) {
                direction = String(line.dropFirst(2))
            }
        }
        close()
        return result
    }
}
