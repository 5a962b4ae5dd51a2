// TraceSink: another consumer of the transport's trace tap beside the pcap ring (HEP to Homer, issue 16).

/// Receives every SIP message the proxy sends or receives (the same edge as the pcap recorder: the transport reports
/// to its `WireTap`, which is the recorder, and the recorder hands each event to its sinks), and, from the media
/// relay, RTCP.
///
/// Both calls run on an event loop for every message: a sink must only queue (bounded) and return, never block nor
/// do I/O there. The list of sinks is fixed when the recorder is made, so fanning out takes no lock.
public protocol TraceSink: Sendable {
    /// Whether the sink wants events now: the transport skips copying payloads when no sink nor file wants them.
    var isActive: Bool { get }
    /// A SIP message (`kind == .message`) or the end of a TCP connection (`.connectionClosed`).
    func consume(_ event: TraceEvent)
    /// An RTCP datagram the media relay received from a phone, with the Call-ID of the call it belongs to.
    func consumeRTCP(_ event: TraceEvent, callID: String)
}
