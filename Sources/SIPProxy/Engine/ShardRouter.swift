// ShardRouter: gives every message to the shard (event loop) that owns its call.
//
//     kernel (SO_REUSEPORT) --> shard 0 socket --+                      +--> shard 0 core
//                          \--> shard 1 socket --+-- hash(Call-ID) % N --+--> shard 1 core
//
// The kernel spreads datagrams over the shards' sockets by source address and port, so the caller's and the
// callee's messages of one call land on different shards. The owner of a message is the hash of its Call-ID: the
// INVITE, its responses, the CANCEL, the ACK and every in-dialog request of a dialog share it (RFC 3261 §8.1.1.4,
// §12), so one shard sees the whole call. Its transactions, response context, timers and call tracker then need no
// lock and no cross-shard lookup; a message the kernel gave to another shard costs one hop between loops. (The
// engine issue proposed naming the shard in the Via branch; that covers responses and CANCEL but not the ACK for
// 2xx, in-dialog requests or the journal's view of a call, which the Call-ID covers alike.)

import NIOCore

/// The shards of one proxy and the rule that picks a message's owner.
final class ShardRouter: Sendable {
    let cores: [ProxyCore]

    init(cores: [ProxyCore]) {
        self.cores = cores
    }

    /// A message read by shard `index`'s socket (called on that shard's loop): processed there or on its owner's.
    func deliver(_ bytes: ByteBuffer, from peer: Peer, arrivedOn index: Int) {
        // The arriving shard's counters are its loop's: the socket's handler must call from there.
        self.cores[index].eventLoop.assertInEventLoop()
        let owner = Self.shard(of: bytes, count: self.cores.count, default: index)
        let core = self.cores[owner]
        if owner == index {
            core.receive(bytes, from: peer)
        } else {
            self.cores[index].load.handedOver &+= 1
            // The owner's `receive` asserts that it runs on the owner's loop.
            core.eventLoop.execute { core.receive(bytes, from: peer) }
        }
    }

    /// The shard that owns a Call-ID, by the same hash as `shard(of:)`: a request the proxy makes itself as a UA
    /// gets a Call-ID its own shard owns, so the responses come back to the transaction that waits for them.
    static func shard(callID: String, count: Int) -> Int {
        guard count > 1 else { return 0 }
        return Int(Self.fnv1a(callID.utf8) % UInt64(count))
    }

    /// FNV-1a, 64 bits: cheap, and spreads Call-IDs evenly (they are random strings already).
    private static func fnv1a<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            value ^= UInt64(byte)
            value = value &* 0x100_0000_01b3
        }
        return value
    }

    /// The owner of a message: FNV-1a of its Call-ID value modulo `count`; `fallback` when it has none (a
    /// malformed message is answered where it arrived).
    static func shard(of bytes: ByteBuffer, count: Int, default fallback: Int) -> Int {
        guard count > 1 else { return 0 }
        let hash: UInt64? = bytes.withUnsafeReadableBytes { raw in
            guard let range = SIPCallIDScanner.valueRange(in: raw) else { return nil }
            return Self.fnv1a(raw[range])
        }
        guard let hash else { return fallback }
        return Int(hash % UInt64(count))
    }
}

/// Finds the Call-ID header's value in a message's raw bytes without parsing the message: a line `Call-ID` or the
/// compact `i` (RFC 3261 §7.3.3, §20.8), any case, optional whitespace before the colon (HCOLON, §25.1), the value
/// trimmed. Only the header section is searched.
enum SIPCallIDScanner {
    static func valueRange(in raw: UnsafeRawBufferPointer) -> Range<Int>? {
        let count = raw.count
        var lineStart = 0
        // Skip the start line.
        while lineStart < count && raw[lineStart] != 10 { lineStart += 1 }
        lineStart += 1
        while lineStart < count {
            // End of the header section: an empty line.
            if raw[lineStart] == 13 || raw[lineStart] == 10 { return nil }
            var lineEnd = lineStart
            while lineEnd < count && raw[lineEnd] != 10 { lineEnd += 1 }
            if let value = Self.callIDValue(raw, lineStart, lineEnd) { return value }
            lineStart = lineEnd + 1
        }
        return nil
    }

    private static func callIDValue(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Range<Int>? {
        var i = start
        let first = raw[i] | 0x20
        if first == UInt8(ascii: "i") {
            i += 1
            if i < end, raw[i] | 0x20 == UInt8(ascii: "d") {
                return nil  // "Id..." is not "i" and not "Call-ID"
            }
        } else if first == UInt8(ascii: "c") {
            let name: [UInt8] = Array("call-id".utf8)
            guard end - start >= name.count else { return nil }
            for (offset, expected) in name.enumerated() {
                let byte = raw[start + offset]
                let lowered = (byte >= 65 && byte <= 90) ? byte | 0x20 : byte
                guard lowered == expected else { return nil }
            }
            i = start + name.count
        } else {
            return nil
        }
        while i < end && (raw[i] == 32 || raw[i] == 9) { i += 1 }
        guard i < end, raw[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        while i < end && (raw[i] == 32 || raw[i] == 9) { i += 1 }
        var j = end
        while j > i && (raw[j - 1] == 13 || raw[j - 1] == 32 || raw[j - 1] == 9) { j -= 1 }
        return j > i ? i..<j : nil
    }
}
