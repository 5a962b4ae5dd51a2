// MediaSession: the offer/answer state of one relayed call (RFC 3264), as a value that takes SDP bodies and
// returns what the relay must do (open or close a stream's ports, learn where a phone wants its media).
//
// Each media line (`m=`, by its index: RFC 3264 §8 keeps a stream's index for the whole session) gets two port
// pairs on the relay: one facing the caller, one facing the callee. The caller's SDP goes to the callee naming the
// callee-facing ports, and the other way round, so each phone sends to "its" side of the relay and the relay
// forwards out of the other side. That holds through 183/200/ACK (early media, late offers), re-INVITE and UPDATE
// (hold, video added and removed, a port set to 0).

/// Who sent an SDP body: the side that sent the dialog's first INVITE, or the other one.
public enum MediaSide: String, Sendable, Hashable, Codable, CaseIterable {
    case caller, callee

    public var other: MediaSide { self == .caller ? .callee : .caller }
}

/// Where a phone asked for media in its SDP (`c=` address and `m=` port; RTCP on port + 1 or `a=rtcp`).
public struct MediaTarget: Sendable, Equatable {
    public var address: String
    public var rtpPort: Int
    public var rtcpPort: Int
}

/// One media line of a relayed session.
public struct MediaStreamState: Sendable, Equatable {
    public var index: Int
    /// `audio`, `video`, ...
    public var media: String
    /// The first codec either side named, and every payload type's clock rate (for jitter).
    public var codec: String?
    public var clockRates: [Int: Int]
    /// The relay's RTP port facing each side (RTCP is the next port); empty while the stream has no ports.
    public var ports: [MediaSide: Int]
    /// Where each side wants media, from its last SDP; nil while unknown or on hold with `c=0.0.0.0`.
    public var targets: [MediaSide: MediaTarget]
    /// The last direction attribute each side sent (`sendonly` on hold).
    public var directions: [MediaSide: String]
    /// Whether the relay should have ports open for this line (a port of 0 from either side closes it).
    public var isOpen: Bool { !self.ports.isEmpty }
}

public struct MediaSession: Sendable, Equatable {
    /// What the relay must do for a body.
    public enum Action: Sendable, Equatable {
        /// Open a port pair per side for stream `index`, then call `opened(index:ports:)`.
        case open(index: Int)
        /// Close the ports of stream `index`.
        case close(index: Int, ports: [MediaSide: Int])
        /// Side `side` of stream `index` now wants media at `target` (nil: do not send until it speaks again).
        case target(index: Int, side: MediaSide, MediaTarget?)
    }

    public let callID: String
    /// The From tag of the dialog's first INVITE: requests with it come from the caller.
    public let callerTag: String
    public private(set) var streams: [MediaStreamState] = []
    /// A 2xx to the INVITE went through: from then on, silence counts towards the media timeout.
    public var answered = false

    public init(callID: String, callerTag: String) {
        self.callID = callID
        self.callerTag = callerTag
    }

    /// Which side sent a request with this From tag (a response comes from the other side of its request's).
    public func side(ofRequestFromTag tag: String?) -> MediaSide { tag == self.callerTag ? .caller : .callee }

    /// Takes an SDP body from `side`: streams it adds are opened, streams it sets to port 0 are closed, and where
    /// the side wants its media is learned.
    public mutating func receive(_ sdp: SDPDocument, from side: MediaSide) -> [Action] {
        var actions: [Action] = []
        for (index, section) in sdp.media.enumerated() {
            if index == self.streams.count {
                self.streams.append(MediaStreamState(
                    index: index, media: section.media, codec: nil, clockRates: [:], ports: [:], targets: [:],
                    directions: [:]
                ))
            }
            var stream = self.streams[index]
            stream.media = section.media
            if stream.codec == nil { stream.codec = section.codec }
            stream.clockRates.merge(section.clockRates) { old, _ in old }
            stream.directions[side] = section.direction ?? sdp.sessionLines.first {
                ["a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"].contains($0)
            }.map { String($0.dropFirst(2)) } ?? "sendrecv"
            if section.port == 0 {
                // RFC 3264 §6/§8.2: a port of 0 rejects or removes the stream.
                if stream.isOpen { actions.append(.close(index: index, ports: stream.ports)) }
                stream.ports = [:]
                stream.targets = [:]
                self.streams[index] = stream
                continue
            }
            if !stream.isOpen { actions.append(.open(index: index)) }
            let target = Self.target(sdp, index)
            if stream.targets[side] != target {
                stream.targets[side] = target
                actions.append(.target(index: index, side: side, target))
            }
            self.streams[index] = stream
        }
        return actions
    }

    /// Records the ports the relay opened for stream `index`.
    public mutating func opened(index: Int, ports: [MediaSide: Int]) {
        guard index < self.streams.count else { return }
        self.streams[index].ports = ports
    }

    /// The body from `side` as the other side must see it: media to the relay's ports facing that other side.
    public func relayed(_ sdp: SDPDocument, from side: MediaSide, address: String) -> SDPDocument {
        let ports = sdp.media.indices.map { index -> Int? in
            guard sdp.media[index].port != 0, index < self.streams.count else { return nil }
            return self.streams[index].ports[side.other]
        }
        return sdp.relayed(address: address, addressType: address.contains(":") ? "IP6" : "IP4", ports: ports)
    }

    /// Every port the session holds, to close when it ends.
    public var allPorts: [(index: Int, ports: [MediaSide: Int])] {
        self.streams.filter(\.isOpen).map { ($0.index, $0.ports) }
    }

    /// Where section `index` of `sdp` wants media; nil for hold with an unspecified address.
    static func target(_ sdp: SDPDocument, _ index: Int) -> MediaTarget? {
        guard let (address, port) = sdp.destination(of: index), address != "0.0.0.0", address != "::" else { return nil }
        let section = sdp.media[index]
        var rtcp = section.rtcpMux ? port : port + 1
        // a=rtcp:<port> [IN IP4 <address>] (RFC 3605); the address part is rare and ignored: the port suffices
        // on the address the RTP goes to.
        if let line = section.lines.first(where: { $0.hasPrefix("a=rtcp:") }),
            let value = line.dropFirst("a=rtcp:".count).split(separator: " ").first.flatMap({ Int($0) })
        {
            rtcp = value
        }
        return MediaTarget(address: address, rtpPort: port, rtcpPort: rtcp)
    }
}
