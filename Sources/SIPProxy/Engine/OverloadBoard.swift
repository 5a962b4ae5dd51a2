// OverloadBoard: the shed share of every shard, read by all of them. A shard's sockets can hold other shards'
// calls (SO_REUSEPORT spreads datagrams by address, the ShardRouter by Call-ID), so the shard whose queue grows is
// not always the one that owns the new requests waiting in it: each shard refuses by the highest share on the board.

import Synchronization

final class OverloadBoard: Sendable {
    private let shares: Mutex<[Int]>

    init(shards: Int) {
        self.shares = Mutex(Array(repeating: 0, count: max(1, shards)))
    }

    /// Records a shard's share (thousandths) and returns the highest over all shards.
    func publish(shard: Int, permille: Int) -> Int {
        self.shares.withLock { shares in
            if shares.indices.contains(shard) { shares[shard] = permille }
            return shares.max() ?? 0
        }
    }

    /// The highest share over all shards.
    var permille: Int { self.shares.withLock { $0.max() ?? 0 } }
}
