// CallSelection: which dialog(s) a ladder or an export is about, and loading their messages.

/// Picks dialogs out of a capture: by Call-ID, by the index `trace calls` prints, or the last call (the last
/// INVITE dialog: a phone re-registering after the call must not push the call out of `--last`; the last dialog of
/// any kind when the capture holds no call).
///
/// With `group`, the dialogs related to the chosen one are added (one step, in both directions):
/// - dialogs whose X-Call-ID or X-CID header names the chosen Call-ID, or that the chosen dialog's X-Call-ID /
///   X-CID names (B2BUAs and SBCs put the other leg's Call-ID there);
/// - dialogs whose Call-ID shares the chosen one's prefix: the part before `@` of one is a prefix of the other's,
///   followed by a separator (`-`, `_`, `.`, `;`, `@`) — B2BUAs often derive the B-leg Call-ID that way.
public enum CallSelection: Sendable, Equatable {
    case callID(String)
    /// Several dialogs in one picture (a transfer, a three-party call), in order of first appearance.
    case callIDs([String])
    case index(Int)
    case last
    /// Every dialog the filter matches (`--user alice --since 10m`): a user's calls, a transfer's REFER/NOTIFY
    /// and the new call, in one picture. Registrations and OPTIONS keepalives are left out unless the filter asks
    /// for that method: they would bury the calls.
    case matching(CallFilter)

    /// The chosen dialog and, with `group`, its relatives, in order of first appearance.
    public func resolve(in calls: [CallSummary], group: Bool) throws(AnalysisError) -> [CallSummary] {
        guard !calls.isEmpty else { throw .noCalls }
        let chosen: CallSummary
        switch self {
        case .callIDs(let ids):
            for id in ids where !calls.contains(where: { $0.callID == id }) { throw .unknownCall(id) }
            let picked = calls.filter { ids.contains($0.callID) }
            guard group else { return picked }
            return calls.filter { call in picked.contains { $0.callID == call.callID || Self.related(call, $0) } }
        case .matching(let filter):
            let picked = calls.filter { call in
                filter.matches(call)
                    && (filter.method != nil || !["REGISTER", "OPTIONS"].contains(call.firstMethod.uppercased()))
            }
            guard !picked.isEmpty else { throw .invalidArgument("no dialog in the capture matches \(filter)") }
            guard group else { return picked }
            return calls.filter { call in picked.contains { $0.callID == call.callID || Self.related(call, $0) } }
        case .callID(let id):
            guard let found = calls.first(where: { $0.callID == id }) else { throw .unknownCall(id) }
            chosen = found
        case .index(let n):
            guard n >= 1, n <= calls.count else { throw .unknownIndex(n) }
            chosen = calls[n - 1]
        case .last:
            chosen = calls.last { $0.firstMethod.uppercased() == "INVITE" } ?? calls[calls.count - 1]
        }
        guard group else { return [chosen] }
        return calls.filter { $0.callID == chosen.callID || Self.related($0, chosen) }
    }

    static func related(_ a: CallSummary, _ b: CallSummary) -> Bool {
        if a.linkedCallIDs.contains(b.callID) || b.linkedCallIDs.contains(a.callID) { return true }
        return Self.sharesPrefix(a.callID, b.callID) || Self.sharesPrefix(b.callID, a.callID)
    }

    /// Whether `longer` starts with the local part of `shorter` followed by a separator.
    static func sharesPrefix(_ shorter: String, _ longer: String) -> Bool {
        let local = shorter.split(separator: "@", maxSplits: 1).first.map(String.init) ?? shorter
        guard local.count >= 6, longer.count > local.count, longer.hasPrefix(local) else { return false }
        let next = longer[longer.index(longer.startIndex, offsetBy: local.count)]
        return "-_.;@".contains(next) && longer != shorter
    }

    /// Reads the capture: the dialogs and the messages of the selected ones (bytes kept only for those).
    public static func load(
        _ selection: CallSelection, group: Bool, paths: [String]
    ) throws(AnalysisError) -> (calls: [CallSummary], messages: [CapturedMessage], warnings: [String]) {
        let loaded = try Self.loadWithNames(selection, group: group, paths: paths)
        return (loaded.calls, loaded.messages, loaded.warnings)
    }

    /// `load`, and who is at each address of the whole capture (registrations are other dialogs).
    public static func loadWithNames(
        _ selection: CallSelection, group: Bool, paths: [String]
    ) throws(AnalysisError) -> (calls: [CallSummary], messages: [CapturedMessage], warnings: [String], names: EndpointNames) {
        let loaded = try Self.loadDialogs(selection, group: group, paths: paths, rtp: false)
        return (loaded.calls, loaded.messages, loaded.warnings, loaded.names)
    }

    /// What a ladder draws: the chosen dialogs, their messages, who is at each address, and with `rtp` the RTP
    /// streams their SDP asked for.
    public struct Loaded: Sendable {
        public var calls: [CallSummary]
        public var messages: [CapturedMessage]
        public var warnings: [String]
        public var names: EndpointNames
        public var streams: [CapturedRTPStream]
    }

    public static func loadDialogs(
        _ selection: CallSelection, group: Bool, paths: [String], rtp: Bool
    ) throws(AnalysisError) -> Loaded {
        let timeline = TraceTimeline(paths: paths)
        var collector = CallCollector()
        var messages: [CapturedMessage] = []
        var streams = CapturedRTPStreams()
        let onRTP: ((CapturedRTP) -> Void)? = rtp ? { streams.add($0) } : nil
        if case .callID(let id) = selection, !group {
            // One pass is enough: keep that Call-ID's messages while counting everything.
            let warnings = try timeline.forEachMessage({ message in
                collector.add(message)
                if rtp { streams.learn(message) }
                if message.info.callID == id { messages.append(message) }
            }, rtp: onRTP)
            let chosen = try selection.resolve(in: collector.calls, group: false)
            return Loaded(calls: chosen, messages: messages, warnings: warnings, names: collector.names,
                          streams: streams.streams(of: messages))
        }
        let warnings = try timeline.forEachMessage { collector.add($0) }
        let chosen = try selection.resolve(in: collector.calls, group: group)
        let ids = Set(chosen.map(\.callID))
        try timeline.forEachMessage({ message in
            if rtp { streams.learn(message) }
            if ids.contains(message.info.callID) { messages.append(message) }
        }, rtp: onRTP)
        return Loaded(calls: chosen, messages: messages, warnings: warnings, names: collector.names,
                      streams: streams.streams(of: messages))
    }
}
