// Relayed and conference RTP into the trace (`--trace-rtp on|off|headers`), beside the SIP that set it up.

import NIOCore

extension TraceRecorder {
    /// Records one RTP or RTCP datagram the relay or a conference room read or sent: whole with `on`, its 12-octet
    /// RTP header with `headers` (RTCP whole: it is small and says what the streams did), nothing with `off` or
    /// while no trace is being recorded. RTCP a phone sent (`.received`, with its `callID`) also goes to the sinks
    /// (HEP type 5), whatever the mode: once per report, not again as the relay sends it on.
    func recordMedia(
        _ data: ByteBuffer, _ direction: TraceEvent.Direction, from source: SocketAddress?, to destination: SocketAddress?,
        mode: MediaSettings.TraceRTP, rtp: Bool, callID: String? = nil
    ) {
        guard let source, let destination else { return }
        if !rtp, direction == .received, let callID, self.sinks.contains(where: { $0.isActive }) {
            let event = TraceEvent(
                direction: direction, transport: .udp, source: source, destination: destination,
                payload: Array(data.readableBytesView), kind: .media
            )
            for sink in self.sinks where sink.isActive { sink.consumeRTCP(event, callID: callID) }
        }
        guard mode != .off, self.isRecording else { return }
        var payload = Array(data.readableBytesView)
        if mode == .headers && rtp && payload.count > 12 { payload.removeSubrange(12...) }
        self.record(TraceEvent(
            direction: direction, transport: .udp, source: source, destination: destination, payload: payload, kind: .media
        ))
    }
}
