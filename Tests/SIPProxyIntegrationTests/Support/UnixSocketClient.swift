import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking client for the proxy's Unix-domain control socket, for tests that must send what `sipctl` never
/// would (a request without a newline, a megabyte of garbage, many idle connections).
final class UnixSocketClient {
    private var fd: Int32

    /// Connects to `path`; reads time out after `timeout` seconds.
    init(path: String, timeout: TimeInterval = 5) throws {
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw TestSupportError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            closeDescriptor(fd)
            throw TestSupportError("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            closeDescriptor(fd)
            throw TestSupportError("connect \(path): \(reason)")
        }
        var tv = timeval()
        tv.tv_sec = .init(Int(timeout))
        tv.tv_usec = .init(Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
    }

    deinit { self.close() }

    func close() {
        if self.fd >= 0 {
            closeDescriptor(self.fd)
            self.fd = -1
        }
    }

    /// Writes as much of `bytes` as the peer takes; returns the count written (less when the peer closed: no
    /// SIGPIPE, the error ends the write).
    @discardableResult
    func send(_ bytes: [UInt8]) -> Int {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                #if canImport(Glibc)
                Glibc.send(self.fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                #else
                Darwin.send(self.fd, raw.baseAddress! + offset, raw.count - offset, 0)
                #endif
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            offset += n
        }
        return offset
    }

    func send(_ text: String) { self.send(Array(text.utf8)) }

    /// Everything the peer sends until it closes the connection (or the read times out: then `closed` is false).
    func readUntilClosed() -> (text: String, closed: Bool) {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n == 0 { return (String(decoding: data, as: UTF8.self), true) }
            // ECONNRESET: the peer closed with unread data in its buffer; that is a close too.
            if n < 0 { return (String(decoding: data, as: UTF8.self), errno == ECONNRESET) }
            data += buffer[0..<n]
        }
    }

    /// One line (without the newline), nil on timeout or close.
    func readLine() -> String? {
        var data: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = recv(self.fd, &byte, 1, 0)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            if byte == 10 { return String(decoding: data, as: UTF8.self) }
            data.append(byte)
        }
    }
}

/// `close(2)` (the name `close` is taken by `UnixSocketClient.close()` inside the class).
private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}
