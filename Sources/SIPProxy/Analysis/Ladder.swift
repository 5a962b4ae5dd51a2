// Ladder: the columns and arrows of a ladder diagram, independent of how it is drawn.

/// How endpoints become columns.
public struct LadderOptions: Sendable {
    /// `IP` or `IP:PORT` (IPv6 as `[addr]:port` or bare) to a column name.
    public var aliases: [String: String]
    /// One column per host instead of per `ip:port`.
    public var mergeHosts: Bool

    public init(aliases: [String: String] = [:], mergeHosts: Bool = false) {
        self.aliases = aliases
        self.mergeHosts = mergeHosts
    }

    /// Parses `--alias IP[:PORT]=NAME`.
    public static func parseAlias(_ text: String) throws(AnalysisError) -> (key: String, name: String) {
        guard let eq = text.lastIndex(of: "="), eq != text.startIndex, text.index(after: eq) != text.endIndex else {
            throw .invalidArgument("--alias wants IP[:PORT]=NAME, not '\(text)'")
        }
        return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }
}

/// One message of the ladder.
public struct LadderArrow: Sendable {
    public var time: CaptureTime
    /// Time since the previous arrow (0 for the first).
    public var delta: Int64
    public var from: Int
    public var to: Int
    /// `INVITE` or `180 Ringing`.
    public var label: String
    public var isRequest: Bool
    public var statusCode: Int
    public var hasSDP: Bool
    /// The same message (same bytes, or same Via branch, CSeq and start line between the same endpoints) was
    /// seen before.
    public var isRetransmission: Bool
    /// SDP media summary lines.
    public var media: [String]
    public var transport: CaptureTransport
    public var callID: String
    /// The full message text.
    public var text: String

    /// The label with its marks: `INVITE (SDP)`, `200 OK (SDP) (retransmission)`.
    public var fullLabel: String {
        var out = self.label
        if self.hasSDP { out += " (SDP)" }
        if self.isRetransmission { out += " (retransmission)" }
        return out
    }
}

/// A ladder diagram: columns (endpoints) and arrows (messages) in time order.
public struct Ladder: Sendable {
    public var callIDs: [String]
    public var columns: [String]
    public var arrows: [LadderArrow]

    /// Builds the ladder of the given messages (already in time order).
    public init(callIDs: [String], messages: [CapturedMessage], options: LadderOptions = LadderOptions()) {
        self.callIDs = callIDs
        var columnIndex: [String: Int] = [:]
        var columns: [String] = []
        func column(_ endpoint: Endpoint) -> Int {
            let host = endpoint.address.description
            let name = options.aliases[endpoint.description] ?? options.aliases["\(host):\(endpoint.port)"]
                ?? options.aliases[host] ?? options.aliases["[\(host)]"]
                ?? (options.mergeHosts ? host : endpoint.description)
            if let known = columnIndex[name] { return known }
            columnIndex[name] = columns.count
            columns.append(name)
            return columns.count - 1
        }
        var seenBytes: Set<Int> = []
        var seenKeys: Set<String> = []
        var arrows: [LadderArrow] = []
        var previous: CaptureTime?
        for message in messages {
            let info = message.info
            var hasher = Hasher()
            hasher.combine(message.source)
            hasher.combine(message.destination)
            hasher.combine(message.bytes)
            let bytesKey = hasher.finalize()
            let key = "\(message.source)>\(message.destination)|\(info.label)|\(info.branch ?? "")|"
                + "\(info.cseqNumber) \(info.method)"
            let isRetransmission = seenBytes.contains(bytesKey) || (info.branch != nil && seenKeys.contains(key))
            seenBytes.insert(bytesKey)
            seenKeys.insert(key)
            let from = column(message.source)
            let to = column(message.destination)
            arrows.append(LadderArrow(
                time: message.time, delta: previous.map { message.time - $0 } ?? 0, from: from, to: to,
                label: info.label, isRequest: info.isRequest, statusCode: info.statusCode, hasSDP: info.hasSDP,
                isRetransmission: isRetransmission, media: info.media, transport: message.transport,
                callID: info.callID, text: message.text
            ))
            previous = message.time
        }
        self.columns = columns
        self.arrows = arrows
    }
}
