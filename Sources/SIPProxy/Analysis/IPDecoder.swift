// IPDecoder: IPv4 and IPv6 headers down to the transport payload, with fragments handed to the reassembler.

/// An IP packet's transport protocol and payload, after any fragment reassembly.
struct IPDatagram {
    var source: IPAddress
    var destination: IPAddress
    /// 6 for TCP, 17 for UDP.
    var proto: UInt8
    var payload: [UInt8]
    /// Every frame that carried a piece of this datagram (one unless it was fragmented).
    var frames: [FrameRef]
}

/// Decodes IPv4 (options, fragments) and IPv6 (extension headers, Fragment header).
enum IPDecoder {
    static func decode(
        _ bytes: [UInt8], at offset: Int, frame: FrameRef, reassembler: inout IPFragmentReassembler
    ) -> IPDatagram? {
        guard offset < bytes.count else { return nil }
        return bytes[offset] >> 4 == 4
            ? Self.decodeIPv4(bytes, at: offset, frame: frame, reassembler: &reassembler)
            : Self.decodeIPv6(bytes, at: offset, frame: frame, reassembler: &reassembler)
    }

    private static func decodeIPv4(
        _ bytes: [UInt8], at offset: Int, frame: FrameRef, reassembler: inout IPFragmentReassembler
    ) -> IPDatagram? {
        guard bytes.count >= offset + 20 else { return nil }
        let headerLength = Int(bytes[offset] & 0x0F) * 4
        let totalLength = Int(LinkLayer.u16(bytes, offset + 2))
        // Ethernet padding follows short packets; a capture cut by the snap length ends early.
        let end = min(bytes.count, offset + max(totalLength, headerLength))
        guard headerLength >= 20, offset + headerLength <= end else { return nil }
        let flags = LinkLayer.u16(bytes, offset + 6)
        let more = flags & 0x2000 != 0
        let fragmentOffset = Int(flags & 0x1FFF) * 8
        let proto = bytes[offset + 9]
        let source = IPAddress(bytes, at: offset + 12, length: 4)
        let destination = IPAddress(bytes, at: offset + 16, length: 4)
        let payload = Array(bytes[(offset + headerLength)..<end])
        guard more || fragmentOffset > 0 else {
            return IPDatagram(source: source, destination: destination, proto: proto, payload: payload, frames: [frame])
        }
        let key = IPFragmentReassembler.Key(
            source: source, destination: destination, identification: UInt32(LinkLayer.u16(bytes, offset + 4)),
            proto: proto
        )
        guard let whole = reassembler.add(key, offset: fragmentOffset, more: more, data: payload, frame: frame) else {
            return nil
        }
        return IPDatagram(
            source: source, destination: destination, proto: proto, payload: whole.payload, frames: whole.frames
        )
    }

    private static func decodeIPv6(
        _ bytes: [UInt8], at offset: Int, frame: FrameRef, reassembler: inout IPFragmentReassembler
    ) -> IPDatagram? {
        guard bytes.count >= offset + 40 else { return nil }
        let payloadLength = Int(LinkLayer.u16(bytes, offset + 4))
        let end = payloadLength == 0 ? bytes.count : min(bytes.count, offset + 40 + payloadLength)
        let source = IPAddress(bytes, at: offset + 8, length: 16)
        let destination = IPAddress(bytes, at: offset + 24, length: 16)
        guard let (next, cursor) = Self.skipExtensionHeaders(bytes[offset + 6], bytes, from: offset + 40, end: end)
        else { return nil }
        if next == 44 {
            // Fragment header: next header, reserved, offset (13 bits) + M flag, identification.
            guard cursor + 8 <= end else { return nil }
            let field = LinkLayer.u16(bytes, cursor + 2)
            let key = IPFragmentReassembler.Key(
                source: source, destination: destination, identification: LinkLayer.u32(bytes, cursor + 4), proto: 0
            )
            let data = Array(bytes[(cursor + 8)..<end])
            guard
                let whole = reassembler.add(
                    key, offset: Int(field >> 3) * 8, more: field & 1 != 0, data: data, frame: frame,
                    nextHeader: bytes[cursor]
                )
            else { return nil }
            // The fragmentable part may begin with further extension headers (e.g. Destination Options).
            guard let (inner, start) = Self.skipExtensionHeaders(
                whole.nextHeader, whole.payload, from: 0, end: whole.payload.count
            ), inner != 44 else { return nil }
            return IPDatagram(
                source: source, destination: destination, proto: inner, payload: Array(whole.payload[start...]),
                frames: whole.frames
            )
        }
        return IPDatagram(
            source: source, destination: destination, proto: next, payload: Array(bytes[cursor..<end]),
            frames: [frame]
        )
    }

    /// Walks Hop-by-Hop (0), Routing (43), Destination Options (60), Mobility (135) and AH (51) headers. Stops at
    /// the Fragment header (44) or an upper-layer protocol and returns it with its offset.
    static func skipExtensionHeaders(
        _ first: UInt8, _ bytes: [UInt8], from start: Int, end: Int
    ) -> (UInt8, Int)? {
        var next = first
        var cursor = start
        while [0, 43, 60, 135, 51].contains(next) {
            guard cursor + 2 <= end else { return nil }
            let length = next == 51 ? (Int(bytes[cursor + 1]) + 2) * 4 : (Int(bytes[cursor + 1]) + 1) * 8
            next = bytes[cursor]
            cursor += length
        }
        return cursor <= end ? (next, cursor) : nil
    }
}
