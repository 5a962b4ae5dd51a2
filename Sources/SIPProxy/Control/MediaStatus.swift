// MediaStatus: `sipctl media`, the relayed sessions with their ports, addresses and live packet counts.

/// The media relay as `media.list` reports it.
public struct MediaStatus: Codable, Sendable, Equatable {
    /// `direct`, `relay` or `nat`.
    public var mode: String
    /// `20000-29999`.
    public var ports: String
    public var pairsInUse: Int
    public var pairsCapacity: Int
    public var sessions: [MediaSessionInfo]

    public init(mode: String, ports: String, pairsInUse: Int, pairsCapacity: Int, sessions: [MediaSessionInfo]) {
        self.mode = mode
        self.ports = ports
        self.pairsInUse = pairsInUse
        self.pairsCapacity = pairsCapacity
        self.sessions = sessions
    }

    /// `sipctl media` as text: a summary line, then one row per stream.
    public func render() -> String {
        var out = "media \(self.mode)"
        if self.mode != "direct" {
            out += ": ports \(self.ports), \(self.pairsInUse) of \(self.pairsCapacity) pairs in use, "
                + "\(self.sessions.count) session(s)"
        }
        out += "\n"
        guard !self.sessions.isEmpty else { return out }
        func peer(_ address: String?, _ latched: Bool) -> String { (address ?? "-") + (latched ? "" : " (sdp)") }
        func stats(_ s: RTPStreamSummary) -> String {
            "\(s.packets)" + (s.lost > 0 ? " lost \(s.lost)" : "") + (s.jitterMs > 0 ? " j \(s.jitterMs)ms" : "")
        }
        var rows: [[String]] = []
        for session in self.sessions {
            for stream in session.streams {
                rows.append([
                    session.callID, "\(stream.index) \(stream.media)", stream.codec ?? "-",
                    peer(stream.caller, stream.callerLatched), stream.callerPort.map(String.init) ?? "-",
                    stream.calleePort.map(String.init) ?? "-", peer(stream.callee, stream.calleeLatched),
                    stats(stream.fromCaller), stats(stream.fromCallee),
                ])
            }
        }
        return out + TextTable(
            headers: ["CALL-ID", "STREAM", "CODEC", "CALLER", "PORT", "PORT", "CALLEE", "PKTS FROM CALLER", "PKTS FROM CALLEE"],
            rows: rows
        ).render()
    }
}

/// A relayed session as `sipctl media` lists it.
public struct MediaSessionInfo: Codable, Sendable, Equatable {
    public struct Stream: Codable, Sendable, Equatable {
        public var index: Int
        public var media: String
        public var codec: String?
        /// The relay's RTP port facing the caller and the callee.
        public var callerPort: Int?
        public var calleePort: Int?
        /// Where each phone's media goes: latched (where it sends from) or its SDP address.
        public var caller: String?
        public var callee: String?
        public var callerLatched: Bool
        public var calleeLatched: Bool
        /// Packets from the caller (forwarded to the callee) and from the callee.
        public var fromCaller: RTPStreamSummary
        public var fromCallee: RTPStreamSummary
        public var callerDirection: String?
        public var calleeDirection: String?
    }

    public var callID: String
    public var answered: Bool
    public var streams: [Stream]
}
