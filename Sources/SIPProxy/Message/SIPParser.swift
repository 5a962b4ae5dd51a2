// SIPParser: bytes -> SIPMessage (RFC 3261 §7, §18.3, §25).
//
// Datagram and stream framing differ only in the body (RFC 3261 §18.3): on UDP a missing Content-Length means "the
// rest of the datagram" and octets past Content-Length are discarded (RFC 4475 §3.1.1.8); on TCP Content-Length is
// mandatory and frames the message, which `SIPParser.frame` computes for the stream decoder.

/// Parses SIP messages. A value type with no state: limits are configuration.
public struct SIPParser: Sendable {
    /// How the bytes arrived.
    public enum Framing: Sendable {
        case datagram
        case stream
    }

    /// Largest message accepted: a UDP datagram cannot exceed 65,535 octets, and RFC 3261 §18.1.1 expects messages
    /// well below that; streams use the same bound so a peer cannot make the proxy buffer without limit.
    public var maxMessageSize: Int

    public init(maxMessageSize: Int = 65_535) {
        self.maxMessageSize = maxMessageSize
    }

    /// Result of looking for one message at the start of a stream buffer.
    public enum FrameResult: Equatable, Sendable {
        /// Not enough bytes yet: the end of the header section has not arrived.
        case needMoreData
        /// The header section is complete but the body is not: the message will be this many octets, so the caller
        /// waits for them without searching the header again.
        case needBody(length: Int)
        /// Leading CRLFs: a keep-alive ping ("\r\n\r\n", RFC 5626 §4.4.1) or stray line ends, to be consumed.
        case keepAlive(length: Int)
        /// A whole message of this many octets.
        case message(length: Int)
    }

    /// Finds the extent of the first message in a stream buffer (RFC 3261 §18.3).
    ///
    /// - Parameter searchFrom: where to resume looking for the end of the header section, so a decoder fed a
    ///   slowly arriving header does not rescan it from the start on every read (keeps framing linear).
    public func frame(_ bytes: UnsafeRawBufferPointer, searchFrom: Int = 0) throws(SIPParseError) -> FrameResult {
        var start = 0
        while start < bytes.count, bytes[start] == 13 || bytes[start] == 10 { start += 1 }
        if start > 0 { return .keepAlive(length: start) }
        // Back up three octets: the previous read may have ended inside the CRLF CRLF.
        let resume = min(max(0, searchFrom - 3), bytes.count)
        guard let headerEnd = SIPParser.findHeaderEnd(bytes, from: resume) else {
            if bytes.count > self.maxMessageSize { throw SIPParseError(.messageTooLarge) }
            return .needMoreData
        }
        let contentLength = try SIPParser.scanContentLength(bytes, 0..<headerEnd.headerLength) ?? 0
        let total = headerEnd.bodyStart + contentLength
        if total > self.maxMessageSize { throw SIPParseError(.messageTooLarge) }
        return bytes.count >= total ? .message(length: total) : .needBody(length: total)
    }

    public func parse(_ bytes: [UInt8], framing: Framing = .datagram) throws(SIPParseError) -> SIPMessage {
        let result: Result<SIPMessage, SIPParseError> = bytes.withUnsafeBytes { raw in
            do throws(SIPParseError) {
                return .success(try self.parse(raw, framing: framing))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Parses one message. For streams the buffer must hold exactly one framed message.
    public func parse(_ bytes: UnsafeRawBufferPointer, framing: Framing) throws(SIPParseError) -> SIPMessage {
        var memo = NameAddressMemo.disabled
        return try self.parse(bytes, framing: framing, memo: &memo)
    }

    /// `parse`, with From and To taken from a shard's `memo` when their text was parsed before.
    func parse(
        _ bytes: UnsafeRawBufferPointer, framing: Framing, memo: inout NameAddressMemo
    ) throws(SIPParseError) -> SIPMessage {
        guard bytes.count <= self.maxMessageSize else { throw SIPParseError(.messageTooLarge) }
        // RFC 3261 §7.5: CRLFs before the start line are ignored.
        var start = 0
        while start < bytes.count, bytes[start] == 13 || bytes[start] == 10 { start += 1 }
        let end = SIPParser.findHeaderEnd(bytes, from: start)
        // A datagram whose header section has no closing empty line is read to its end (RFC 4475 §3.1.2.15 and
        // RFC 5118 §4.10 archive copies); a stream message always has one (`frame` ensured it).
        let headerLength = end?.headerLength ?? bytes.count
        let bodyStart = end?.bodyStart ?? bytes.count
        guard headerLength > start else { throw SIPParseError(.malformedStartLine, "empty message") }
        // RFC 3261 §7.3.1: header text is UTF-8. Validating the whole section once means every slice cut at an
        // ASCII delimiter below is valid UTF-8 too, so the decoding there never substitutes U+FFFD.
        guard String(validating: bytes[start..<headerLength], as: UTF8.self) != nil else {
            throw SIPParseError(.invalidEncoding)
        }
        // Lines are split on bytes, not Characters: Swift treats CRLF as one grapheme, and a combining mark after
        // ":" or SP would merge with it, hiding the delimiter.
        // One pass over the physical lines into one array; a logical line is a line and the continuation lines
        // (starting with SP or HTAB) after it (RFC 3261 §7.3.1).
        let lines = SIPParser.physicalLines(bytes, start..<headerLength)
        guard let first = lines.first else { throw SIPParseError(.malformedStartLine) }
        // Folding applies to header fields only (RFC 3261 §7.3.1), never to the start line.
        guard lines.count < 2 || !SIPParser.isWSP(bytes[lines[1].lowerBound]) else {
            throw SIPParseError(.malformedStartLine, "continuation line after the start line")
        }
        let startInfo = try SIPParser.parseStartLine(UnsafeRawBufferPointer(rebasing: bytes[first]))

        var headers = SIPHeaders()
        headers.reserveCapacity(lines.count - 1)
        var index = 1
        while index < lines.count {
            var next = index + 1
            while next < lines.count, SIPParser.isWSP(bytes[lines[next].lowerBound]) { next += 1 }
            // Unfolded lines (nearly all) are cut straight out of the received bytes; folded ones are joined first.
            let field =
                next == index + 1
                ? SIPParser.headerField(bytes, line: lines[index])
                : SIPParser.headerField(bytes, Array(lines[index..<next])).map { SIPHeaderField(name: $0.name, value: $0.value) }
            guard let field else {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[lines[index]]), as: UTF8.self)
                throw SIPParseError(.malformedHeaderLine, text, isRequest: startInfo.isRequest)
            }
            headers.append(field)
            index = next
        }

        // Content-Length: every value must be a number and all must agree (RFC 4475 §3.1.2.3, §3.3.9).
        let contentLength: Int?
        do {
            contentLength = try SIPParser.contentLength(headers.values("content-length"))
        } catch {
            var e = error
            e.isRequest = startInfo.isRequest
            throw e
        }
        let available = bytes.count - bodyStart
        let bodyLength: Int
        switch (framing, contentLength) {
        case (_, .some(let n)):
            guard n <= available else {
                throw SIPParseError(
                    .truncatedBody, "Content-Length \(n), \(available) octets", isRequest: startInfo.isRequest
                )
            }
            bodyLength = n
        case (.datagram, .none):
            bodyLength = available
        case (.stream, .none):
            bodyLength = 0
        }
        let body = Array(bytes[bodyStart..<(bodyStart + bodyLength)])

        switch startInfo {
        case .request(let method, let uriText):
            // Headers inside a Request-URI are not allowed (RFC 3261 §19.1.1, RFC 4475 §3.1.2.11).
            guard let uri = SIPURI.parse(uriText), uri.headers == nil else {
                throw SIPParseError(.malformedRequestURI, uriText, isRequest: true, method: method)
            }
            return .request(try SIPRequest(method: method, uri: uri, headers: headers, body: body, memo: &memo))
        case .response(let code, let reason):
            return .response(
                try SIPResponse(statusCode: code, reason: reason, headers: headers, body: body, memo: &memo)
            )
        }
    }

    enum StartLine {
        case request(SIPMethod, String)
        case response(Int, String)

        var isRequest: Bool {
            if case .request = self { return true }
            return false
        }
    }

    /// Request-Line = Method SP Request-URI SP SIP-Version; Status-Line = SIP-Version SP Status-Code SP
    /// Reason-Phrase (RFC 3261 §7.1, §7.2). Exactly one SP between elements: RFC 4475 §3.1.2.8–10 messages are
    /// rejected rather than repaired, since a proxy must not forward them as they are. Works on bytes so that a
    /// combining mark after an SP in a UTF-8 Reason-Phrase cannot hide the separator.
    static func parseStartLine(_ line: UnsafeRawBufferPointer) throws(SIPParseError) -> StartLine {
        func text(_ range: Range<Int>) -> String {
            String(decoding: UnsafeRawBufferPointer(rebasing: line[range]), as: UTF8.self)
        }
        let whole = text(0..<line.count)
        let sp = UInt8(ascii: " ")
        // A bare CR is not a line end (RFC 3261 §7: lines end in CRLF); letting it through would let a peer smuggle
        // a line break past a lenient next hop.
        let isResponse = line.count >= 8 && text(0..<4).caseInsensitiveEquals("SIP/")
        guard !line.contains(13) else {
            throw SIPParseError(.malformedStartLine, whole, isRequest: !isResponse)
        }
        if isResponse {
            guard let sp1 = line.firstIndex(of: sp) else {
                throw SIPParseError(.malformedStartLine, whole, isRequest: false)
            }
            guard text(0..<sp1).caseInsensitiveEquals("SIP/2.0") else {
                throw SIPParseError(.unsupportedVersion, text(0..<sp1), isRequest: false)
            }
            let codeStart = sp1 + 1
            let sp2 = line[codeStart...].firstIndex(of: sp)
            let codeText = text(codeStart..<(sp2 ?? line.count))
            guard codeText.utf8.count == 3, let code = SIPGrammar.parseNumber(codeText), (100...699).contains(code)
            else { throw SIPParseError(.invalidStatusCode, codeText, isRequest: false) }
            let reason = sp2.map { text(($0 + 1)..<line.count) } ?? ""
            return .response(Int(code), reason)
        }
        var parts: [String] = []
        var partStart = 0
        for i in 0..<line.count where line[i] == sp {
            parts.append(text(partStart..<i))
            partStart = i + 1
        }
        parts.append(text(partStart..<line.count))
        guard parts.count == 3, !parts[1].isEmpty else {
            var method: SIPMethod?
            if let first = parts.first, SIPGrammar.isToken(first) { method = SIPMethod(first) }
            throw SIPParseError(.malformedStartLine, whole, isRequest: true, method: method)
        }
        guard SIPGrammar.isToken(parts[0]) else {
            throw SIPParseError(.malformedStartLine, whole, isRequest: true)
        }
        let method = SIPMethod(parts[0])
        guard String(decoding: parts[2].utf8.prefix(4), as: UTF8.self).caseInsensitiveEquals("SIP/") else {
            throw SIPParseError(.malformedStartLine, whole, isRequest: true, method: method)
        }
        guard parts[2].caseInsensitiveEquals("SIP/2.0") else {
            throw SIPParseError(.unsupportedVersion, parts[2], isRequest: true, method: method)
        }
        return .request(method, parts[1])
    }

    /// Splits a header section into logical lines, each the byte ranges of its physical lines: the first, then
    /// every continuation line (one starting with SP or HTAB, RFC 3261 §7.3.1). Lines end in CRLF or, from
    /// lenient senders, bare LF; the terminator is not part of the range. Empty lines are skipped.
    static func logicalLines(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> [[Range<Int>]] {
        var result: [[Range<Int>]] = []
        for line in SIPParser.physicalLines(bytes, range) {
            if SIPParser.isWSP(bytes[line.lowerBound]), !result.isEmpty {
                result[result.count - 1].append(line)
            } else {
                result.append([line])
            }
        }
        return result
    }

    static func isWSP(_ c: UInt8) -> Bool { c == 32 || c == 9 }

    /// The non-empty physical lines of a header section, without their CRLF (or bare LF) terminators.
    static func physicalLines(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> [Range<Int>] {
        var result: [Range<Int>] = []
        result.reserveCapacity(24)
        var lineStart = range.lowerBound
        while lineStart < range.upperBound {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<range.upperBound])
            var lineEnd = rest.firstIndex(of: 10).map { lineStart + $0 } ?? range.upperBound
            let next = lineEnd + 1
            if lineEnd > lineStart, bytes[lineEnd - 1] == 13 { lineEnd -= 1 }
            if lineEnd > lineStart { result.append(lineStart..<lineEnd) }
            lineStart = next
        }
        return result
    }

    /// `name: value` from one unfolded line, as `headerField(_:_:)` builds it from a folded one: the name a token
    /// (with optional SP/HTAB before the colon), the value trimmed, no bare CR anywhere. Common names come from
    /// `SIPHeaderName`'s table, so only the value is decoded.
    static func headerField(_ bytes: UnsafeRawBufferPointer, line: Range<Int>) -> SIPHeaderField? {
        let text = UnsafeRawBufferPointer(rebasing: bytes[line])
        guard !text.contains(13), let colon = text.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        var nameEnd = colon
        while nameEnd > 0, isWSP(text[nameEnd - 1]) { nameEnd -= 1 }
        let nameBytes = UnsafeRawBufferPointer(rebasing: text[0..<nameEnd])
        guard nameEnd > 0, nameBytes.allSatisfy(SIPGrammar.isTokenChar) else { return nil }
        var valueStart = colon + 1
        var valueEnd = text.count
        while valueStart < valueEnd, isWSP(text[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart, isWSP(text[valueEnd - 1]) { valueEnd -= 1 }
        let value = String(decoding: UnsafeRawBufferPointer(rebasing: text[valueStart..<valueEnd]), as: UTF8.self)
        if let known = SIPHeaderName.lookup(nameBytes) {
            return SIPHeaderField(name: known.name, value: value, key: known.key)
        }
        return SIPHeaderField(name: String(decoding: nameBytes, as: UTF8.self), value: value)
    }

    /// Builds `name: value` from a logical line. Folding whitespace becomes a single SP (RFC 3261 §7.3.1); the
    /// name is a token with optional SP/HTAB before the colon (HCOLON, §25.1). Nil when the line has no colon, the
    /// name is not a token, or the line holds a bare CR.
    static func headerField(_ bytes: UnsafeRawBufferPointer, _ pieces: [Range<Int>]) -> (name: String, value: String)? {
        var line: [UInt8] = []
        line.reserveCapacity(pieces.reduce(0) { $0 + $1.count + 1 })
        for (index, piece) in pieces.enumerated() {
            var lower = piece.lowerBound
            if index > 0 {
                // Each strip only removes bytes appended just before, so unfolding stays linear.
                while let last = line.last, isWSP(last) { line.removeLast() }
                line.append(32)
                while lower < piece.upperBound, isWSP(bytes[lower]) { lower += 1 }
            }
            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lower..<piece.upperBound]))
        }
        guard !line.contains(13), let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        var nameEnd = colon
        while nameEnd > 0, isWSP(line[nameEnd - 1]) { nameEnd -= 1 }
        guard nameEnd > 0, line[0..<nameEnd].allSatisfy(SIPGrammar.isTokenChar) else { return nil }
        var valueStart = colon + 1
        var valueEnd = line.count
        while valueStart < valueEnd, isWSP(line[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart, isWSP(line[valueEnd - 1]) { valueEnd -= 1 }
        return (
            String(decoding: line[0..<nameEnd], as: UTF8.self),
            String(decoding: line[valueStart..<valueEnd], as: UTF8.self)
        )
    }

    /// Content-Length from all its values: each a number below 2**31, all equal (RFC 3261 §20.14, RFC 4475
    /// §3.1.2.3 and §3.3.9). Nil when absent.
    static func contentLength(_ values: [String]) throws(SIPParseError) -> Int? {
        var result: Int?
        for value in values {
            guard let n = SIPGrammar.parseNumber(value, limit: UInt64(Int32.max)) else {
                throw SIPParseError(.invalidContentLength, value)
            }
            if let previous = result, previous != Int(n) {
                throw SIPParseError(.invalidContentLength, "conflicting values")
            }
            result = Int(n)
        }
        return result
    }

    struct HeaderEnd {
        /// Octets of the header section, not counting the empty line.
        var headerLength: Int
        /// Index of the first body octet.
        var bodyStart: Int
    }

    /// Finds the empty line that ends the header section: CRLF CRLF, or LF LF from lenient senders.
    static func findHeaderEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> HeaderEnd? {
        var i = start
        let n = bytes.count
        while i + 1 < n {
            if bytes[i] == 10 {
                if bytes[i + 1] == 10 { return HeaderEnd(headerLength: i, bodyStart: i + 2) }
                if i + 2 < n, bytes[i + 1] == 13, bytes[i + 2] == 10 {
                    return HeaderEnd(headerLength: i > 0 && bytes[i - 1] == 13 ? i - 1 : i, bodyStart: i + 3)
                }
            }
            i += 1
        }
        return nil
    }

    /// Reads Content-Length (or `l`) from the header section without building the message, for stream framing.
    /// Uses the same line splitting and unfolding as `parse`, so both agree on where a message ends.
    static func scanContentLength(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(SIPParseError) -> Int? {
        var values: [String] = []
        for pieces in SIPParser.logicalLines(bytes, range).dropFirst() {
            // Cheap pre-check on the first bytes so that only candidate lines are unfolded and decoded.
            let first = bytes[pieces[0].lowerBound] | 0x20
            guard first == UInt8(ascii: "c") || first == UInt8(ascii: "l"),
                let field = SIPParser.headerField(bytes, pieces),
                SIPHeaders.canonicalKey(field.name) == "content-length"
            else { continue }
            values.append(contentsOf: SIPHeaders.splitCommaList(field.value))
        }
        return try SIPParser.contentLength(values)
    }
}

extension StringProtocol {
    func caseInsensitiveEqualsASCII(_ other: String) -> Bool {
        String(self).caseInsensitiveEquals(other)
    }

    func trimmingTrailingSIPWhitespace() -> String {
        var s = Substring(self)
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
