// CapturedMessage: one SIP message found in a capture, with where, when and in which frames it travelled.

/// The transport a captured message used.
public enum CaptureTransport: String, Sendable, Codable {
    case udp = "UDP"
    case tcp = "TCP"
}

/// A SIP message seen in a capture.
public struct CapturedMessage: Sendable {
    public var info: SIPMessageInfo
    /// When the frame that completed the message was captured.
    public var time: CaptureTime
    public var source: Endpoint
    public var destination: Endpoint
    public var transport: CaptureTransport
    /// Every frame that carried a part of the message (TCP segments, IP fragments).
    public var frames: [FrameRef]
    /// The message as it was sent.
    public var bytes: [UInt8]

    /// The message text (UTF-8, invalid sequences replaced).
    public var text: String { String(decoding: self.bytes, as: UTF8.self) }
}

/// What the dissector reports: messages, and frames that only repeated bytes of an earlier message of a call
/// (TCP retransmissions: not messages of their own, but part of the call for an export).
enum DissectorEvent {
    case message(CapturedMessage)
    case extraFrame(FrameRef, callID: String)
    /// An RTP packet (only when the dissector was asked for them).
    case rtp(CapturedRTP)
}
