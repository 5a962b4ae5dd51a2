// UDPPortProbe: checks that no other process holds a UDP address before the shards bind it with SO_REUSEPORT.
//
// With SO_REUSEPORT, Linux lets any socket of the same user join an address whose sockets all set it, and then
// splits the traffic between them: a second `sipctl serve` on the same port would silently take half of the
// phones' messages. A plain bind (no reuse options) fails with EADDRINUSE when any socket holds the address, so
// one is made and closed just before the shards bind. Blocking system calls: run at start-up, off the loops.

import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum UDPPortProbe {
    /// Throws `TransportError.bindFailed` when `address` cannot be bound exclusively right now.
    static func ensureFree(_ address: SocketAddress) throws {
        guard address.port != 0 else { return }  // an ephemeral port is free by definition
        #if canImport(Glibc)
        let fd = socket(Int32(address.protocol.rawValue), Int32(SOCK_DGRAM.rawValue), 0)
        #else
        let fd = socket(Int32(address.protocol.rawValue), SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { return }  // cannot probe: the real bind reports the problem
        defer { close(fd) }
        let rc = address.withSockAddr { pointer, length in bind(fd, pointer, socklen_t(length)) }
        if rc != 0 {
            let reason = String(cString: strerror(errno))
            throw TransportError(.bindFailed, "cannot bind udp \(address.hostPort): \(reason)")
        }
    }
}
