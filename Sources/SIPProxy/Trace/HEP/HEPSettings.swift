// HEPSettings: where and as whom the proxy sends HEP (`--hep udp:HOST:PORT --hep-id N --hep-password S`).

import NIOCore

/// The HEP collector and how the proxy introduces itself to it.
public struct HEPSettings: Sendable, Equatable {
    /// The collector's address (Homer's heplify-server listens on UDP 9060 by default).
    public var collector: SocketAddress
    /// The capture agent id (HEP3 chunk 12): tells the collector which proxy a message came from.
    public var captureID: UInt32 = 2001
    /// The auth key (HEP3 chunk 14) a collector may require; nil sends none.
    public var password: String?
    /// Messages waiting to be sent at most; past this they are dropped and counted, never queued without bound.
    public var queueCapacity = 16_384

    public init(collector: SocketAddress, captureID: UInt32 = 2001, password: String? = nil) {
        self.collector = collector
        self.captureID = captureID
        self.password = password
    }

    /// Parses `udp:HOST:PORT` (or `HOST:PORT`, UDP being HEP's usual transport); HOST is an IP address, so that
    /// start-up never waits on DNS. Throws `ConfigurationError` with a one-line reason.
    public static func parseCollector(_ text: String) throws -> SocketAddress {
        var rest = Substring(text)
        if let colon = rest.firstIndex(of: ":"), rest[..<colon].allSatisfy(\.isLetter), !rest[..<colon].isEmpty {
            let scheme = rest[..<colon].lowercased()
            guard scheme == "udp" else {
                throw ConfigurationError("invalid --hep '\(text)': only udp: is supported, not \(scheme):")
            }
            rest = rest[rest.index(after: colon)...]
        }
        guard let (host, port) = SIPGrammar.splitHostPort(rest), let port, (1...65_535).contains(port) else {
            throw ConfigurationError("invalid --hep '\(text)': expected udp:IP:PORT")
        }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        guard let address = try? SocketAddress(ipAddress: bare, port: port) else {
            throw ConfigurationError("invalid --hep '\(text)': '\(bare)' is not an IP address")
        }
        return address
    }
}
