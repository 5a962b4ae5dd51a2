// ConnectionRegistry: the TCP and TLS connections of every shard, so a message handled on one shard can be sent
// on a connection that another shard accepted or opened (RFC 3261 §18.2.2: a response goes back on the
// connection the request came on; RFC 5626: a phone is reached on the flow it registered over).
//
// Each shard's `TransportManager` keeps its own connections for its caps and its shutdown; this registry only
// names them (ids unique across shards) and finds them. Writing to a channel of another loop is safe in NIO: the
// write is carried out on the channel's own loop. The mutex is held for one dictionary operation.

import NIOCore
import Synchronization

public final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ConnectionID: Channel] = [:]
        var byRemote: [SocketAddress: ConnectionID] = [:]
        var next: UInt64 = 1
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
}
