// CallOutcome: how a call ended, in the words the call journal, `sipctl calls` and `sipctl trace calls` share.

/// How a call ended (the journal's `outcome`).
public enum CallOutcome: String, Sendable, Codable, CaseIterable, Hashable {
    /// Answered, then ended by a BYE (RFC 3261 §15).
    case completed
    /// The caller sent CANCEL before an answer and got 487 (RFC 3261 §9).
    case cancelled
    /// The callee declined: 603.
    case declined
    /// 486 Busy Here or 600 Busy Everywhere.
    case busy
    /// Nobody answered in time: 408, a 480 sent by a phone, or a 487 the caller did not ask for (Timer C).
    case noAnswer = "no-answer"
    /// The proxy could not reach the callee: 404/604, or a 480 the proxy generated itself (no registered contact).
    case unreachable
    /// Any other final response.
    case failed
    /// No message for too long (a lost BYE, a vanished phone): closed by `CallTracker.expire(now:)`.
    case timedOut = "timed-out"
    /// Still in progress when the proxy stopped: at once on a clean shutdown, by `CallJournal.recover()` at the
    /// next start after a crash.
    case interrupted
    /// Answered, then no RTP reached the media relay for `--media-timeout`: the relay freed the call's ports
    /// (a phone that vanished without a BYE).
    case mediaTimeout = "media-timeout"
}

extension CallOutcome {
    /// The outcome a non-2xx final response to the INVITE means, in the words the journal and `sipctl trace calls`
    /// share: 487 → `cancelled` when the caller sent CANCEL, else `no-answer` (the proxy's Timer C, §16.8); 603 →
    /// `declined`; 486/600 → `busy`; 408 → `no-answer`; 480 → `unreachable` when nobody could be reached (the
    /// proxy made it, or no phone rang), else `no-answer`; 404/604 → `unreachable`; anything else → `failed`.
    public init(final code: Int, cancelRequested: Bool, unreachable480: Bool) {
        switch code {
        case 487: self = cancelRequested ? .cancelled : .noAnswer
        case 603: self = .declined
        case 486, 600: self = .busy
        case 408: self = .noAnswer
        case 480: self = unreachable480 ? .unreachable : .noAnswer
        case 404, 604: self = .unreachable
        default: self = .failed
        }
    }
}
