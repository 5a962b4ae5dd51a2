// MediaSettings: whether and how the proxy relays RTP (`--media`, `--rtp-ports`, `--media-timeout`, `--trace-rtp`).

import NIOCore

public struct MediaSettings: Sendable, Equatable {
    /// `direct`: SDP untouched, RTP phone to phone (the default). `relay`: every call's media through the proxy.
    /// `nat`: through the proxy only when a phone looks NATed (its SDP or Contact address is not the address its
    /// SIP comes from), as Kamailio's nat_uac_test does before calling rtpengine.
    public enum Mode: String, Sendable, CaseIterable {
        case direct, relay, nat
    }

    /// What of the relayed packets goes into the trace: all of them, none, or their first 12 octets (the RTP
    /// header, enough for Wireshark's stream analysis in a long lecture without the voice).
    public enum TraceRTP: String, Sendable, CaseIterable {
        case on, off, headers
    }

    public var mode: Mode = .direct
    public var ports: ClosedRange<Int> = 20000...29999
    /// The IP the relay's sockets bind to; nil: the first listener's.
    public var address: String?
    /// A call whose media stopped this long after it was answered is ended (its ports freed, the journal told).
    public var timeout: TimeAmount = .seconds(60)
    public var traceRTP: TraceRTP = .on
    /// Per user, from the config file: calls from or to these users are always relayed (a phone known to sit
    /// behind NAT), or never (a phone on the proxy's own LAN), whatever `mode` says. `never` wins over `always`.
    public var alwaysRelay: Set<String> = []
    public var neverRelay: Set<String> = []

    public init() {}

    /// Whether a call between these users goes through the relay, before looking at addresses (`nat`): nil
    /// leaves it to the mode.
    public func override(caller: String?, callee: String?) -> Bool? {
        let users = [caller, callee].compactMap { $0?.lowercased() }
        if users.contains(where: self.neverRelay.contains) { return false }
        if users.contains(where: self.alwaysRelay.contains) { return true }
        return nil
    }

    /// Parses `--rtp-ports 20000-29999`: at least two pairs, within 1024-65535.
    public static func parsePorts(_ text: String) -> ClosedRange<Int>? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), low >= 1024, high <= 65535,
            high - low >= 3
        else { return nil }
        return low...high
    }
}
