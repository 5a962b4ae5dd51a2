// CallSummary: one dialog (one Call-ID) of a capture, as `sipctl trace calls` lists it.

/// What is kept per Call-ID while a capture streams past: counts and times, never the messages.
public struct CallSummary: Sendable, Equatable {
    /// 1-based, in order of first appearance.
    public var index: Int
    public var callID: String
    public var start: CaptureTime
    public var last: CaptureTime
    /// From and To URIs of the first message.
    public var from: String
    public var to: String
    /// The method of the first message (the CSeq method when the capture starts with a response).
    public var firstMethod: String
    public var messageCount: Int
    public var progress: CallProgress
    /// X-Call-ID / X-CID values seen in the dialog's messages.
    public var linkedCallIDs: [String]
    /// Every method seen in a request of the dialog.
    public var methods: [String]

    init(index: Int, first message: CapturedMessage) {
        self.index = index
        self.callID = message.info.callID
        self.start = message.time
        self.last = message.time
        self.from = message.info.from
        self.to = message.info.to
        self.firstMethod = message.info.method
        self.messageCount = 0
        self.progress = CallProgress()
        self.linkedCallIDs = []
        self.methods = []
    }

    mutating func add(_ message: CapturedMessage) {
        self.messageCount += 1
        self.last = max(self.last, message.time)
        self.progress = self.progress.advanced(by: message.info, at: message.time)
        if let linked = message.info.linkedCallID, !self.linkedCallIDs.contains(linked) {
            self.linkedCallIDs.append(linked)
        }
        if message.info.isRequest, !self.methods.contains(message.info.method) {
            self.methods.append(message.info.method)
        }
    }

    public var state: DialogState? { self.progress.state }

    /// How the call ended, in the journal's words; nil while it is not over (and for a redirected call, which the
    /// journal follows to its next target).
    public var outcome: CallOutcome? {
        switch self.state {
        case .completed?: return .completed
        case .cancelled?: return .cancelled
        case .declined?: return .declined
        case .busy?: return .busy
        case .noAnswer?: return .noAnswer
        case .unreachable?: return .unreachable
        case .failed?: return .failed
        case .setup?, .inCall?, .diverted?, nil: return nil
        }
    }

    /// Answer to BYE for a completed call, answer to the last message for a call still up, else first to last.
    public var duration: Int64 {
        if let answered = self.progress.answered {
            return (self.progress.ended ?? self.last) - answered
        }
        return self.last - self.start
    }
}

/// Groups messages into dialogs by Call-ID while a capture streams past.
public struct CallCollector: Sendable {
    public private(set) var calls: [CallSummary] = []
    private var indexByCallID: [String: Int] = [:]
    /// Who is at each address, learned from every message (for the ladder's lifelines).
    public private(set) var names = EndpointNames()

    public init() {}

    public mutating func add(_ message: CapturedMessage) {
        let position: Int
        if let known = self.indexByCallID[message.info.callID] {
            position = known
        } else {
            position = self.calls.count
            self.indexByCallID[message.info.callID] = position
            self.calls.append(CallSummary(index: position + 1, first: message))
        }
        self.calls[position].add(message)
        self.names.observe(message)
    }

    public func call(_ callID: String) -> CallSummary? {
        self.indexByCallID[callID].map { self.calls[$0] }
    }

    /// Reads capture files as one timeline and lists their dialogs. Returns the warnings too.
    public static func collect(_ paths: [String]) throws(AnalysisError) -> (calls: [CallSummary], warnings: [String]) {
        var collector = CallCollector()
        let warnings = try TraceTimeline(paths: paths).forEachMessage { collector.add($0) }
        return (collector.calls, warnings)
    }
}
