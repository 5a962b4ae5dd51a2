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
        /// Not enough bytes yet.
        case needMoreData
        /// Leading CRLFs: a keep-alive ping ("\r\n\r\n", RFC 5626 §4.4.1) or stray line ends, to be consumed.
        case keepAlive(length: Int)
        /// A whole message of this many octets.
        case message(length: Int)
    }

    /// Finds the extent of the first message in a stream buffer (RFC 3261 §18.3).
    public func frame(_ bytes: UnsafeRawBufferPointer) throws(SIPParseError) -> FrameResult {
        var start = 0
        while start < bytes.count, bytes[start] == 13 || bytes[start] == 10 { start += 1 }
        if start > 0 { return .keepAlive(length: start) }
        guard let headerEnd = SIPParser.findHeaderEnd(bytes, from: 0) else {
            if bytes.count > self.maxMessageSize { throw SIPParseError(.messageTooLarge) }
            return .needMoreData
        }
        let headerText = bytes[0..<headerEnd.headerLength]
        let contentLength = try SIPParser.scanContentLength(UnsafeRawBufferPointer(rebasing: headerText)) ?? 0
        let total = headerEnd.bodyStart + contentLength
        if total > self.maxMessageSize { throw SIPParseError(.messageTooLarge) }
        return bytes.count >= total ? .message(length: total) : .needMoreData
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
        guard let headerText = String(validating: bytes[start..<headerLength], as: UTF8.self) else {
            throw SIPParseError(.invalidEncoding)
        }
        var lines = SIPParser.unfoldedLines(headerText)
        guard !lines.isEmpty else { throw SIPParseError(.malformedStartLine) }
        let startLine = lines.removeFirst()
        let startInfo = try SIPParser.parseStartLine(startLine)

        var headers = SIPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else {
                throw SIPParseError(.malformedHeaderLine, String(line), isRequest: startInfo.isRequest)
            }
            let name = line[..<colon].trimmingSIPWhitespaceSubstring()
            guard SIPGrammar.isToken(name) else {
                throw SIPParseError(.malformedHeaderLine, String(line), isRequest: startInfo.isRequest)
            }
            headers.add(String(name), line[line.index(after: colon)...].trimmingSIPWhitespace())
        }

        // Content-Length: every value must be a number and all must agree (RFC 4475 §3.1.2.3, §3.3.9).
        var contentLength: Int?
        for value in headers.values("content-length") {
            guard let n = SIPGrammar.parseNumber(value, limit: UInt64(Int32.max)) else {
                throw SIPParseError(.invalidContentLength, value, isRequest: startInfo.isRequest)
            }
            if let previous = contentLength, previous != Int(n) {
                throw SIPParseError(.invalidContentLength, "conflicting values", isRequest: startInfo.isRequest)
            }
            contentLength = Int(n)
        }
        let available = bytes.count - bodyStart
        let bodyLength: Int
        switch (framing, contentLength) {
        case (_, .some(let n)):
            guard n <= available else {
                throw SIPParseError(.truncatedBody, "Content-Length \(n), \(available) octets", isRequest: startInfo.isRequest)
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
            return .request(try SIPRequest(method: method, uri: uri, headers: headers, body: body))
        case .response(let code, let reason):
            return .response(try SIPResponse(statusCode: code, reason: reason, headers: headers, body: body))
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
    /// rejected rather than repaired, since a proxy must not forward them as they are.
    static func parseStartLine(_ line: Substring) throws(SIPParseError) -> StartLine {
        if line.utf8.count >= 8, line.prefix(4).caseInsensitiveEqualsASCII("SIP/") {
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2 else { throw SIPParseError(.malformedStartLine, String(line), isRequest: false) }
            guard parts[0].caseInsensitiveEqualsASCII("SIP/2.0") else {
                throw SIPParseError(.unsupportedVersion, String(parts[0]), isRequest: false)
            }
            guard parts[1].utf8.count == 3, let code = SIPGrammar.parseNumber(parts[1]), (100...699).contains(code)
            else { throw SIPParseError(.invalidStatusCode, String(parts[1]), isRequest: false) }
            let reason = parts.count == 3 ? String(parts[2]) : ""
            return .response(Int(code), reason)
        }
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[1].isEmpty else {
            var method: SIPMethod?
            if let first = parts.first, SIPGrammar.isToken(first) { method = SIPMethod(String(first)) }
            throw SIPParseError(.malformedStartLine, String(line), isRequest: true, method: method)
        }
        guard SIPGrammar.isToken(parts[0]) else {
            throw SIPParseError(.malformedStartLine, String(line), isRequest: true)
        }
        let method = SIPMethod(String(parts[0]))
        guard parts[2].utf8.count >= 4, parts[2].prefix(4).caseInsensitiveEqualsASCII("SIP/") else {
            throw SIPParseError(.malformedStartLine, String(line), isRequest: true, method: method)
        }
        guard parts[2].caseInsensitiveEqualsASCII("SIP/2.0") else {
            throw SIPParseError(.unsupportedVersion, String(parts[2]), isRequest: true, method: method)
        }
        return .request(method, String(parts[1]))
    }

    /// Splits the header section into lines (CRLF, or bare LF from lenient senders) and joins folded
    /// continuation lines with a single space (RFC 3261 §7.3.1).
    static func unfoldedLines(_ text: String) -> [Substring] {
        var result: [Substring] = []
        var folded: [Int: String] = [:]
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.last == "\r" ? raw.dropLast() : raw
            if let first = line.first, first == " " || first == "\t", !result.isEmpty {
                let index = result.count - 1
                let base = folded[index] ?? String(result[index])
                let joined = base.trimmingTrailingSIPWhitespace() + " " + line.trimmingSIPWhitespace()
                folded[index] = joined
                result[index] = Substring(joined)
                continue
            }
            if line.isEmpty { continue }
            result.append(line)
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

    /// Reads Content-Length (or `l`) from raw header bytes without building the message, for stream framing.
    static func scanContentLength(_ header: UnsafeRawBufferPointer) throws(SIPParseError) -> Int? {
        var result: Int?
        var lineStart = 0
        let n = header.count
        while lineStart < n {
            var lineEnd = lineStart
            while lineEnd < n, header[lineEnd] != 10 { lineEnd += 1 }
            // Lines: find "name:"; compare name case-insensitively with content-length or l.
            var colon = lineStart
            while colon < lineEnd, header[colon] != UInt8(ascii: ":") { colon += 1 }
            if colon < lineEnd {
                var nameEnd = colon
                while nameEnd > lineStart, header[nameEnd - 1] == 32 || header[nameEnd - 1] == 9 { nameEnd -= 1 }
                let name = String(decoding: UnsafeRawBufferPointer(rebasing: header[lineStart..<nameEnd]), as: UTF8.self)
                if name.caseInsensitiveEquals("content-length") || name.caseInsensitiveEquals("l") {
                    let value = String(decoding: UnsafeRawBufferPointer(rebasing: header[(colon + 1)..<lineEnd]), as: UTF8.self)
                        .trimmingSIPWhitespace()
                    guard let v = SIPGrammar.parseNumber(value, limit: UInt64(Int32.max)) else {
                        throw SIPParseError(.invalidContentLength, value)
                    }
                    if let previous = result, previous != Int(v) {
                        throw SIPParseError(.invalidContentLength, "conflicting values")
                    }
                    result = Int(v)
                }
            }
            lineStart = lineEnd + 1
        }
        return result
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
