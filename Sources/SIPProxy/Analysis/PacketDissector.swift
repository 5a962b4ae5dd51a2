// PacketDissector: frames in, SIP messages out (link layer, IP with fragments, UDP, TCP streams).

/// Turns captured frames into SIP messages. Keeps only what reassembly needs: incomplete IP fragments and the
/// unconsumed bytes of each TCP stream.
struct PacketDissector {
    private var fragments = IPFragmentReassembler()
    private var streams: [StreamKey: TCPStream] = [:]
    /// Report RTP packets too (UDP datagrams that are not SIP and read as RTP version 2).
    var collectsRTP = false

    private struct StreamKey: Hashable {
        var source: Endpoint
        var destination: Endpoint
    }

    mutating func process(_ frame: CapturedFrame, _ sink: inout [DissectorEvent]) {
        guard let offset = LinkLayer.ipOffset(linkType: frame.linkType, frame.bytes),
            let datagram = IPDecoder.decode(frame.bytes, at: offset, frame: frame.ref, reassembler: &self.fragments)
        else { return }
        let payload = datagram.payload
        switch datagram.proto {
        case 17:
            guard payload.count > 8 else { return }
            let body = Array(payload[8...])
            guard SIPStartLine.isSIPDatagram(body), let info = SIPMessageInfo.scan(body) else {
                if self.collectsRTP, let header = body.withUnsafeBytes({ RTPHeader($0) }) {
                    sink.append(.rtp(CapturedRTP(
                        time: frame.time, source: Endpoint(address: datagram.source, port: LinkLayer.u16(payload, 0)),
                        destination: Endpoint(address: datagram.destination, port: LinkLayer.u16(payload, 2)),
                        header: header, size: body.count
                    )))
                }
                return
            }
            sink.append(.message(CapturedMessage(
                info: info, time: frame.time,
                source: Endpoint(address: datagram.source, port: LinkLayer.u16(payload, 0)),
                destination: Endpoint(address: datagram.destination, port: LinkLayer.u16(payload, 2)),
                transport: .udp, frames: datagram.frames, bytes: Self.trimmed(body)
            )))
        case 6:
            guard payload.count >= 20 else { return }
            let dataOffset = Int(payload[12] >> 4) * 4
            guard dataOffset >= 20, dataOffset <= payload.count else { return }
            let key = StreamKey(
                source: Endpoint(address: datagram.source, port: LinkLayer.u16(payload, 0)),
                destination: Endpoint(address: datagram.destination, port: LinkLayer.u16(payload, 2))
            )
            let stream = self.streams[key] ?? TCPStream()
            self.streams[key] = stream
            let flags = payload[13]
            let data = Array(payload[dataOffset...])
            let repeated = stream.add(
                seq: LinkLayer.u32(payload, 4), syn: flags & 0x02 != 0, payload: data, frame: frame.ref
            )
            for callID in Set(repeated) { sink.append(.extraFrame(frame.ref, callID: callID)) }
            self.emit(stream, key, time: frame.time, &sink)
        default:
            return
        }
    }

    /// Uses whatever waits behind holes in TCP streams (called once at the end of the input).
    mutating func finish(time: CaptureTime, _ sink: inout [DissectorEvent]) {
        let ordered = self.streams.sorted { ($0.key.source, $0.key.destination) < ($1.key.source, $1.key.destination) }
        for (key, stream) in ordered {
            stream.flush()
            self.emit(stream, key, time: time, &sink)
        }
        self.streams.removeAll()
    }

    private func emit(_ stream: TCPStream, _ key: StreamKey, time: CaptureTime, _ sink: inout [DissectorEvent]) {
        for message in stream.messages() {
            guard let info = SIPMessageInfo.scan(message.bytes) else { continue }
            stream.remember(message.range, callID: info.callID)
            sink.append(.message(CapturedMessage(
                info: info, time: time, source: key.source, destination: key.destination, transport: .tcp,
                frames: message.frames, bytes: message.bytes
            )))
        }
    }

    /// A datagram without its leading CRLFs.
    private static func trimmed(_ body: [UInt8]) -> [UInt8] {
        guard let first = body.firstIndex(where: { $0 != 13 && $0 != 10 }), first > 0 else { return body }
        return Array(body[first...])
    }
}
