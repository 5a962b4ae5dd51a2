import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hands out port blocks that are currently free on a loopback address, so tests (and
/// other processes sharing 127.0.0.0/8) do not collide. A block of 8 ports starting at
/// `base`: base = SIP (UDP+TCP), base+1 = SIPp control, base+2/base+4 = SIPp media
/// (audio/video).
enum PortAllocator {
    private static let lock = NSLock()
    /// Blocks come from below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range, usually
    /// 32768-60999): a port probed free there could be taken a moment later by any socket bound to port 0 (a
    /// proxy's outgoing TCP connection, a test's raw socket), and SIPp then fails with "Address already in use".
    static let range: ClosedRange<Int> = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let bounds = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        guard bounds.count == 2 else { return 20_000...32_000 }
        if bounds[0] >= 12_000 { return 10_000...(bounds[0] - 9) }
        return (bounds[1] + 1)...65_000
    }()
    nonisolated(unsafe) private static var next: Int =
        range.lowerBound + Int(getpid() % 500) * 8 % max(8, range.count - 8)

    static func block(on ip: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        for _ in 0..<2_000 {
            let base = next
            next += 8
            if next + 8 > range.upperBound { next = range.lowerBound }
            if PortProbe.isFree(ip: ip, port: base, udp: true), PortProbe.isFree(ip: ip, port: base, udp: false),
               PortProbe.isFree(ip: ip, port: base + 1, udp: true), PortProbe.isFree(ip: ip, port: base + 2, udp: true),
               PortProbe.isFree(ip: ip, port: base + 4, udp: true)
            {
                return base
            }
        }
        fatalError("no free port block on \(ip)")
    }
}

enum PortProbe {
    /// True when a socket can be bound to ip:port (nothing else holds it).
    static func isFree(ip: String, port: Int, udp: Bool) -> Bool {
        #if canImport(Glibc)
        let type = Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue)
        #else
        let type = udp ? SOCK_DGRAM : SOCK_STREAM
        #endif
        let fd = socket(AF_INET, type, 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, ip, &addr.sin_addr) == 1 else { return false }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rc == 0
    }

    /// Waits until someone has bound ip:port (e.g. a SIPp UAS finished starting).
    static func waitBound(ip: String, port: Int, udp: Bool, timeout: Duration) async -> Bool {
        await waitUntil(timeout: timeout) { !isFree(ip: ip, port: port, udp: udp) }
    }
}
