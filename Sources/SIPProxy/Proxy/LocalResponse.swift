// LocalResponse: responses the proxy makes itself (RFC 3261 §8.2.6, §16.7 step 6 when no branch answered).

import NIOCore

extension SIPResponse {
    /// Builds a response to `request` (RFC 3261 §8.2.6.2): the same Via values in order, From, To (with
    /// `toTag` added when the request's To has none and the code is above 100), Call-ID and CSeq; 100 Trying also
    /// copies Timestamp (§8.2.6.1).
    static func reply(
        to request: SIPRequest,
        status: Int,
        reason: String? = nil,
        toTag: String?,
        extraHeaders: [(String, String)] = []
    ) -> SIPResponse? {
        var headers = SIPHeaders()
        for line in request.headers.lines("via") { headers.add("Via", line) }
        headers.add("From", request.headers["from"] ?? request.from.serialized)
        var to = request.headers["to"] ?? request.to.serialized
        var toAddress = request.to
        if status > 100, request.to.tag == nil, let toTag {
            to += ";tag=\(toTag)"
            toAddress.parameters.set("tag", toTag)
        }
        headers.add("To", to)
        headers.add("Call-ID", request.callID)
        headers.add("CSeq", request.headers["cseq"] ?? request.cseq.description)
        if status == 100, let timestamp = request.headers["timestamp"] { headers.add("Timestamp", timestamp) }
        for (name, value) in extraHeaders { headers.add(name, value) }
        headers.add("Server", "SIPProxy")
        headers.add("Content-Length", "0")
        guard (100...699).contains(status) else { return nil }
        // The copied headers were validated when the request was parsed: no second validation (hot path).
        return SIPResponse(
            statusCode: status,
            reason: reason ?? SIPStatus.defaultReason(status),
            headers: headers,
            callID: request.callID,
            cseq: request.cseq,
            from: request.from,
            to: toAddress,
            topVia: request.topVia
        )
    }
}

/// Answers a request that failed to parse, from whatever header lines could be read (RFC 3261 §16.3 step 1: a
/// 400 when the proxy can read enough to answer). Returns nil when the request cannot be answered (no Via, From,
/// To, Call-ID or CSeq line, or an ACK, which is never answered).
enum MalformedRequestReply {
    static func build(_ bytes: ByteBuffer, error: SIPParseError, phrases: PhraseBook) -> ByteBuffer? {
        guard error.isRequest == true, error.method != .ack else { return nil }
        var vias: [String] = []
        var single: [String: String] = [:]
        var isACK = false
        bytes.withUnsafeReadableBytes { raw in
            let end = SIPParser.findHeaderEnd(raw, from: 0)?.headerLength ?? raw.count
            let lines = SIPParser.logicalLines(raw, 0..<end)
            guard let first = lines.first?.first else { return }
            isACK = raw[first].starts(with: Array("ACK ".utf8))
            for pieces in lines.dropFirst() {
                guard let (name, value) = SIPParser.headerField(raw, pieces) else { continue }
                // Control characters would corrupt the reply: such a line is left out.
                guard !value.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" }) else { continue }
                let key = SIPHeaders.canonicalKey(name)
                if key == "via" {
                    vias.append(value)
                } else if ["from", "to", "call-id", "cseq"].contains(key), single[key] == nil {
                    single[key] = value
                }
            }
        }
        if isACK { return nil }
        guard !vias.isEmpty, let from = single["from"], var to = single["to"], let callID = single["call-id"],
            let cseq = single["cseq"]
        else { return nil }
        // §8.2.6.2: a final response carries a To tag.
        if !to.contains("tag=") { to += ";tag=sp\(error.status)" }
        let reason = phrases.generated(error.status, for: nil, detail: error.reason)
        var out = "SIP/2.0 \(error.status) \(reason)\r\n"
        for via in vias { out += "Via: \(via)\r\n" }
        out += "From: \(from)\r\nTo: \(to)\r\nCall-ID: \(callID)\r\nCSeq: \(cseq)\r\n"
        out += "Server: SIPProxy\r\nContent-Length: 0\r\n\r\n"
        var buffer = ByteBufferAllocator().buffer(capacity: out.utf8.count)
        buffer.writeString(out)
        return buffer
    }
}
