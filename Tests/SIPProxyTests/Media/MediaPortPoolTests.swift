// MediaPortPool: real bound pairs, ports in use skipped, an empty pool said.

import Testing

@testable import SIPProxy

@Suite("Media: port pool")
struct MediaPortPoolTests {
    @Test("the port pool binds real pairs, skips ports in use, and says when it is empty")
    func pool() throws {
        // An address of its own: on 127.0.0.1 a socket of a test running alongside (SIPp, a phone) may hold one
        // of these ports as its ephemeral port.
        // A range of its own too (two test runs on one machine must not meet here).
        let b = 39_000 + 10 * Int.random(in: 0..<90)
        let pool = MediaPortPool(range: (b + 1)...(b + 8), address: try .init(ipAddress: "127.0.0.213", port: 0))
        #expect(pool.range == (b + 2)...(b + 8) && pool.capacity == 3)
        var pairs: [MediaPortPool.Pair] = []
        while let pair = pool.allocate() { pairs.append(pair) }
        #expect(pairs.map(\.port) == [b + 2, b + 4, b + 6] && pool.inUse == 3)
        pool.release(b + 4)
        for pair in pairs where pair.port == b + 4 {
            MediaPortPool.closeSocket(pair.rtp)
            MediaPortPool.closeSocket(pair.rtcp)
        }
        #expect(pool.allocate()?.port == b + 4)
        for pair in pairs where pair.port != b + 4 {
            MediaPortPool.closeSocket(pair.rtp)
            MediaPortPool.closeSocket(pair.rtcp)
        }
    }
}
