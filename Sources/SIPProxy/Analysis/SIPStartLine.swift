// SIPStartLine: recognizes SIP by content, on any port.

/// Decides whether bytes begin with a SIP start line: `METHOD scheme:... SIP/2.0` or `SIP/2.0 NNN ...`.
enum SIPStartLine {
    enum Decision: Equatable {
        case sip
        case notSIP
        /// The first line is not complete yet.
        case needMoreData
    }

    /// Longest start line considered; a longer first line is not SIP.
    static let maxLength = 2048

    static func classify(_ bytes: UnsafeRawBufferPointer) -> Decision {
        let limit = min(bytes.count, Self.maxLength)
        guard let lf = bytes[0..<limit].firstIndex(of: 10) else {
            return bytes.count >= Self.maxLength || !Self.couldStart(bytes) ? .notSIP : .needMoreData
        }
        var end = lf
        if end > 0, bytes[end - 1] == 13 { end -= 1 }
        return Self.isStartLine(UnsafeRawBufferPointer(rebasing: bytes[0..<end])) ? .sip : .notSIP
    }

    /// Whether a line is a SIP request or status line (checked with the proxy's own start-line parser).
    static func isStartLine(_ line: UnsafeRawBufferPointer) -> Bool {
        guard line.count >= 12, let kind = try? SIPParser.parseStartLine(line) else { return false }
        switch kind {
        case .response:
            return true
        case .request(_, let uri):
            // A scheme: `sip:`, `sips:`, `tel:`, `urn:` ...
            guard let colon = uri.utf8.firstIndex(of: UInt8(ascii: ":")) else { return false }
            return colon > uri.utf8.startIndex
        }
    }

    /// Offset of the next line (after an LF) that is a SIP start line, or nil.
    static func nextCandidate(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        while let lf = bytes[i...].firstIndex(of: 10) {
            let start = lf + 1
            guard start < bytes.count else { return nil }
            let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
            if rest[0] != 13, rest[0] != 10, Self.classify(rest) != .notSIP { return start }
            i = start
        }
        return nil
    }

    /// Whether an unfinished first line could still become a start line (upper-case token or `SIP/`).
    private static func couldStart(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let first = bytes.first else { return true }
        return (65...90).contains(first)
    }

    /// Whether a UDP payload (after leading CRLFs) starts with a SIP start line.
    static func isSIPDatagram(_ payload: [UInt8]) -> Bool {
        payload.withUnsafeBytes { raw in
            var start = 0
            while start < raw.count, raw[start] == 13 || raw[start] == 10 { start += 1 }
            guard raw.count - start >= 12 else { return false }
            let rest = UnsafeRawBufferPointer(rebasing: raw[start...])
            guard let lf = rest.prefix(Self.maxLength).firstIndex(of: 10) else {
                return Self.isStartLine(rest)
            }
            var end = lf
            if end > 0, rest[end - 1] == 13 { end -= 1 }
            return Self.isStartLine(UnsafeRawBufferPointer(rebasing: rest[0..<end]))
        }
    }
}
