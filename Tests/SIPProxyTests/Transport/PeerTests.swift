// SocketAddress text as the proxy writes it (Via received, log lines, trace names): the IPv4 fast path gives what
// inet_ntop gives, and loopback is recognised from the address bytes.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("Peer addresses")
struct PeerTests {
    @Test func ipv4TextMatchesInetNtop() throws {
        var addresses = ["0.0.0.0", "255.255.255.255", "127.0.0.1", "10.20.30.40", "192.168.1.100", "1.2.3.4",
                         "9.99.100.199", "200.10.0.255"]
        for n in stride(from: 0, through: 255, by: 17) { addresses.append("\(n).\(255 - n).\(n / 2).\(n % 10)") }
        for text in addresses {
            let address = try SocketAddress(ipAddress: text, port: 5060)
            #expect(address.ipText == text)
            #expect(address.ipText == address.ipAddress)
            #expect(address.hostPort == "\(text):5060")
            #expect(address.sipHost == text)
            #expect(address.isLoopback == text.hasPrefix("127."), "\(text)")
        }
    }

    @Test func peerNamesItsTransport() throws {
        let local = try SocketAddress(ipAddress: "127.0.0.1", port: 5060)
        let v4 = try SocketAddress(ipAddress: "192.0.2.10", port: 5070)
        let v6 = try SocketAddress(ipAddress: "::1", port: 5061)
        #expect(Peer(transport: .udp, remote: v4, local: local).description == "udp:192.0.2.10:5070")
        #expect(Peer(transport: .tcp, remote: v4, local: local).description == "tcp:192.0.2.10:5070")
        #expect(Peer(transport: .tls, remote: v6, local: local).description == "tls:[::1]:5061")
    }

    @Test func ipv6KeepsItsBrackets() throws {
        let loopback = try SocketAddress(ipAddress: "::1", port: 5062)
        #expect(loopback.ipText == "::1")
        #expect(loopback.hostPort == "[::1]:5062")
        #expect(loopback.sipHost == "[::1]")
        #expect(loopback.isLoopback)
        let other = try SocketAddress(ipAddress: "2001:db8::7", port: 5060)
        #expect(other.ipText == "2001:db8::7" && !other.isLoopback)
    }
}
