import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain IPv4 socket for tests that must send what no well-behaved UA sends (oversized, trickled, hostile).
/// Blocking calls with receive timeouts; loopback only. `@unchecked Sendable`: a test hands a socket to at most one
/// task at a time (a flood task sends while the test itself waits), and the calls are plain system calls.
final class RawSocket: @unchecked Sendable {
    let fd: Int32
    let isUDP: Bool
    /// The local `ip:port` after bind.
    private(set) var localPort = 0
    let localIP: String

    /// A UDP socket bound to `ip` (port chosen by the kernel unless given).
    init(udpOn ip: String, port: Int = 0) throws {
        self.isUDP = true
        self.localIP = ip
        #if canImport(Glibc)
        self.fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        #else
        self.fd = socket(AF_INET, SOCK_DGRAM, 0)
        #endif
        guard self.fd >= 0 else { throw TestSupportError("socket: \(errno)") }
        try self.bind(ip, port)
    }

    /// A TCP connection from `ip` to `remote:port`.
    init(tcpFrom ip: String, to remote: String, port: Int) throws {
        self.isUDP = false
        self.localIP = ip
        #if canImport(Glibc)
        self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        self.fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard self.fd >= 0 else { throw TestSupportError("socket: \(errno)") }
        try self.bind(ip, 0)
        var addr = try Self.address(remote, port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(self.fd)
            throw TestSupportError("connect to \(remote):\(port): errno \(e)")
        }
    }

    /// A connection accepted by a test's listening socket.
    init(accepted fd: Int32) {
        self.isUDP = false
        self.fd = fd
        self.localIP = ""
    }

    deinit { close(self.fd) }

    private func bind(_ ip: String, _ port: Int) throws {
        var one: Int32 = 1
        setsockopt(self.fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = try Self.address(ip, port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw TestSupportError("bind \(ip):\(port): errno \(errno)") }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(self.fd, $0, &length) }
        }
        self.localPort = Int(UInt16(bigEndian: bound.sin_port))
    }

    static func address(_ ip: String, _ port: Int) throws -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, ip, &addr.sin_addr) == 1 else { throw TestSupportError("bad IPv4 \(ip)") }
        return addr
    }

    /// UDP: one datagram to `ip:port`.
    func send(_ text: String, to ip: String, port: Int) throws {
        try self.send(Array(text.utf8), to: ip, port: port)
    }

    func send(_ bytes: [UInt8], to ip: String, port: Int) throws {
        var addr = try Self.address(ip, port)
        let sent = bytes.withUnsafeBytes { raw in
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(self.fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent == bytes.count else { throw TestSupportError("sendto: \(sent), errno \(errno)") }
    }

    /// TCP: writes all of `bytes`. Returns false when the peer has closed the connection.
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Receives for up to `timeout` seconds: every datagram (UDP) or all bytes read (TCP) until then. For TCP,
    /// `closed` tells whether the peer closed the connection.
    func receive(timeout: Double, until done: ([String]) -> Bool = { _ in false }) -> (messages: [String], closed: Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        var messages: [String] = []
        var stream: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 70_000)
        while Date() < deadline {
            var pfd = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
            let ms = max(1, Int32(deadline.timeIntervalSinceNow * 1000))
            guard poll(&pfd, 1, min(ms, 100)) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
            if self.isUDP {
                if n > 0 { messages.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
            } else {
                if n <= 0 { return (Self.split(stream), true) }
                stream += buffer[0..<n]
                messages = Self.split(stream)
            }
            if done(messages) { break }
        }
        return (self.isUDP ? messages : Self.split(stream), false)
    }

    /// UDP: every datagram already waiting, without blocking (RTP read between the sends of a 20 ms clock).
    func drainDatagrams() -> [[UInt8]] {
        var out: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard n > 0 else { return out }
            out.append(Array(buffer[0..<n]))
        }
    }

    /// SIP messages in a TCP byte stream, framed by Content-Length (RFC 3261 §18.3); a partial last one is left out.
    static func split(_ bytes: [UInt8]) -> [String] {
        var messages: [String] = []
        var rest = bytes[...]
        while let first = rest.firstIndex(where: { $0 != 13 && $0 != 10 }) {
            rest = rest[first...]
            guard let end = rest.indices.first(where: { i in
                i + 3 < rest.endIndex && rest[i] == 13 && rest[i + 1] == 10 && rest[i + 2] == 13 && rest[i + 3] == 10
            }) else { break }
            let head = String(decoding: rest[..<end], as: UTF8.self)
            let length = headers("Content-Length", in: head).first.flatMap { Int($0) } ?? 0
            let total = end + 4 + length
            guard total <= rest.endIndex else { break }
            messages.append(String(decoding: rest[..<total], as: UTF8.self))
            rest = rest[total...]
        }
        return messages
    }
}

/// The status code of a response's first line, or nil.
func statusCode(_ message: String) -> Int? {
    guard message.hasPrefix("SIP/2.0 ") else { return nil }
    return Int(message.dropFirst(8).prefix(3))
}

/// The value of the first header line named `name` (case-insensitive, full name only), trimmed; nil if absent.
func headerValue(_ message: String, _ name: String) -> String? {
    let prefix = name.lowercased() + ":"
    for line in message.split(separator: "\r\n", omittingEmptySubsequences: false) {
        if line.isEmpty { break }
        if line.lowercased().hasPrefix(prefix) {
            return line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        }
    }
    return nil
}
