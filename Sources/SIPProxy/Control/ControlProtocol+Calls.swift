// ControlProtocol+Calls: the `calls.live` control command (calls in progress), an extension point for the lead.
//
//     -> {"command":"calls.live"}
//     <- {"ok":true,"liveCalls":[{"callID":"a84b4c76e66710","caller":"sip:alice@example.com",...,"state":"ringing"}],
//         "serverTime":1796117598412000}
//
// To serve it, ControlResponse needs two optional fields (ControlProtocol.swift is the lead's):
//
//     public var liveCalls: [CallRecord]?
//     public var serverTime: WallClock?
//
// and ProxyControl answers `CallsControl.liveCommand` with `tracker.inProgress` and `WallClock.now()`.
// `sipctl calls --live` decodes the same line as `LiveCallsResponse`, so it works before and after that change
// (unknown fields are ignored on both sides).

/// Names and shapes of the call journal's control commands.
public enum CallsControl {
    /// The command: the calls in progress.
    public static let liveCommand = "calls.live"
}

/// The answer to `calls.live`: the `ok`/`error` of every ControlResponse plus the calls in progress.
public struct LiveCallsResponse: Codable, Sendable, Equatable {
    public var ok: Bool
    public var error: String?
    /// The calls in progress, oldest first, as `CallTracker.inProgress` gives them.
    public var liveCalls: [CallRecord]?
    /// The proxy's clock when it answered (durations of calls in progress are computed against it).
    public var serverTime: WallClock?

    public init(ok: Bool = true, error: String? = nil, liveCalls: [CallRecord]? = nil, serverTime: WallClock? = nil) {
        self.ok = ok
        self.error = error
        self.liveCalls = liveCalls
        self.serverTime = serverTime
    }
}
