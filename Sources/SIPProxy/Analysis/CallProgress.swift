// DialogState: the state of an INVITE dialog, derived from its messages (as sngrep's call_update_state does).

/// Where an INVITE dialog stands. Dialogs without an INVITE have no state.
public enum DialogState: String, Sendable, Codable, CaseIterable {
    case setup = "setup"
    case inCall = "in call"
    case completed = "completed"
    case cancelled = "cancelled"
    case rejected = "rejected"
    case busy = "busy"
    case diverted = "diverted"
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

    public init() {}

    /// The progress after one more message:
    /// - an INVITE starts `setup` (again, after a failure: a new INVITE after a 401/407 challenge);
    /// - in `setup`: 2xx to the INVITE → `in call`; CANCEL → `cancelled`; 3xx → `diverted`; 486/600 → `busy`;
    ///   other ≥ 400 → `rejected` (a 487 after a CANCEL stays `cancelled`);
    /// - in `in call`: BYE → `completed`.
    public func advanced(by message: SIPMessageInfo, at time: CaptureTime) -> CallProgress {
        var next = self
        let isInvite = message.method == "INVITE"
        if message.isRequest && isInvite {
            switch self.state {
            case nil, .cancelled, .rejected, .busy, .diverted:
                if self.state == nil || message.cseqNumber != self.inviteCSeq {
                    next.state = .setup
                    next.inviteCSeq = message.cseqNumber
                    next.answered = nil
                    next.ended = nil
                }
            default:
                break
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
            case 200..<300:
                next.state = .inCall
                next.answered = time
            case 300..<400: next.state = .diverted
            case 486, 600: next.state = .busy
            case 400...: next.state = .rejected
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
