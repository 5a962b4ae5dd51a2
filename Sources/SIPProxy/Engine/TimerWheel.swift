// TimerWheel: a hashed timing wheel (Varghese & Lauck 1987, scheme 6), the structure Kamailio's timer.c and the
// Linux kernel use for many short timers that are mostly cancelled before they fire.
//
//     slot = due tick mod slotCount            every tick: look at one slot, fire what is due
//     +---+---+---+---+---+---+---+---+
//     |   | A |   | B |   |   | C |   |        A, B: due this revolution; C: due in 3 revolutions
//     +---+---+---+---+---+---+---+---+        (it stays in its slot until its round comes)
//           ^ current tick
//
// Insertion and cancellation are O(1); a tick costs the entries of one slot. The wheel is a pure value: it holds
// no clock and schedules nothing. Its owner (`LoopTimers`) turns deadlines into ticks and advances it.
//
// Why not one NIO scheduled task per timer: every SIP transaction starts two to four timers (A/B, E/F, G/H, K) and
// cancels most of them when a response arrives. NIO keeps scheduled tasks in a heap behind a lock and allocates a
// promise per task; at 300 calls/s scheduling and cancelling took about 12 % of the proxy's CPU (issue 11).

/// A handle for cancelling a timer. Never reused within one wheel.
public struct TimerID: Hashable, Sendable {
    let raw: UInt64
}

/// Timers keyed by tick number, with payloads of any type.
struct TimerWheel<Payload> {
    private struct Entry {
        let id: UInt64
        /// The tick at which the timer is due (absolute tick number).
        let due: Int64
        let payload: Payload
    }

    /// A power of two, so the slot of a tick is a mask away.
    let slotCount: Int
    private var slots: [[Entry]]
    /// The last tick whose slot was processed: timers due at or before it have fired.
    private(set) var currentTick: Int64
    private var nextID: UInt64 = 0
    /// Live timers by id, with their due tick. Cancellation removes the id here; the entry itself is dropped when its
    /// slot is next visited (lazy deletion keeps cancel O(1) without searching the slot).
    private var live: [UInt64: Int64] = [:]
    /// Timers scheduled for a tick already processed (a zero delay, or a timer started while firing): they fire on
    /// the next advance, even one to the current tick.
    private var overdue: [Entry] = []

    /// - Parameters:
    ///   - slotCount: slots per revolution, rounded up to a power of two (at least 2).
    ///   - startTick: the tick the wheel starts at; timers due at or before it fire on the first advance.
    init(slotCount: Int = 512, startTick: Int64 = 0) {
        var count = 2
        while count < slotCount { count <<= 1 }
        self.slotCount = count
        self.slots = Array(repeating: [], count: count)
        self.currentTick = startTick
    }

    /// Timers scheduled and neither fired nor cancelled.
    var count: Int { self.live.count }

    var isEmpty: Bool { self.live.isEmpty }

    /// Schedules `payload` for tick `due`. A tick already processed fires on the next advance.
    mutating func schedule(_ payload: Payload, atTick due: Int64) -> TimerID {
        self.nextID &+= 1
        let id = self.nextID
        self.live[id] = due
        if due <= self.currentTick {
            self.overdue.append(Entry(id: id, due: due, payload: payload))
        } else {
            self.slots[self.slot(of: due)].append(Entry(id: id, due: due, payload: payload))
        }
        return TimerID(raw: id)
    }

    /// Cancels a timer; false when it already fired or was cancelled.
    @discardableResult
    mutating func cancel(_ id: TimerID) -> Bool {
        self.live.removeValue(forKey: id.raw) != nil
    }

    /// Whether a timer is still pending.
    func isPending(_ id: TimerID) -> Bool { self.live[id.raw] != nil }

    /// When an owner that sleeps between timers should next wake up: the first tick within one revolution whose
    /// slot holds entries (they may belong to a later round or be cancelled: then it wakes for nothing and asks
    /// again), else one revolution ahead. Nil when no timer is pending. Costs one emptiness check per slot.
    func nextWakeTick() -> Int64? {
        guard !self.live.isEmpty else { return nil }
        if !self.overdue.isEmpty { return self.currentTick }
        let end = self.currentTick + Int64(self.slotCount)
        var tick = self.currentTick + 1
        while tick < end {
            if !self.slots[self.slot(of: tick)].isEmpty { return tick }
            tick += 1
        }
        return end
    }

    /// Advances to `tick`, returning the payloads of every timer due at or before it, in due order (ties in the
    /// order they were scheduled).
    mutating func advance(to tick: Int64) -> [Payload] {
        var fired: [Entry] = []
        if !self.overdue.isEmpty {
            for entry in self.overdue where self.live.removeValue(forKey: entry.id) != nil { fired.append(entry) }
            self.overdue.removeAll(keepingCapacity: true)
        }
        guard tick > self.currentTick else { return fired.map(\.payload) }
        if tick - self.currentTick >= Int64(self.slotCount) {
            // A long jump (a stalled loop, a test's clock): every slot is visited once.
            for index in self.slots.indices { self.collect(slot: index, upTo: tick, into: &fired) }
        } else {
            var t = self.currentTick + 1
            while t <= tick {
                self.collect(slot: self.slot(of: t), upTo: tick, into: &fired)
                t += 1
            }
        }
        self.currentTick = tick
        if fired.count > 1 {
            fired.sort { $0.due != $1.due ? $0.due < $1.due : $0.id < $1.id }
        }
        return fired.map(\.payload)
    }

    /// Moves the due and live entries of one slot into `fired`; drops cancelled ones; keeps later rounds. Compacts
    /// the slot in place, so a tick allocates nothing.
    private mutating func collect(slot index: Int, upTo tick: Int64, into fired: inout [Entry]) {
        let total = self.slots[index].count
        guard total > 0 else { return }
        var kept = 0
        for position in 0..<total {
            let entry = self.slots[index][position]
            guard self.live[entry.id] == entry.due else { continue }  // cancelled
            if entry.due <= tick {
                self.live.removeValue(forKey: entry.id)
                fired.append(entry)
            } else {
                self.slots[index][kept] = entry
                kept += 1
            }
        }
        self.slots[index].removeLast(total - kept)
    }

    private func slot(of tick: Int64) -> Int { Int(tick & Int64(self.slotCount - 1)) }
}
