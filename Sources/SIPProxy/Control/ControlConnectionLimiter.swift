// ControlConnectionLimiter: counts open control connections so that their number stays bounded.

import Synchronization

/// A counter shared by the control socket's child channels (which may run on any event loop of the group).
final class ControlConnectionLimiter: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot; false (and nothing taken) when `limit` connections are open.
    func acquire() -> Bool {
        var current = self.open.load(ordering: .relaxed)
        while current < self.limit {
            let (exchanged, original) = self.open.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing
            )
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives a slot back (once per successful `acquire`, when the connection closes).
    func release() {
        self.open.subtract(1, ordering: .acquiringAndReleasing)
    }

    /// Connections open now.
    var count: Int { self.open.load(ordering: .relaxed) }
}
