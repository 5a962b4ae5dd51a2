// LogThrottle: at most one log line per key per interval, so a flood of bad destinations or banned sources cannot
// turn the log itself into the outage.

import NIOCore

/// Decides whether a log line for a key may be written now. A pure value; the caller passes the time.
struct LogThrottle {
    let interval: TimeAmount
    /// Keys remembered at most; past this the table is cleared (an attacker cycling through addresses must not
    /// grow it without bound).
    let capacity: Int
    private var entries: [String: (next: NIODeadline, suppressed: Int)] = [:]

    init(interval: TimeAmount = .seconds(10), capacity: Int = 4096) {
        self.interval = interval
        self.capacity = capacity
    }

    /// nil when the line must be suppressed; otherwise the number of lines suppressed since the last one.
    mutating func admit(_ key: String, now: NIODeadline) -> Int? {
        if let entry = self.entries[key], now < entry.next {
            self.entries[key]!.suppressed += 1
            return nil
        }
        if self.entries.count >= self.capacity { self.entries.removeAll(keepingCapacity: true) }
        let suppressed = self.entries[key]?.suppressed ?? 0
        self.entries[key] = (now + self.interval, 0)
        return suppressed
    }
}
