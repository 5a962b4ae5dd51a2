// ShardMetrics: what one shard counted since start, for `/metrics`. Plain integers confined to the shard's event
// loop like the rest of the core: counting a message is an array increment, with no lock and no atomic; the
// scrape reads every shard's copy on its own loop and sums them.

/// Per-shard counters of SIP traffic and calls (a pure value: messages and call events in, counts out).
struct ShardMetrics: Sendable, Equatable {
    enum Direction: Int, Sendable, CaseIterable {
        case received = 0
        case sent = 1

        var label: String { self == .received ? "received" : "sent" }
    }

    /// Label of the methods the proxy does not know (extension methods are counted together, so a peer cannot make
    /// the label set grow without bound).
    static let otherMethod = "other"
    /// Method labels by index: the known methods, then `other`.
    static let methodLabels = SIPMethod.known.map(\.rawValue) + [Self.otherMethod]
    /// Response classes 1xx..6xx (RFC 3261 §7.2).
    static let classLabels = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"]

    /// [direction][method]
    private(set) var requests: [[Int]]
    /// [direction][method of the CSeq][class]
    private(set) var responses: [[[Int]]]
    /// REGISTER final responses the proxy sent, by code (`200`, `401`, `423`, ...).
    private(set) var registerResults: [Int: Int] = [:]
    /// Calls ended, by the journal's outcome.
    private(set) var callsEnded: [CallOutcome: Int] = [:]

    init() {
        let methods = Self.methodLabels.count
        self.requests = Array(repeating: Array(repeating: 0, count: methods), count: 2)
        self.responses = Array(
            repeating: Array(repeating: Array(repeating: 0, count: 6), count: methods), count: 2
        )
    }

    static func methodIndex(_ method: SIPMethod) -> Int {
        SIPMethod.known.firstIndex(of: method) ?? SIPMethod.known.count
    }

    /// Counts one message read or written by the core (each once: retransmissions by the transaction layer are
    /// counted apart).
    mutating func count(_ message: SIPMessage, _ direction: Direction) {
        switch message {
        case .request(let request):
            self.requests[direction.rawValue][Self.methodIndex(request.method)] &+= 1
        case .response(let response):
            let klass = response.statusCode / 100 - 1
            guard (0..<6).contains(klass) else { return }
            self.responses[direction.rawValue][Self.methodIndex(response.cseq.method)][klass] &+= 1
            if direction == .sent, response.cseq.method == .register, response.statusCode >= 200 {
                self.registerResults[response.statusCode, default: 0] &+= 1
            }
        }
    }

    /// Counts the calls that ended among the tracker's events.
    mutating func count(_ events: [CallEvent]) {
        for case .ended(let record) in events {
            self.callsEnded[record.outcome ?? .failed, default: 0] &+= 1
        }
    }

    /// Adds another shard's counts (the scrape's sum).
    mutating func add(_ other: ShardMetrics) {
        for d in 0..<2 {
            for m in 0..<Self.methodLabels.count {
                self.requests[d][m] &+= other.requests[d][m]
                for c in 0..<6 { self.responses[d][m][c] &+= other.responses[d][m][c] }
            }
        }
        self.registerResults.merge(other.registerResults, uniquingKeysWith: &+)
        self.callsEnded.merge(other.callsEnded, uniquingKeysWith: &+)
    }
}
