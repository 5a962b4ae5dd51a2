// DialogState: the state of an INVITE dialog, derived from its messages (as sngrep's call_update_state does).

/// Where an INVITE dialog stands. Dialogs without an INVITE have no state. An unanswered call ends in the
/// journal's words (`CallOutcome(final:...)`): a trace and `sipctl calls` name the same call the same way.
public enum DialogState: String, Sendable, Codable, CaseIterable {
    case setup = "setup"
    case inCall = "in call"
    case completed = "completed"
    case cancelled = "cancelled"
    case declined = "declined"
    case busy = "busy"
    case noAnswer = "no-answer"
    case unreachable = "unreachable"
    case failed = "failed"
    case diverted = "diverted"

    /// The state of a call that ended unanswered with `outcome`.
    init(unanswered outcome: CallOutcome) {
        switch outcome {
        case .cancelled: self = .cancelled
        case .declined: self = .declined
        case .busy: self = .busy
        case .noAnswer: self = .noAnswer
        case .unreachable: self = .unreachable
        default: self = .failed
        }
    }

    /// Whether the call is over without an answer (a new INVITE, e.g. after a 407 challenge, starts again).
    var endedUnanswered: Bool {
        switch self {
        case .cancelled, .declined, .busy, .noAnswer, .unreachable, .failed, .diverted: return true
        case .setup, .inCall, .completed: return false
        }
    }
}

/// The state of a dialog and the times its duration needs. A value; `advanced(by:at:)` is a pure function.
public struct CallProgress: Sendable, Equatable {
    public var state: DialogState?
    /// CSeq number of the INVITE that set the dialog up (re-INVITEs do not move it).
    public var inviteCSeq: UInt32?
    /// When the INVITE was answered with 2xx.
    public var answered: CaptureTime?
    /// When the BYE was sent.
    public var ended: CaptureTime?
    /// Whether a phone rang (a 18x to the INVITE): a 480 after ringing is `no-answer`, without it `unreachable`.
    public var rang = false

    public init() {}

    /// The progress after one more message:
    /// - an INVITE starts `setup` (again, after a failure: a new INVITE after a 401/407 challenge);
    /// - in `setup`: 2xx to the INVITE → `in call`; CANCEL → `cancelled`; 3xx → `diverted`; ≥ 400 → the journal's
    ///   word for it (`declined`, `busy`, `no-answer`, `unreachable`, `failed`; a 487 after a CANCEL stays
    ///   `cancelled`);
    /// - in `in call`: BYE → `completed`.
    public func advanced(by message: SIPMessageInfo, at time: CaptureTime) -> CallProgress {
        var next = self
        let isInvite = message.method == "INVITE"
        if message.isRequest && isInvite {
            if self.state == nil || (self.state?.endedUnanswered == true && message.cseqNumber != self.inviteCSeq) {
                next.state = .setup
                next.inviteCSeq = message.cseqNumber
                next.answered = nil
                next.ended = nil
                next.rang = false
            }
            return next
        }
        switch self.state {
        case .setup?:
            if message.isRequest {
                if message.method == "CANCEL" { next.state = .cancelled }
                return next
            }
            guard isInvite, message.cseqNumber == self.inviteCSeq else { return next }
            switch message.statusCode {
            case 180..<200:
                next.rang = true
            case 200..<300:
                next.state = .inCall
                next.answered = time
            case 300..<400: next.state = .diverted
            case 400...:
                // A 487 after the caller's CANCEL left `setup` already; here it is the proxy's Timer C.
                next.state = DialogState(
                    unanswered: CallOutcome(final: message.statusCode, cancelRequested: false, unreachable480: !self.rang))
            default: break
            }
        case .cancelled?:
            // The INVITE's 200 crossed the CANCEL: the call was answered after all.
            if !message.isRequest, isInvite, (200..<300).contains(message.statusCode),
                message.cseqNumber == self.inviteCSeq
            {
                next.state = .inCall
                next.answered = time
            }
        case .inCall?:
            if message.isRequest && message.method == "BYE" {
                next.state = .completed
                next.ended = time
            }
        default:
            break
        }
        return next
    }

    /// The progress of a whole sequence of messages.
    public static func derive(_ messages: [(SIPMessageInfo, CaptureTime)]) -> CallProgress {
        messages.reduce(CallProgress()) { $0.advanced(by: $1.0, at: $1.1) }
    }
}
