// MediaPortPool: the relay's UDP ports (`--rtp-ports 20000-29999`), shared by every shard.
//
// A stream's ports go into the SDP before the message is forwarded, so a port must be really bound when it is
// handed out: the pool binds the sockets itself (socket(2) and bind(2) return at once, they never wait on the
// network) and the shard registers the bound descriptors with its event loop afterwards. A port another program
// holds is skipped. Pairs are an even RTP port and the next, odd, RTCP port (RFC 3550 §11).

import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The relay's port range and which pairs are in use.
public final class MediaPortPool: Sendable {
    /// A bound RTP/RTCP socket pair.
    public struct Pair: Sendable {
        public var port: Int
        public var rtp: NIOBSDSocket.Handle
        public var rtcp: NIOBSDSocket.Handle
    }

    struct State {
        var inUse: Set<Int> = []
        /// The next even port to try: allocation goes round the range, so a port just freed is reused last (a
        /// late packet of an old call does not land in a new one).
        var cursor: Int
    }

    public let range: ClosedRange<Int>
    let address: SocketAddress
    private let state: Mutex<State>

    /// `range` is widened to start on an even port; `address` is the IP the sockets bind to.
    public init(range: ClosedRange<Int>, address: SocketAddress) {
        let low = range.lowerBound + (range.lowerBound % 2)
        self.range = low...max(low + 1, range.upperBound)
        self.address = address
        self.state = Mutex(State(cursor: low))
    }

    /// Pairs the range can hold at most.
    public var capacity: Int { (self.range.upperBound - self.range.lowerBound + 1) / 2 }

    /// Pairs handed out now.
    public var inUse: Int { self.state.withLock { $0.inUse.count } }

    /// Binds a free pair; nil when every pair of the range is taken (the caller answers 503).
    public func allocate() -> Pair? {
        self.state.withLock { state -> Pair? in
            for _ in 0..<self.capacity {
                let port = state.cursor
                state.cursor += 2
                if state.cursor + 1 > self.range.upperBound { state.cursor = self.range.lowerBound }
                guard !state.inUse.contains(port) else { continue }
                guard let rtp = self.bind(port) else { continue }
                guard let rtcp = self.bind(port + 1) else {
                    _ = close(rtp)
                    continue
                }
                state.inUse.insert(port)
                return Pair(port: port, rtp: rtp, rtcp: rtcp)
            }
            return nil
        }
    }

    /// Returns a pair's port to the pool (its sockets are closed by their channels).
    public func release(_ port: Int) {
        _ = self.state.withLock { $0.inUse.remove(port) }
    }

    /// A non-blocking UDP socket bound to `port`, or nil when the port is taken.
    private func bind(_ port: Int) -> NIOBSDSocket.Handle? {
        let ip = self.address.ipAddress ?? "0.0.0.0"
        let v6 = ip.contains(":")
        #if canImport(Glibc)
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let type = SOCK_DGRAM
        #endif
        let fd = socket(v6 ? AF_INET6 : AF_INET, type, 0)
        guard fd >= 0 else { return nil }
        var result: Int32 = -1
        if v6 {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = in_port_t(UInt16(port).bigEndian)
            if inet_pton(AF_INET6, ip, &sin6.sin6_addr) == 1 {
                result = withUnsafePointer(to: &sin6) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Self.bindSocket(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                }
            }
        } else {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = in_port_t(UInt16(port).bigEndian)
            if inet_pton(AF_INET, ip, &sin.sin_addr) == 1 {
                result = withUnsafePointer(to: &sin) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Self.bindSocket(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
        }
        guard result == 0 else {
            _ = close(fd)
            return nil
        }
        return fd
    }

    /// Closes a descriptor the pool bound that no channel took over.
    static func closeSocket(_ fd: NIOBSDSocket.Handle) {
        _ = close(fd)
    }

    private static func bindSocket(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
        #if canImport(Glibc)
        return Glibc.bind(fd, address, length)
        #else
        return Darwin.bind(fd, address, length)
        #endif
    }
}
