// InternetChecksum: the 16-bit one's complement checksum of IPv4, UDP and TCP (RFC 1071; RFC 791 §3.1,
// RFC 768, RFC 793 §3.1, RFC 8200 §8.1 for the IPv6 pseudo-header).

/// Accumulates the one's complement sum of big-endian 16-bit words over one or more byte runs; a run may end on an
/// odd byte, which pairs with the first byte of the next run (as if the runs were concatenated).
struct InternetChecksum {
    private var sum: UInt64 = 0
    private var pendingHighByte: UInt8?

    init() {}

    mutating func add<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        // Every traced packet is summed whole: contiguous bytes go through a loop over pairs of bytes by index,
        // which the compiler unrolls (the iterator below costs several times as much per byte).
        let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            var start = 0
            if let high = self.pendingHighByte {
                guard !buffer.isEmpty else { return }
                self.sum += UInt64(high) << 8 | UInt64(buffer[0])
                self.pendingHighByte = nil
                start = 1
            }
            var sum: UInt64 = 0
            var index = start
            while index + 1 < buffer.count {
                sum &+= UInt64(buffer[index]) << 8 | UInt64(buffer[index + 1])
                index += 2
            }
            self.sum += sum
            if index < buffer.count { self.pendingHighByte = buffer[index] }
        }
        if done != nil { return }
        var iterator = bytes.makeIterator()
        if let high = self.pendingHighByte {
            guard let low = iterator.next() else { return }
            self.sum += UInt64(high) << 8 | UInt64(low)
            self.pendingHighByte = nil
        }
        while let high = iterator.next() {
            guard let low = iterator.next() else {
                self.pendingHighByte = high
                return
            }
            self.sum += UInt64(high) << 8 | UInt64(low)
        }
    }

    mutating func add(_ word: UInt16) {
        self.add([UInt8(word >> 8), UInt8(word & 0xFF)])
    }

    /// The one's complement of the folded sum; an odd trailing byte is padded with zero (RFC 1071 §1).
    var value: UInt16 {
        var sum = self.sum
        if let high = self.pendingHighByte { sum += UInt64(high) << 8 }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    static func checksum<Bytes: Collection>(_ bytes: Bytes) -> UInt16 where Bytes.Element == UInt8 {
        var c = InternetChecksum()
        c.add(bytes)
        return c.value
    }
}
