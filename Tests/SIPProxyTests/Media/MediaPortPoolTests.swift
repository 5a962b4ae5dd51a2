// MediaPortPool: real bound pairs, ports in use skipped, an empty pool said.

import Testing

@testable import SIPProxy

@Suite("Media: port pool")
struct MediaPortPoolTests {
    @Test("the port pool binds real pairs, skips ports in use, and says when it is empty")
    func pool() throws {
        // An address of its own: on 127.0.0.1 a socket of a test running alongside (SIPp, a phone) may hold one
        // of these ports as its ephemeral port.
        let pool = MediaPortPool(range: 39001...39008, address: try .init(ipAddress: "127.0.0.213", port: 0))
        #expect(pool.range == 39002...39008 && pool.capacity == 3)
        var pairs: [MediaPortPool.Pair] = []
        while let pair = pool.allocate() { pairs.append(pair) }
        #expect(pairs.map(\.port) == [39002, 39004, 39006] && pool.inUse == 3)
        pool.release(39004)
        for pair in pairs where pair.port == 39004 {
            MediaPortPool.closeSocket(pair.rtp)
            MediaPortPool.closeSocket(pair.rtcp)
        }
        #expect(pool.allocate()?.port == 39004)
        for pair in pairs where pair.port != 39004 {
            MediaPortPool.closeSocket(pair.rtp)
            MediaPortPool.closeSocket(pair.rtcp)
        }
    }
}
