// SIPTransport: what the SIP core needs from the transport layer (RFC 3261 §18), as a protocol, so the core and
// the transaction layer run over real sockets (`TransportManager`) or, in tests, over an in-memory fake that
// hands messages between simulated phones on an `EmbeddedEventLoop` without a socket or a sleep.

import Logging
import NIOCore

/// A listening address of the proxy.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var transport: TransportKind
    public var address: SocketAddress

    public init(transport: TransportKind, address: SocketAddress) {
        self.transport = transport
        self.address = address
    }

    public var description: String { "\(self.transport.rawValue.lowercased()):\(self.address.hostPort)" }
}

/// The transport seen from the SIP core. Every call happens on `eventLoop`.
protocol SIPTransport: AnyObject {
    var eventLoop: EventLoop { get }
    /// Every bound listener.
    var listenAddresses: [ListenAddress] { get }
    /// Messages read from a socket (set by the core at start).
    var onReceive: ((ByteBuffer, Peer) -> Void)? { get set }
    /// Stream messages over the size limit (the core answers 513).
    var onOversized: ((ByteBuffer, Peer) -> Void)? { get set }

    /// The local address of the `transport` listener that best reaches `remote`, preferring `preferred`.
    func localAddress(for transport: TransportKind, to remote: SocketAddress, preferred: SocketAddress?) -> SocketAddress?
    /// Sends a serialized message; `onFailure` learns of a failed connect or send (§17.1.4 transport error).
    func send(_ buffer: ByteBuffer, to peer: Peer, onFailure: (@Sendable (TransportError) -> Void)?)
    /// Why `address` must not be sent to (broadcast, multicast, ...), nil when it may.
    func refusal(_ address: SocketAddress) -> String?
    /// Whether a TCP or TLS connection is still open.
    func isOpen(_ id: ConnectionID) -> Bool
    /// A log line at most once per key every few seconds.
    func logThrottled(_ key: String, _ level: Logger.Level, _ message: String)
    /// Octets waiting in the UDP receive queues, and messages and octets read since start (overload control).
    func receiveQueueOctets() -> Int
    var readCount: (messages: Int, octets: Int) { get }
}

extension SIPTransport {
    func send(_ buffer: ByteBuffer, to peer: Peer) {
        self.send(buffer, to: peer, onFailure: nil)
    }
}
