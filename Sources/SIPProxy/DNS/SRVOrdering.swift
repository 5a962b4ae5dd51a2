// SRVOrdering: the order in which SRV targets are tried (RFC 2782, "Usage rules"): by priority, lowest first;
// within a priority, a weighted random order. The random source is injected so tests can fix it.

/// Orders SRV records for contacting them.
public enum SRVOrdering {
    /// RFC 2782: within one priority, records of weight 0 are placed first; then, repeatedly, the running sums of
    /// the remaining weights are computed, a number is drawn uniformly from 0...total, and the first record whose
    /// running sum is at least that number is taken next. `random(upperBound)` returns a value in 0...upperBound.
    public static func order(_ records: [SRVRecord], random: (Int) -> Int) -> [SRVRecord] {
        let byPriority = Dictionary(grouping: records, by: \.priority).sorted { $0.key < $1.key }
        var result: [SRVRecord] = []
        result.reserveCapacity(records.count)
        for (_, group) in byPriority {
            // Zero weights first, so they get a small chance only (RFC 2782), order otherwise kept.
            var remaining = group.filter { $0.weight == 0 } + group.filter { $0.weight != 0 }
            while !remaining.isEmpty {
                let total = remaining.reduce(0) { $0 + Int($1.weight) }
                let draw = min(max(random(total), 0), total)
                var sum = 0
                var chosen = remaining.count - 1
                for (index, record) in remaining.enumerated() {
                    sum += Int(record.weight)
                    if sum >= draw {
                        chosen = index
                        break
                    }
                }
                result.append(remaining.remove(at: chosen))
            }
        }
        return result
    }
}
