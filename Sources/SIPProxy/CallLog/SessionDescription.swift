// SessionDescription: the little of SDP (RFC 4566) the call journal needs: the media streams of a body.

/// Reads `m=` and `a=rtpmap` lines of an SDP body.
enum SessionDescription {
    static var staticPayloads: [Int: String] { SDPDocument.staticPayloads }

    /// The media streams of a body; nil when the body is not SDP (no `v=` line or no `m=` line).
    static func media(of body: [UInt8]) -> [CallMedia]? {
        guard !body.isEmpty else { return nil }
        // One pass over the bytes: lines and words are found by index and only the words kept become strings
        // (the stream type, its formats, the rtpmap names). The tracker reads the offer and the answer of every
        // call; cutting the body into lines and the lines into arrays of words first cost 1.5 % of the CPU per call.
        var sawVersion = false
        var streams: [(media: CallMedia, formats: [String], names: [String: String])] = []
        body.withUnsafeBufferPointer { bytes in
            let count = bytes.count
            func isBlank(_ b: UInt8) -> Bool { b == 32 || b == 9 }
            func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
            /// The words of `range` separated by SP (RFC 4566 §5: fields are separated by a single space).
            func words(_ range: Range<Int>) -> [Range<Int>] {
                var out: [Range<Int>] = []
                var i = range.lowerBound
                while i < range.upperBound {
                    while i < range.upperBound, bytes[i] == 32 { i += 1 }
                    let start = i
                    while i < range.upperBound, bytes[i] != 32 { i += 1 }
                    if i > start { out.append(start..<i) }
                }
                return out
            }
            var next = 0
            while next < count {
                var end = next
                while end < count, bytes[end] != 10, bytes[end] != 13 { end += 1 }
                var start = next
                next = end + 1
                while start < end, isBlank(bytes[start]) { start += 1 }
                while end > start, isBlank(bytes[end - 1]) { end -= 1 }
                guard end - start >= 2, bytes[start + 1] == UInt8(ascii: "=") else { continue }
                switch bytes[start] {
                case UInt8(ascii: "v"):
                    sawVersion = true
                case UInt8(ascii: "m"):
                    // m=<media> <port>[/<number of ports>] <proto> <fmt> ...  (RFC 4566 §5.14)
                    let parts = words((start + 2)..<end)
                    guard parts.count >= 3 else { continue }
                    var portEnd = parts[1].lowerBound
                    while portEnd < parts[1].upperBound, bytes[portEnd] != UInt8(ascii: "/") { portEnd += 1 }
                    let port = Int(text(parts[1].lowerBound..<portEnd)) ?? 0
                    let media = CallMedia(type: text(parts[0]), port: port, codecs: [])
                    streams.append((media, parts.dropFirst(3).map(text), [:]))
                case UInt8(ascii: "a"):
                    // a=rtpmap:<payload type> <encoding name>/<clock rate>[/<parameters>]  (RFC 4566 §6)
                    let prefix = "a=rtpmap:".utf8
                    guard !streams.isEmpty, end - start > prefix.count,
                        UnsafeBufferPointer(rebasing: bytes[start..<(start + prefix.count)]).elementsEqual(prefix)
                    else { continue }
                    var i = start + prefix.count
                    while i < end, bytes[i] == 32 { i += 1 }
                    let payload = i
                    while i < end, bytes[i] != 32 { i += 1 }
                    let payloadEnd = i
                    while i < end, bytes[i] == 32 { i += 1 }
                    let name = i
                    while i < end, bytes[i] != UInt8(ascii: "/") { i += 1 }
                    guard payloadEnd > payload, i > name else { continue }
                    streams[streams.count - 1].names[text(payload..<payloadEnd)] = text(name..<i)
                default:
                    continue
                }
            }
        }
        guard sawVersion, !streams.isEmpty else { return nil }
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
