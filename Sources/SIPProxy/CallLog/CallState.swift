// CallState: the one pure function that turns what the tracker has seen of a call into its state (in the spirit
// of sngrep's `call_update_state`). The tracker only records facts; every decision about ringing, answered and
// the outcome is made here, so the rules can be read (and tested) in one place.

/// Where a call stands.
public enum CallState: Sendable, Equatable {
    /// INVITE seen, no provisional response above 100 yet.
    case calling
    /// A 18x was seen (RFC 3261 §13.2.2.1: provisional responses create early dialogs).
    case ringing
    /// A 2xx to the initial INVITE was seen (RFC 3261 §13.2.2.4).
    case answered
    case ended(CallOutcome)

    /// `calling`, `ringing`, `answered` or `ended`: the record's `state` field.
    public var name: String {
        switch self {
        case .calling: return "calling"
        case .ringing: return "ringing"
        case .answered: return "answered"
        case .ended: return "ended"
        }
    }
}

/// What has been seen of a call: the input of `CallState.derive`.
public struct CallFacts: Sendable, Equatable {
    /// A provisional response above 100 to the initial INVITE.
    public var rang = false
    /// A 2xx to the initial INVITE.
    public var answered = false
    /// A BYE in the dialog (RFC 3261 §15.1).
    public var byeSeen = false
    /// The caller sent CANCEL (RFC 3261 §9.1).
    public var cancelRequested = false
    /// The non-2xx final response the proxy sent to the caller.
    public var finalCode: Int?
    /// That final response was made by the proxy itself (it never received that code from a branch).
    public var finalFromProxy = false
    /// No message for longer than the idle limit.
    public var idleExpired = false
    /// The proxy stopped while the call was in progress.
    public var interrupted = false

    public init() {}
}

extension CallState {
    /// Codes that ask the caller to retry the same call with credentials (RFC 3261 §22.2, §22.3): the record
    /// stays open for the retried INVITE (same Call-ID and From tag, higher CSeq).
    static let challengeCodes: Set<Int> = [401, 407]

    /// The state of a call from its facts. Rules, first match wins:
    ///
    /// 1. interrupted → `interrupted`.
    /// 2. answered: BYE seen → `completed`; idle → `timed-out`; else `answered`.
    /// 3. a non-2xx final sent to the caller:
    ///    401/407 → still in progress (waiting for the retry), `failed` once idle;
    ///    487 → `cancelled` after a CANCEL from the caller, else `no-answer` (the proxy's Timer C, §16.8);
    ///    603 → `declined`; 486/600 → `busy`; 408 → `no-answer`;
    ///    480 → `unreachable` when the proxy made it (no usable contact, §16.7 step 6), `no-answer` from a phone;
    ///    404/604 → `unreachable`; anything else → `failed`.
    /// 4. idle → `timed-out`; else `ringing` once a 18x was seen, `calling` before.
    public static func derive(_ facts: CallFacts) -> CallState {
        if facts.interrupted { return .ended(.interrupted) }
        if facts.answered {
            if facts.byeSeen { return .ended(.completed) }
            if facts.idleExpired { return .ended(.timedOut) }
            return .answered
        }
        if let code = facts.finalCode, code >= 300 {
            if Self.challengeCodes.contains(code) {
                if facts.idleExpired { return .ended(.failed) }
                return facts.rang ? .ringing : .calling
            }
            return .ended(CallOutcome(final: code, cancelRequested: facts.cancelRequested, unreachable480: facts.finalFromProxy))
        }
        if facts.idleExpired { return .ended(.timedOut) }
        return facts.rang ? .ringing : .calling
    }
}
