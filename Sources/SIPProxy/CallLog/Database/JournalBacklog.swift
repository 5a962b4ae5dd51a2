// JournalBacklog: the ended calls waiting for the journal's database (`--journal-db`), bounded.
//
// A pure value: the writer thread looks at the oldest records (`peek`), writes them, and only then removes them
// (`removeFirst`), so a failed write leaves them queued in order without copying them back. New records go at the
// end; when the backlog is full they are dropped and counted. The calls are still in calls.jsonl (the local,
// crash-safe record): a long outage costs the shared view, never the journal.

/// Ended calls not yet in the database, oldest first.
struct JournalBacklog {
    /// At most this many records are kept (issue 16: bounded, 100,000 by default).
    let capacity: Int
    private var items: [CallRecord] = []
    /// Index of the oldest record in `items`: removing from the front moves it, and the array is compacted now and
    /// then, so a long backlog is not shifted for every batch.
    private var head = 0
    /// Records refused because the backlog was full, since the start.
    private(set) var dropped = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { self.items.count - self.head }
    var isEmpty: Bool { self.count == 0 }

    /// Queues the records that fit; the others are counted as dropped. Returns how many were dropped.
    @discardableResult
    mutating func append(_ records: [CallRecord]) -> Int {
        let room = max(0, self.capacity - self.count)
        let taken = min(room, records.count)
        self.items.append(contentsOf: records.prefix(taken))
        let refused = records.count - taken
        self.dropped += refused
        return refused
    }

    /// The oldest `max` records, left in place.
    func peek(_ max: Int) -> [CallRecord] {
        Array(self.items[self.head..<min(self.items.count, self.head + Swift.max(0, max))])
    }

    /// Removes the oldest `n` records (those just written).
    mutating func removeFirst(_ n: Int) {
        self.head = min(self.items.count, self.head + max(0, n))
        if self.head == self.items.count {
            self.items.removeAll(keepingCapacity: self.items.count <= 4096)
            self.head = 0
        } else if self.head >= 4096 && self.head * 2 >= self.items.count {
            self.items.removeFirst(self.head)
            self.head = 0
        }
    }
}
