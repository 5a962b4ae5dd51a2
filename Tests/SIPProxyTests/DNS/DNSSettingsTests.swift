// DNSSettings and ResolvConf: `--dns` and `--dns-failover-timeout` values, the YAML keys, /etc/resolv.conf lines.

import NIOCore
import Testing

@testable import SIPProxy

@Suite("DNSSettings and resolv.conf")
struct DNSSettingsTests {
    @Test("--dns takes IP, IP:PORT, [IPv6]:PORT; anything else is a one-line error")
    func servers() throws {
        #expect(try DNSSettings.parseServer("127.0.0.53").hostPort == "127.0.0.53:53")
        #expect(try DNSSettings.parseServer("127.0.0.40:5353").hostPort == "127.0.0.40:5353")
        #expect(try DNSSettings.parseServer("[::1]:5353").hostPort == "[::1]:5353")
        for bad in ["ns.example.com", "127.0.0.1:0", "127.0.0.1:99999", "", "1.2.3.4:x"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try DNSSettings.parseServer(bad) }
        }
        do {
            _ = try DNSSettings.parseServer("ns.example.com")
        } catch {
            #expect("\(error)" == "invalid --dns 'ns.example.com': 'ns.example.com' is not an IP address")
        }
    }

    @Test("--dns-failover-timeout: 1500ms, 2s, 2; between 100 ms and 32 s")
    func timeouts() throws {
        #expect(try DNSSettings.parseTimeout("1500ms", source: "t") == .milliseconds(1500))
        #expect(try DNSSettings.parseTimeout("2s", source: "t") == .seconds(2))
        #expect(try DNSSettings.parseTimeout("2", source: "t") == .seconds(2))
        for bad in ["50ms", "33s", "0", "-1", "fast", "99999999999999999999s"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try DNSSettings.parseTimeout(bad, source: "t") }
        }
    }

    @Test("resolv.conf: nameserver lines in order, at most three, zones dropped; none means the local machine")
    func resolvConf() {
        let text = """
            # generated
            search lab.example
            nameserver 192.0.2.53
            nameserver fe80::1%eth0
            options timeout:2
            nameserver 192.0.2.54
            nameserver 192.0.2.55
            nameserver not-an-ip
            """
        #expect(ResolvConf.servers(parsing: text).map(\.hostPort) == ["192.0.2.53:53", "[fe80::1]:53", "192.0.2.54:53"])
        #expect(ResolvConf.servers(parsing: "search x\n").map(\.hostPort) == ["127.0.0.1:53"])
    }

    @Test("the config file's dns section is known to the schema")
    func schema() throws {
        try ConfigSchema.check("dns:\n  servers: [\"127.0.0.1:5353\"]\n  failover_timeout: 2s\n", name: "p.yaml")
        #expect(throws: ConfigurationError.self) { try ConfigSchema.check("dns:\n  server: x\n", name: "p.yaml") }
    }

    @Test("validation keeps the failover timeout under Timer B")
    func validation() {
        var configuration = ProxyConfiguration()
        configuration.dns.failoverTimeout = .seconds(40)
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }
}
