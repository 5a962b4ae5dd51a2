// ConnectionRegistry: the TCP and TLS connections of every shard, so a message handled on one shard can be sent
// on a connection that another shard accepted or opened (RFC 3261 §18.2.2: a response goes back on the
// connection the request came on; RFC 5626: a phone is reached on the flow it registered over).
//
// Each shard's `TransportManager` keeps its own connections for its shutdown; this registry names them (ids
// unique across shards), finds them, and counts them for the caps, which hold for the proxy as a whole: connections
// are accepted on every shard. Writing to a channel of another loop is safe in NIO: the
// write is carried out on the channel's own loop. The mutex is held for one dictionary operation.

import NIOCore
import Synchronization

public final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ConnectionID: Channel] = [:]
        var byRemote: [SocketAddress: ConnectionID] = [:]
        var next: UInt64 = 1
        /// Connections admitted (accepted, or opened by the proxy) and not yet closed, in all and per source IP.
        var open = 0
        var bySource: [String: Int] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Names a new connection.
    func add(_ channel: Channel) -> ConnectionID {
        let remote = channel.remoteAddress
        return self.state.withLock { state in
            let id = ConnectionID(rawValue: state.next)
            state.next += 1
            state.channels[id] = channel
            if let remote { state.byRemote[remote] = id }
            return id
        }
    }

    func remove(_ id: ConnectionID, remote: SocketAddress?) {
        self.state.withLock { state in
            state.channels.removeValue(forKey: id)
            if let remote, state.byRemote[remote] == id { state.byRemote.removeValue(forKey: remote) }
        }
    }

    func channel(_ id: ConnectionID) -> Channel? {
        self.state.withLock { $0.channels[id] }
    }

    /// An open connection to `remote`, from any shard.
    func connection(to remote: SocketAddress) -> (id: ConnectionID, channel: Channel)? {
        self.state.withLock { state in
            guard let id = state.byRemote[remote], let channel = state.channels[id] else { return nil }
            return (id, channel)
        }
    }

    func isOpen(_ id: ConnectionID) -> Bool {
        self.state.withLock { $0.channels[id] != nil }
    }

    var count: Int { self.state.withLock { $0.channels.count } }

    /// Connections counted against the caps (admitted and not closed, on any shard).
    var openCount: Int { self.state.withLock { $0.open } }

    /// Counts a connection from `source` against the caps, or says why it is refused (nil: admitted). Each admitted
    /// connection is given back with `release(source:)` once, when it closes.
    func reserve(source: String, maxTotal: Int, maxPerSource: Int) -> String? {
        self.state.withLock { state in
            let fromSource = state.bySource[source, default: 0]
            if state.open >= maxTotal { return "\(maxTotal) connections open" }
            if fromSource >= maxPerSource { return "\(fromSource) connections from \(source)" }
            state.open += 1
            state.bySource[source] = fromSource + 1
            return nil
        }
    }

    func release(source: String) {
        self.state.withLock { state in
            state.open -= 1
            if let n = state.bySource[source] { state.bySource[source] = n > 1 ? n - 1 : nil }
        }
    }
}
