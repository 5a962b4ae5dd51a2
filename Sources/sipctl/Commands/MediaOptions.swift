// `sipctl serve` media relay options (`--media`, `--rtp-ports`, `--media-address`, `--media-timeout`,
// `--trace-rtp`) and their YAML keys (`media.mode`, `media.rtp_ports`, `media.address`, `media.timeout`,
// `media.trace_rtp`, and the per-user lists `media.always_relay`, `media.never_relay`).

import ArgumentParser
import Configuration
import NIOCore
import SIPProxy

struct MediaOptions: ParsableArguments {
    @Option(name: .long, help: "RTP: direct (phone to phone, SDP untouched; the default), relay (every call through the proxy) or nat (through the proxy when a phone's SDP or Contact address is not where its SIP comes from).")
    var media: String?

    @Option(name: .long, help: "UDP ports of the media relay, LOW-HIGH (default 20000-29999); each stream takes two pairs.")
    var rtpPorts: String?

    @Option(name: .long, help: "IP the relay's ports bind to (default: the first listener that is not loopback).")
    var mediaAddress: String?

    @Option(name: .long, help: "End an answered call's relaying after this long without RTP, e.g. 60s or 2m (default 60s).")
    var mediaTimeout: String?

    @Option(name: .long, help: "Relayed RTP/RTCP in the trace: on (default), off, or headers (12-octet RTP headers only).")
    var traceRtp: String?

    @Option(name: .long, help: "A conference room the proxy hosts: calls to sip:ROOM@proxy are answered by the proxy and mixed, everybody hears everybody (repeatable, e.g. --conference 800); ROOM:PIN asks callers for a PIN keyed on the phone (--conference 801:4321).")
    var conference: [String] = []

    @Option(name: .long, help: "A conference factory URI user (RFC 4579): each call to sip:NAME@proxy opens a new room NAME-1, NAME-2, ... whose URI the answer's Contact gives, for a phone's 'merge calls' button (e.g. --conference-factory conf).")
    var conferenceFactory: String?

    @Option(name: .long, help: "Participants per conference room (default 30; beyond: 486).")
    var conferenceSize: Int?

    @Option(name: .long, help: "Participants in all conference rooms together (default 200; beyond: 503 with Retry-After).")
    var conferenceParticipants: Int?

    /// The conference flags over what the config file set.
    func apply(to settings: inout ConferenceSettings) throws {
        for room in self.conference where !settings.add(room) {
            throw ConfigurationError(
                "invalid --conference '\(room)': a room number or name (letters, digits, - _ .), optionally :PIN (1-16 digits)"
            )
        }
        if let factory = self.conferenceFactory {
            settings.factory = try Self.factory(factory, source: "--conference-factory", rooms: settings.rooms)
        }
        try Self.apply(size: self.conferenceSize, participants: self.conferenceParticipants,
                       source: { "--\($0.replacingOccurrences(of: "_", with: "-"))" }, to: &settings)
    }

    /// `conference_size` / `--conference-size` and `conference_participants` / `--conference-participants`.
    private static func apply(size: Int?, participants: Int?, source: (String) -> String, to settings: inout ConferenceSettings) throws {
        let sizes = ConferenceSettings.roomSizeRange, totals = ConferenceSettings.participantsRange
        if let size {
            guard sizes.contains(size) else {
                throw ConfigurationError("invalid \(source("conference_size")) \(size): \(sizes.lowerBound) to \(sizes.upperBound)")
            }
            settings.maxRoomSize = size
        }
        if let participants {
            guard totals.contains(participants) else {
                throw ConfigurationError(
                    "invalid \(source("conference_participants")) \(participants): \(totals.lowerBound) to \(totals.upperBound)"
                )
            }
            settings.maxParticipants = participants
        }
    }

    /// A factory name: a room-like name that is not also a fixed room.
    static func factory(_ name: String, source: String, rooms: Set<String>) throws -> String {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw ConfigurationError("invalid \(source) '\(name)': a name (letters, digits, - _ .)")
        }
        guard !rooms.contains(name) else { throw ConfigurationError("invalid \(source) '\(name)': it is also a room") }
        return name
    }

    /// The flags over what the config file set.
    func apply(to settings: inout MediaSettings) throws {
        try Self.apply(mode: self.media, ports: self.rtpPorts, address: self.mediaAddress, timeout: self.mediaTimeout,
                       traceRTP: self.traceRtp, source: { "--\($0)" }, to: &settings)
    }

    /// `conference_factory`, `conference_size` and `conference_participants` in a config file (the `conferences:`
    /// list is read before, by `ConferenceConfig`, so the factory can be checked against the rooms).
    static func apply(reader: ConfigReader, path: String, to settings: inout ConferenceSettings) throws {
        if let factory = reader.string(forKey: "conference_factory") {
            settings.factory = try Self.factory(factory, source: "conference_factory in \(path)", rooms: settings.rooms)
        }
        try Self.apply(size: reader.int(forKey: "conference_size"), participants: reader.int(forKey: "conference_participants"),
                       source: { "\($0) in \(path)" }, to: &settings)
    }

    /// The `media:` section of a config file (also `always_relay` and `never_relay`: lists of users).
    static func apply(reader: ConfigReader, path: String, to settings: inout MediaSettings) throws {
        if let users = reader.stringArray(forKey: "media.always_relay") { settings.alwaysRelay = Set(users.map { $0.lowercased() }) }
        if let users = reader.stringArray(forKey: "media.never_relay") { settings.neverRelay = Set(users.map { $0.lowercased() }) }
        try Self.apply(
            mode: reader.string(forKey: "media.mode"), ports: reader.string(forKey: "media.rtp_ports"),
            address: reader.string(forKey: "media.address"), timeout: reader.string(forKey: "media.timeout"),
            traceRTP: reader.string(forKey: "media.trace_rtp"),
            source: { "media.\($0.replacingOccurrences(of: "-", with: "_")) in \(path)" }, to: &settings
        )
    }

    private static func apply(
        mode: String?, ports: String?, address: String?, timeout: String?, traceRTP: String?,
        source: (String) -> String, to settings: inout MediaSettings
    ) throws {
        if let mode {
            guard let value = MediaSettings.Mode(rawValue: mode.lowercased()) else {
                throw ConfigurationError("invalid \(source("media")) '\(mode)': one of direct, relay, nat")
            }
            settings.mode = value
        }
        if let ports {
            guard let range = MediaSettings.parsePorts(ports) else {
                throw ConfigurationError("invalid \(source("rtp-ports")) '\(ports)': LOW-HIGH within 1024-65535, at least 4 ports")
            }
            settings.ports = range
        }
        if let address {
            guard (try? SocketAddress(ipAddress: address, port: 0)) != nil else {
                throw ConfigurationError("invalid \(source("media-address")) '\(address)': an IP address of this machine")
            }
            settings.address = address
        }
        if let timeout {
            guard let seconds = DurationText.parse(timeout), seconds <= 86_400 else {
                throw ConfigurationError("invalid \(source("media-timeout")) '\(timeout)': a duration like 60s, 2m (at most 1d)")
            }
            settings.timeout = .seconds(Int64(seconds))
        }
        if let traceRTP {
            guard let value = MediaSettings.TraceRTP(rawValue: traceRTP.lowercased()) else {
                throw ConfigurationError("invalid \(source("trace-rtp")) '\(traceRTP)': one of on, off, headers")
            }
            settings.traceRTP = value
        }
    }
}
