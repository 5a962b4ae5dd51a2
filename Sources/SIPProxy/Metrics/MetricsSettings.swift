// MetricsSettings: the `--metrics IP:PORT` address of the Prometheus endpoint.

import NIOCore

/// Parsing of the metrics listen address (an IP literal: the endpoint is for a scraper, usually on loopback).
public enum MetricsSettings {
    /// `IP:PORT` or `[IPv6]:PORT`; throws `ConfigurationError` naming `source` (`--metrics` or the YAML key).
    public static func parseAddress(_ text: String, source: String) throws -> SocketAddress {
        guard let (host, port) = SIPGrammar.splitHostPort(Substring(text)), let port, (0...65_535).contains(port) else {
            throw ConfigurationError("invalid \(source) '\(text)': expected IP:PORT, e.g. 127.0.0.1:9090")
        }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        guard let address = try? SocketAddress(ipAddress: bare, port: port) else {
            throw ConfigurationError("invalid \(source) '\(text)': '\(bare)' is not an IP address")
        }
        return address
    }
}
