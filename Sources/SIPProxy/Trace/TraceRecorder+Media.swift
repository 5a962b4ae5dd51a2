// Relayed and conference RTP into the trace (`--trace-rtp on|off|headers`), beside the SIP that set it up.

import NIOCore

extension TraceRecorder {
    /// Records one RTP or RTCP datagram the relay or a conference room read or sent: whole with `on`, its 12-octet
    /// RTP header with `headers` (RTCP whole: it is small and says what the streams did), nothing with `off` or
    /// while no trace is being recorded.
    func recordMedia(
        _ data: ByteBuffer, _ direction: TraceEvent.Direction, from source: SocketAddress?, to destination: SocketAddress?,
        mode: MediaSettings.TraceRTP, rtp: Bool
    ) {
        guard mode != .off, self.isRecording, let source, let destination else { return }
        var payload = Array(data.readableBytesView)
        if mode == .headers && rtp && payload.count > 12 { payload.removeSubrange(12...) }
        self.record(TraceEvent(
            direction: direction, transport: .udp, source: source, destination: destination, payload: payload, kind: .media
        ))
    }
}
