// SIPMessageInfo: what the analysis needs from one SIP message, read leniently.

/// The fields of a captured SIP message that the call list and the ladder use. Read with the proxy's start-line
/// parser and header splitter, but leniently: a capture shows what was sent, including messages the proxy itself
/// would reject (missing headers, odd Call-IDs), so nothing but a start line and a Call-ID is required.
public struct SIPMessageInfo: Sendable, Equatable {
    public var isRequest: Bool
    /// The request method; for a response, the CSeq method.
    public var method: String
    /// The status code of a response (0 for requests).
    public var statusCode: Int
    public var reason: String
    public var requestURI: String
    public var callID: String
    public var cseqNumber: UInt32
    public var from: String
    public var to: String
    public var fromTag: String?
    public var toTag: String?
    /// The branch of the top Via.
    public var branch: String?
    /// X-Call-ID or X-CID: the Call-ID of a related leg, set by B2BUAs and SBCs.
    public var linkedCallID: String?
    public var hasSDP: Bool
    /// One line per SDP media section, e.g. `audio 49170 PCMU/8000 telephone-event`.
    public var media: [String]
    /// How many Via values the message carries (a request with two or more came through a proxy).
    public var viaCount = 0
    /// Where each SDP media section asks for its media, with its payload types: matches the RTP of a capture to
    /// its call (`CapturedRTPStreams`).
    public var mediaDestinations: [SDPMediaDestination] = []
    /// Refer-To (RFC 3515) and Event (RFC 6665) of a REFER, SUBSCRIBE or NOTIFY, for the ladder's labels.
    public var referTo: String?
    public var event: String?

    /// `INVITE` or `200 OK`.
    public var label: String { self.isRequest ? self.method : "\(self.statusCode) \(self.reason)" }

    /// The method for a request, the status code for a response (tshark's view, used by the tests).
    public var shortLabel: String { self.isRequest ? self.method : String(self.statusCode) }

    /// Reads a message's fields; nil when the bytes do not start with a SIP start line or lack a Call-ID.
    static func scan(_ bytes: [UInt8]) -> SIPMessageInfo? {
        bytes.withUnsafeBytes { raw in Self.scan(raw) }
    }

    private static func scan(_ bytes: UnsafeRawBufferPointer) -> SIPMessageInfo? {
        var start = 0
        while start < bytes.count, bytes[start] == 13 || bytes[start] == 10 { start += 1 }
        let end = SIPParser.findHeaderEnd(bytes, from: start)
        let headerLength = end?.headerLength ?? bytes.count
        guard headerLength > start else { return nil }
        let lines = SIPParser.logicalLines(bytes, start..<headerLength)
        guard let first = lines.first, let startLine = try? SIPParser.parseStartLine(
            UnsafeRawBufferPointer(rebasing: bytes[first[0]])
        ) else { return nil }
        var headers: [String: String] = [:]
        var viaCount = 0
        for pieces in lines.dropFirst() {
            guard let field = SIPParser.headerField(bytes, pieces) else { continue }
            let key = SIPHeaders.canonicalKey(field.name)
            if key == "via" { viaCount += SIPHeaders.splitCommaList(field.value).count }
            if headers[key] == nil { headers[key] = field.value }
        }
        guard let callID = headers["call-id"], !callID.isEmpty else { return nil }
        let cseq = headers["cseq"].flatMap { CSeq.parse($0) }
        var info = SIPMessageInfo(
            isRequest: true, method: cseq?.method.rawValue ?? "", statusCode: 0, reason: "", requestURI: "",
            callID: callID, cseqNumber: cseq?.number ?? 0, from: Self.uri(headers["from"]), to: Self.uri(headers["to"]),
            fromTag: Self.tag(headers["from"]), toTag: Self.tag(headers["to"]),
            branch: headers["via"].flatMap { SIPHeaders.splitCommaList($0).first }.flatMap(Self.branch),
            linkedCallID: headers["x-call-id"] ?? headers["x-cid"], hasSDP: false, media: []
        )
        info.viaCount = viaCount
        info.referTo = headers["refer-to"].map { Self.uri($0) }
        info.event = headers["event"].map { String($0.prefix { $0 != ";" }).trimmingSIPWhitespace() }
        switch startLine {
        case .request(let method, let uri):
            info.method = method.rawValue
            info.requestURI = uri
        case .response(let code, let reason):
            info.isRequest = false
            info.statusCode = code
            info.reason = reason
        }
        let contentType = headers["content-type"]?.lowercased() ?? ""
        if let end, contentType.contains("application/sdp") {
            let available = bytes.count - end.bodyStart
            let length = headers["content-length"].flatMap { Int($0) }.map { min($0, available) } ?? available
            if length > 0 {
                info.hasSDP = true
                let slice = bytes[end.bodyStart..<(end.bodyStart + length)]
                info.media = SDPSummary.media(String(decoding: slice, as: UTF8.self))
                info.mediaDestinations = SDPMediaDestination.all(in: Array(slice))
            }
        }
        return info
    }

    /// The URI of a From/To value without display name and header parameters: `sip:alice@example.com`.
    static func uri(_ value: String?) -> String {
        guard let value else { return "" }
        if let open = value.firstIndex(of: "<"), let close = value[open...].firstIndex(of: ">") {
            return String(value[value.index(after: open)..<close])
        }
        return String(value.prefix { $0 != ";" }).trimmingSIPWhitespace()
    }

    static func tag(_ value: String?) -> String? {
        guard let value else { return nil }
        let params = value.firstIndex(of: ">").map { value[$0...] } ?? Substring(value)
        return Self.parameter("tag", in: params)
    }

    static func branch(_ via: String) -> String? { Self.parameter("branch", in: Substring(via)) }

    private static func parameter(_ name: String, in text: Substring) -> String? {
        for part in text.split(separator: ";").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].trimmingSIPWhitespace().lowercased() == name {
                return pair[1].trimmingSIPWhitespace()
            }
        }
        return nil
    }
}
