// FollowedMessage: one SIP message as `sipctl trace follow` receives it from the running proxy (TraceFollowBuffer),
// drawn by LiveLadder.

/// One message for a follower: addresses as text, the message as it was on the wire.
public struct FollowedMessage: Codable, Sendable, Equatable {
    /// Increases by one per message the buffer kept; a follower asks for what came after the last it saw.
    public var seq: UInt64
    /// Wall clock, microseconds since the epoch.
    public var timeUs: Int64
    /// `UDP`, `TCP`, `TLS`.
    public var transport: String
    /// `ip:port` (IPv6 as `[addr]:port`).
    public var source: String
    public var destination: String
    /// The SIP message, UTF-8 with invalid sequences replaced (the follower only draws it).
    public var text: String

    public init(seq: UInt64, timeUs: Int64, transport: String, source: String, destination: String, text: String) {
        self.seq = seq
        self.timeUs = timeUs
        self.transport = transport
        self.source = source
        self.destination = destination
        self.text = text
    }
}
