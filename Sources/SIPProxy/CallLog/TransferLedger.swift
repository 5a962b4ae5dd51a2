// TransferLedger: REFERs waiting for the transferee's new call (RFC 3515), shared by the shards' call trackers.
//
// The REFER belongs to the first call and the transferee's INVITE to a new one with another Call-ID, so with
// several shards the two are usually seen by different trackers. The ledger links them: the first tracker notes
// the transfer, the second claims it. Each operation holds the mutex for a scan of a few entries.

import Synchronization

final class TransferLedger: Sendable {
    struct Pending: Sendable {
        var target: String
        var transferee: String
        var callID: String
        var at: WallClock
    }

    private let pending = Mutex<[Pending]>([])

    /// Notes a REFER (once per call and target).
    func add(_ transfer: Pending) {
        self.pending.withLock { list in
            if !list.contains(where: { $0.callID == transfer.callID && $0.target == transfer.target }) {
                list.append(transfer)
            }
        }
    }

    /// No REFER waiting: the common case, checked before an INVITE's addresses are normalized for `claim`.
    var isEmpty: Bool { self.pending.withLock { $0.isEmpty } }

    /// Claims the latest transfer an INVITE carries out: within `window` seconds, to one of `targets`, from the
    /// transferee or `marked` (Referred-By / Replaces), and not the REFER's own call. Returns its Call-ID.
    func claim(targets: [String], caller: String, marked: Bool, callID: String, at time: WallClock, window: Double)
        -> String?
    {
        self.pending.withLock { list in
            guard
                let index = list.lastIndex(where: { transfer in
                    time.seconds(since: transfer.at) <= window && targets.contains(transfer.target)
                        && (transfer.transferee == caller || marked) && transfer.callID != callID
                })
            else { return nil }
            return list.remove(at: index).callID
        }
    }

    /// Forgets transfers older than `window` seconds.
    func expire(now: WallClock, window: Double) {
        self.pending.withLock { list in list.removeAll { now.seconds(since: $0.at) > window } }
    }

    var count: Int { self.pending.withLock { $0.count } }
}
