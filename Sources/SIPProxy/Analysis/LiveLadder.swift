// LiveLadder: `sipctl trace follow`, the ladder of calls in progress, printed line by line as messages arrive.
//
// A terminal over SSH cannot redraw a picture cheaply, so the live ladder only appends: each new message adds its
// arrow under the ones printed before, a new dialog adds its title line, and when the columns change (a new
// endpoint, or a name learned) the column header is printed again. When every dialog has been over for a while the
// picture starts afresh, so a follow that runs for a whole lesson does not grow without end.

/// Turns followed messages into lines to print. A value: `add` returns lines, the caller prints them.
public struct LiveLadder: Sendable {
    /// Which dialogs to draw: those with a request from, to or for this user (case-insensitive substring of From,
    /// To or the Request-URI); nil: every call.
    public var user: String?
    /// Also registrations and OPTIONS keepalives (left out by default: they would bury the calls).
    public var everything: Bool
    public var renderer: LadderTextRenderer
    public var options: LadderOptions
    /// Name lifelines by who is there (learned from every message followed, REGISTERs included).
    public var learnNames: Bool

    /// A picture is started afresh when all its dialogs have been quiet this long (nanoseconds) or it holds this
    /// many messages.
    static let idleReset: Int64 = 10_000_000_000
    static let maxMessages = 2000

    private var names = EndpointNames()
    private var callIDs: [String] = []
    private var messages: [CapturedMessage] = []
    private var progress: [String: CallProgress] = [:]
    /// The end state each dialog was last reported in (said once).
    private var reported: [String: DialogState] = [:]
    private var printedColumns: [String] = []
    private var printedAddresses: [String] = []
    private var printedArrows = 0
    private var lastTime: CaptureTime = 0

    public init(
        user: String? = nil, everything: Bool = false, renderer: LadderTextRenderer, options: LadderOptions = LadderOptions(),
        learnNames: Bool = true
    ) {
        self.user = user?.lowercased()
        self.everything = everything
        self.renderer = renderer
        self.options = options
        self.learnNames = learnNames
    }

    /// The lines to print for a batch of followed messages (in the order the proxy saw them).
    public mutating func add(_ batch: [FollowedMessage], proxyAddresses: [String] = []) -> [String] {
        for address in proxyAddresses {
            if let endpoint = Endpoint(text: address) { self.names.markProxy(endpoint) }
        }
        var out: [String] = []
        // How a dialog ended is said after the batch, under the rest of its closing flow (the BYE's other legs
        // and its 200 OK arrive within milliseconds, in the same poll).
        var ends: [String] = []
        for followed in batch {
            guard let message = Self.captured(followed) else { continue }
            self.names.observe(message)
            if !self.messages.isEmpty,
                self.messages.count >= Self.maxMessages
                    || (message.time - self.lastTime > Self.idleReset && self.allOver)
            {
                out += ends
                ends = []
                out += self.renderer.footerLines(self.ladder())
                out.append("")
                self.restart()
            }
            guard self.wants(message) else { continue }
            let callID = message.info.callID
            if !self.callIDs.contains(callID) {
                self.callIDs.append(callID)
                out.append(self.titleLine(message))
            }
            self.progress[callID] = (self.progress[callID] ?? CallProgress()).advanced(by: message.info, at: message.time)
            self.messages.append(message)
            self.lastTime = message.time
            let ladder = self.ladder()
            let addresses = ladder.columnAddresses
            if ladder.columns != self.printedColumns || addresses != self.printedAddresses {
                out += self.renderer.headerLines(ladder)
                self.printedColumns = ladder.columns
                self.printedAddresses = addresses
            }
            out += self.renderer.arrowLines(ladder, self.printedArrows..<ladder.arrows.count)
            self.printedArrows = ladder.arrows.count
            if let state = self.progress[callID]?.state, state != .setup, state != .inCall,
                self.reported[callID] != state
            {
                self.reported[callID] = state
                ends.append(self.stateLine(callID, state))
            }
        }
        return out + ends
    }

    /// Whether every dialog in the picture is over (or never was a call).
    private var allOver: Bool {
        self.callIDs.allSatisfy { id in
            guard let state = self.progress[id]?.state else { return true }
            return state != .setup && state != .inCall
        }
    }

    private mutating func restart() {
        self.callIDs = []
        self.messages = []
        self.progress = [:]
        self.reported = [:]
        self.printedColumns = []
        self.printedAddresses = []
        self.printedArrows = 0
    }

    private func ladder() -> Ladder {
        var options = self.options
        options.markDialogs = true
        if self.learnNames { options.names = self.names }
        return Ladder(callIDs: self.callIDs, messages: self.messages, options: options)
    }

    /// A message of a dialog already drawn, or a request that starts one the filter wants.
    private func wants(_ message: CapturedMessage) -> Bool {
        let info = message.info
        if self.callIDs.contains(info.callID) { return true }
        guard info.isRequest || self.everything else { return false }
        if !self.everything && (info.method == "REGISTER" || info.method == "OPTIONS") { return false }
        guard let user = self.user else { return true }
        return [info.from, info.to, info.requestURI].contains { $0.lowercased().contains(user) }
    }

    private func titleLine(_ message: CapturedMessage) -> String {
        let info = message.info
        func who(_ uri: String) -> String { EndpointNames.user(of: uri) ?? uri }
        let n = self.callIDs.count
        return TerminalText.escaped(
            "[\(n)] \(who(info.from)) → \(who(info.to)) · \(info.method) · \(CaptureClock.timeOfDay(message.time)) · Call-ID: \(info.callID)")
    }

    /// `[1] completed · 4.970 s` when a dialog reaches its end, in the words of the journal.
    private func stateLine(_ callID: String, _ state: DialogState) -> String {
        let n = (self.callIDs.firstIndex(of: callID) ?? 0) + 1
        var line = "[\(n)] \(state.rawValue)"
        if let progress = self.progress[callID], let answered = progress.answered, let ended = progress.ended {
            line += " · talked \(CaptureClock.seconds(ended - answered)) s"
        }
        return line
    }

    /// A followed message as a captured one; nil when it is not SIP (the proxy only follows SIP it read or sent).
    static func captured(_ followed: FollowedMessage) -> CapturedMessage? {
        let bytes = Array(followed.text.utf8)
        guard let info = SIPMessageInfo.scan(bytes), let source = Endpoint(text: followed.source),
            let destination = Endpoint(text: followed.destination)
        else { return nil }
        return CapturedMessage(
            info: info, time: followed.timeUs * 1000, source: source, destination: destination,
            transport: followed.transport == "UDP" ? .udp : .tcp, frames: [], bytes: bytes
        )
    }
}
