// `sipctl serve` DNS options for requests to other domains (RFC 3263): `--dns` and `--dns-failover-timeout`, and
// their YAML keys (`dns.servers`, `dns.failover_timeout`).

import ArgumentParser
import Configuration
import Foundation
import NIOCore
import SIPProxy

struct DNSOptions: ParsableArguments {
    @Option(name: .long, help: "DNS server for requests to other domains, IP[:PORT] (repeatable; default: the nameservers of /etc/resolv.conf).")
    var dns: [String] = []

    @Option(name: .long, help: "Try the next DNS target (SRV) when one gives no response for this long, e.g. 5s or 1500ms (default 5s; Timer B is 32s).")
    var dnsFailoverTimeout: String?

    /// The flags over what the config file set.
    func apply(to settings: inout DNSSettings) throws {
        if !self.dns.isEmpty { settings.servers = try self.dns.map(DNSSettings.parseServer) }
        if let text = self.dnsFailoverTimeout {
            settings.failoverTimeout = try DNSSettings.parseTimeout(text, source: "--dns-failover-timeout")
        }
    }

    /// `dns.servers` (a list) and `dns.failover_timeout` in a config file.
    static func apply(reader: ConfigReader, path: String, to settings: inout DNSSettings) throws {
        if let servers = reader.stringArray(forKey: "dns.servers") {
            settings.servers = try servers.map { text in
                do {
                    return try DNSSettings.parseServer(text)
                } catch let error as ConfigurationError {
                    throw ConfigurationError("\(error.description.replacingOccurrences(of: "--dns", with: "dns.servers")) in \(path)")
                }
            }
        }
        if let text = reader.string(forKey: "dns.failover_timeout") {
            settings.failoverTimeout = try DNSSettings.parseTimeout(text, source: "dns.failover_timeout in \(path)")
        }
    }
}
