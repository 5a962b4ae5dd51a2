// Ladder: the columns and arrows of a ladder diagram, independent of how it is drawn.

/// How endpoints become columns.
public struct LadderOptions: Sendable {
    /// `IP` or `IP:PORT` (IPv6 as `[addr]:port` or bare) to a column name.
    public var aliases: [String: String]
    /// One column per host instead of per `ip:port`.
    public var mergeHosts: Bool
    /// Who is at each address (`EndpointNames`); nil draws addresses only (`--addresses`).
    public var names: EndpointNames?
    /// Mark arrows with their dialog (`[1] INVITE`) even when there is one dialog so far (a live view, where a
    /// second call may start at any moment and earlier arrows cannot be marked afterwards).
    public var markDialogs = false

    public init(aliases: [String: String] = [:], mergeHosts: Bool = false, names: EndpointNames? = nil) {
        self.aliases = aliases
        self.mergeHosts = mergeHosts
        self.names = names
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
    /// An RTP stream (a row between the endpoints, as sngrep draws them), not a SIP message.
    public var isMedia = false

    /// The label with its marks: `INVITE (SDP)`, `200 OK (SDP) (retransmission)`.
    public var fullLabel: String {
        if self.isMedia { return self.label }
        var out = self.label
        if self.hasSDP { out += " (SDP)" }
        if self.isRetransmission { out += " (retransmission)" }
        return out
    }
}

/// A ladder diagram: columns (endpoints) and arrows (messages) in time order.
public struct Ladder: Sendable {
    public var callIDs: [String]
    /// One line per dialog above the diagram: `alice → bob · completed · 4.970 s` (empty: none).
    public var titles: [String] = []
    public var columns: [String]
    /// The address under each column's name (the first endpoint seen in it); empty when columns are addresses.
    public var columnAddresses: [String]
    public var arrows: [LadderArrow]

    /// Builds the ladder of the given messages (already in time order) and RTP streams (one row each, at its first
    /// packet).
    public init(
        callIDs: [String], messages: [CapturedMessage], options: LadderOptions = LadderOptions(),
        streams: [CapturedRTPStream] = []
    ) {
        self.callIDs = callIDs
        var columnIndex: [String: Int] = [:]
        var columns: [String] = []
        var addresses: [String] = []
        /// The host each learned name was first seen at: the same user on another host is another column.
        var nameHost: [String: String] = [:]
        var named = false
        func column(_ endpoint: Endpoint) -> Int {
            let host = endpoint.address.description
            let alias = options.aliases[endpoint.description] ?? options.aliases["\(host):\(endpoint.port)"]
                ?? options.aliases[host] ?? options.aliases["[\(host)]"]
            var name = alias ?? (options.mergeHosts ? host : endpoint.description)
            if alias == nil, let learned = options.names?.name(of: endpoint) {
                // One column per user and host: a phone's UDP and TCP sockets (an ephemeral TCP port) are one
                // lifeline; two phones of one user are two, told apart by their address.
                let firstHost = nameHost[learned] ?? host
                nameHost[learned] = firstHost
                name = firstHost == host ? learned : "\(learned)@\(host)"
                named = true
            }
            if let known = columnIndex[name] { return known }
            columnIndex[name] = columns.count
            columns.append(name)
            addresses.append(options.mergeHosts ? host : endpoint.description)
            return columns.count - 1
        }
        /// The first column of each host: a phone's RTP comes from another port of the host its SIP comes from.
        var hostColumn: [IPAddress: Int] = [:]
        var pendingStreams = streams.sorted { $0.first < $1.first }[...]
        var seenBytes: Set<Int> = []
        var seenKeys: Set<String> = []
        var arrows: [LadderArrow] = []
        var previous: CaptureTime?
        /// The last SDP media of each dialog, to say what a re-INVITE changes.
        var lastMedia: [String: [String]] = [:]
        func addStreams(before time: CaptureTime?) {
            while let stream = pendingStreams.first, time.map({ stream.first <= $0 }) ?? true {
                pendingStreams = pendingStreams.dropFirst()
                let from = hostColumn[stream.source.address] ?? column(stream.source)
                let to = hostColumn[stream.destination.address] ?? column(stream.destination)
                arrows.append(LadderArrow(
                    time: stream.first, delta: previous.map { stream.first - $0 } ?? 0, from: from, to: to,
                    label: stream.label, isRequest: false, statusCode: 0, hasSDP: false, isRetransmission: false,
                    media: [stream.figures], transport: .udp, callID: "",
                    text: "RTP \(stream.source) -> \(stream.destination), SSRC 0x\(String(stream.ssrc, radix: 16)), "
                        + "payload type \(stream.payloadType) (\(stream.codec))\n\(stream.figures)",
                    isMedia: true
                ))
                previous = stream.first
            }
        }
        for message in messages {
            addStreams(before: message.time)
            let info = message.info
            var label = Self.label(info, previousMedia: lastMedia[info.callID])
            if callIDs.count > 1 || options.markDialogs, let n = callIDs.firstIndex(of: info.callID) {
                // Several dialogs in one picture: each arrow says which one it belongs to, as the titles do.
                label = "[\(n + 1)] " + label
            }
            if info.hasSDP { lastMedia[info.callID] = info.media }
            var hasher = Hasher()
            hasher.combine(message.source)
            hasher.combine(message.destination)
            hasher.combine(message.bytes)
            let bytesKey = hasher.finalize()
            let key = "\(message.source)>\(message.destination)|\(label)|\(info.branch ?? "")|"
                + "\(info.cseqNumber) \(info.method)"
            let isRetransmission = seenBytes.contains(bytesKey) || (info.branch != nil && seenKeys.contains(key))
            seenBytes.insert(bytesKey)
            seenKeys.insert(key)
            let from = column(message.source)
            let to = column(message.destination)
            if hostColumn[message.source.address] == nil { hostColumn[message.source.address] = from }
            if hostColumn[message.destination.address] == nil { hostColumn[message.destination.address] = to }
            arrows.append(LadderArrow(
                time: message.time, delta: previous.map { message.time - $0 } ?? 0, from: from, to: to,
                label: label, isRequest: info.isRequest, statusCode: info.statusCode, hasSDP: info.hasSDP,
                isRetransmission: isRetransmission, media: info.media, transport: message.transport,
                callID: info.callID, text: message.text
            ))
            previous = message.time
        }
        addStreams(before: nil)
        self.columns = columns
        self.columnAddresses = named ? addresses : []
        self.arrows = arrows
    }

    /// The title of a dialog: who called whom, how it ended, how long it lasted.
    public static func title(of call: CallSummary) -> String {
        func who(_ uri: String) -> String { EndpointNames.user(of: uri) ?? uri }
        let how = call.state?.rawValue ?? call.firstMethod
        return "\(who(call.from)) → \(who(call.to)) · \(how) · \(CaptureClock.seconds(call.duration)) s"
    }

    /// The titles of the dialogs drawn, marked `[1]`, `[2]` like their arrows when there are several.
    public static func titles(of calls: [CallSummary]) -> [String] {
        calls.enumerated().map { n, call in (calls.count > 1 ? "[\(n + 1)] " : "") + Self.title(of: call) }
    }

    /// What an arrow says: a response names its request unless that is the INVITE (`200 OK (BYE)`, `200 OK
    /// (CANCEL)`: a CANCEL flow otherwise shows two bare `200 OK`); a REFER names its target (`REFER (Refer-To:
    /// carol)`), a NOTIFY or SUBSCRIBE its event; an INVITE inside a dialog (with a To tag) is a `re-INVITE`, with what its SDP changes against the dialog's last SDP: `(hold)`, `(resume)`, `(+video)`,
    /// `(-video)` (RFC 3264 §8: a stream put on hold is sendonly or inactive, a stream removed has port 0).
    static func label(_ info: SIPMessageInfo, previousMedia: [String]?) -> String {
        guard info.isRequest else {
            guard !info.method.isEmpty, info.method != "INVITE" else { return info.label }
            return "\(info.label) (\(info.method))"
        }
        // RFC 3515: whom a transfer goes to; RFC 6665: what a subscription or notification is about.
        if info.method == "REFER", let target = info.referTo {
            return "REFER (Refer-To: \(EndpointNames.user(of: target) ?? target))"
        }
        if info.method == "NOTIFY" || info.method == "SUBSCRIBE", let event = info.event, !event.isEmpty {
            return "\(info.method) (Event: \(event))"
        }
        guard info.method == "INVITE", info.toTag != nil else { return info.label }
        var changes: [String] = []
        if info.hasSDP, let before = previousMedia {
            func held(_ media: [String]) -> Bool {
                media.contains { $0.hasSuffix(" sendonly") || $0.hasSuffix(" inactive") }
            }
            func kinds(_ media: [String]) -> [String] {
                media.compactMap { line in
                    let parts = line.split(separator: " ")
                    guard parts.count >= 2, parts[1] != "0" else { return nil }
                    return String(parts[0])
                }
            }
            if held(info.media) && !held(before) { changes.append("hold") }
            if !held(info.media) && held(before) { changes.append("resume") }
            let (now, then) = (kinds(info.media), kinds(before))
            for kind in now where !then.contains(kind) { changes.append("+" + kind) }
            for kind in then where !now.contains(kind) { changes.append("-" + kind) }
        }
        return changes.isEmpty ? "re-INVITE" : "re-INVITE (\(changes.joined(separator: ", ")))"
    }
}
