// IPFragmentReassembler: joins IPv4 and IPv6 fragments into whole datagrams (RFC 791, RFC 8200 §4.5).

/// Collects fragments per (source, destination, identification, protocol) until the pieces cover the datagram
/// from offset 0 to the end of the last fragment. Overlapping pieces are tolerated (later bytes win). Bounded:
/// the oldest incomplete datagram is dropped when too many are pending, and a datagram is dropped when its
/// pieces exceed `maxPieces` or `maxBytes` (a crafted capture repeating one fragment would otherwise make every
/// `add` sort an ever longer list, and hold it all in memory).
struct IPFragmentReassembler {
    struct Key: Hashable {
        var source: IPAddress
        var destination: IPAddress
        var identification: UInt32
        var proto: UInt8
    }

    struct Whole {
        var payload: [UInt8]
        var frames: [FrameRef]
        /// For IPv6: the Next Header of the first fragment's Fragment header.
        var nextHeader: UInt8
    }

    private struct Pending {
        var pieces: [(offset: Int, data: [UInt8])] = []
        var bytes = 0
        var totalLength: Int?
        var frames: [FrameRef] = []
        var nextHeader: UInt8 = 0
        var order: Int
    }

    static let maxPending = 1024
    /// A datagram is at most 65,535 octets (IPv4 total length, RFC 791; IPv6 payload length without jumbograms,
    /// RFC 8200 §4.5): twice that leaves room for overlapping retransmissions. Real fragments are hundreds of
    /// octets, so 1,024 pieces is plenty, and keeps the sort of each `add` cheap.
    static let maxPieces = 1024
    static let maxBytes = 2 * 65_536
    private var pending: [Key: Pending] = [:]
    private var counter = 0

    mutating func add(
        _ key: Key, offset: Int, more: Bool, data: [UInt8], frame: FrameRef, nextHeader: UInt8 = 0
    ) -> Whole? {
        self.counter += 1
        var entry = self.pending[key] ?? Pending(order: self.counter)
        guard entry.pieces.count < Self.maxPieces, entry.bytes + data.count <= Self.maxBytes else {
            self.pending[key] = nil
            return nil
        }
        entry.pieces.append((offset, data))
        entry.bytes += data.count
        entry.frames.append(frame)
        if offset == 0 { entry.nextHeader = nextHeader }
        if !more { entry.totalLength = offset + data.count }
        if let total = entry.totalLength, let payload = Self.join(entry.pieces, total: total) {
            self.pending[key] = nil
            return Whole(payload: payload, frames: entry.frames, nextHeader: entry.nextHeader)
        }
        self.pending[key] = entry
        if self.pending.count > Self.maxPending, let oldest = self.pending.min(by: { $0.value.order < $1.value.order })
        {
            self.pending[oldest.key] = nil
        }
        return nil
    }

    /// The datagram when the pieces cover 0..<total without a hole, else nil.
    private static func join(_ pieces: [(offset: Int, data: [UInt8])], total: Int) -> [UInt8]? {
        var covered = 0
        for piece in pieces.sorted(by: { $0.offset < $1.offset }) {
            guard piece.offset <= covered else { return nil }
            covered = max(covered, piece.offset + piece.data.count)
        }
        guard covered >= total else { return nil }
        var payload = [UInt8](repeating: 0, count: total)
        for piece in pieces {
            for (i, byte) in piece.data.enumerated() where piece.offset + i < total { payload[piece.offset + i] = byte }
        }
        return payload
    }
}
