// ConferenceService: the proxy's conference rooms (`--conference 800`), shared by every shard.
//
// A call to a room is answered by the proxy itself (ProxyCore+Conference): the shard that owns the call asks the
// service to seat the caller, and gets the SDP answer at once (the port is bound synchronously by the media port
// pool). The room itself runs on one event loop chosen by its name, so its participants' sockets and its mixing
// clock share a thread whatever shards their calls are on.

import Logging
import NIOCore
import Synchronization

public struct ConferenceSettings: Sendable, Equatable {
    /// Room numbers (`800`), i.e. the user parts that reach a room.
    public var rooms: Set<String> = []
    /// Participants per room, and in all rooms (answered 486 and 503 beyond; `--conference-size`,
    /// `--conference-participants`). The total bounds the mixing work of the loops and the ports rooms take.
    public var maxRoomSize = 30
    public var maxParticipants = 200
    public static let roomSizeRange = 2...1000
    public static let participantsRange = 2...10_000
    /// Rooms that ask for a PIN (`--conference 801:4321`): a caller is seated but neither hears nor is heard until
    /// it has keyed the PIN (RFC 4733 digits, `#` optional); three wrong tries or 30 s end its call.
    public var pins: [String: String] = [:]
    /// A participant that sends no RTP for this long is taken out of the room and its call ended with a BYE
    /// (a phone that crashed or lost its network sends no BYE; `--media-timeout`).
    public var mediaTimeout: TimeAmount = .seconds(60)
    /// The conference factory (RFC 4579 §5.1, `--conference-factory conf`): each INVITE to `sip:conf@proxy` opens a
    /// new room, `conf-1`, `conf-2`, ..., whose URI the 2xx's Contact gives; the phone then REFERs others to it.
    public var factory: String?

    public init() {}

    /// Whether the proxy hosts any room (fixed, or opened by the factory).
    public var hostsRooms: Bool { !self.rooms.isEmpty || self.factory != nil }

    /// Adds a room from `800` or `801:4321` (room and PIN) as `--conference` and `conferences:` write it; false when the
    /// text is neither.
    public mutating func add(_ text: String) -> Bool {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        return self.add(room: parts[0], pin: parts.count == 2 ? parts[1] : nil)
    }

    /// Adds a room by name with an optional PIN (the `{name: "801", pin: "4321"}` form of `conferences:`); false
    /// when either is malformed.
    public mutating func add(room: String, pin: String?) -> Bool {
        guard Self.isRoomName(room) else { return false }
        if let pin {
            // A PIN is what a phone's keypad can send: digits, * (not #, which ends the PIN), 1 to 16 of them.
            guard (1...16).contains(pin.count), pin.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "*") }) else { return false }
            self.pins[room] = pin
        }
        self.rooms.insert(room)
        return true
    }

    /// A room name is a Request-URI user part without escaping: letters, digits, `-`, `_`, `.`.
    public static func isRoomName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
    }
}

public final class ConferenceService: Sendable {
    /// Why a caller was not seated, with the status the proxy answers.
    public enum Refusal: Error, Equatable {
        /// 486 Busy Here: the room is full or locked.
        case full
        /// 503: all rooms together are full, or the port range is used up.
        case unavailable
        /// 488 Not Acceptable Here: no audio line with PCMU, PCMA, G.722 or Opus in the offer (RFC 3264 §6).
        case notAcceptable

        public var status: Int {
            switch self {
            case .full: 486
            case .unavailable: 503
            case .notAcceptable: 488
            }
        }
    }

    struct Seat: Sendable {
        var room: String
        var port: Int
        /// The session version of our SDP (RFC 4566 §5.2), raised for each new answer.
        var version: UInt64
        var sessionID: UInt64
        var codec: RoomCodec
        var payloadType: UInt8
        var dtmf: UInt8?
        /// Ends the leg's call from the room's side (a BYE from the shard that answered it): kick, media timeout,
        /// wrong PIN. Set once the 2xx is sent.
        var hangUp: (@Sendable (_ reason: String) -> Void)?
    }

    struct State {
        var rooms: [String: ConferenceRoom] = [:]
        var seats: [String: Seat] = [:]
        var counts: [String: Int] = [:]
        var locked: Set<String> = []
        /// Rooms the factory opened, which live while someone is in them.
        var adHoc: Set<String> = []
        var adHocCounter = 0
        /// The room's own offers for legs it calls out (a REFER to the room), by the INVITE's Call-ID: each holds
        /// a seat and its port until the answer or the failure.
        var offers: [String: PendingOffer] = [:]

        /// Seats taken in `room`, counting offers that wait for their answer.
        func occupied(_ room: String) -> Int {
            self.counts[room, default: 0] + self.offers.values.lazy.filter { $0.room == room }.count
        }
    }

    /// An offer the room made (RFC 3264 §5) and the port it reserved for it.
    struct PendingOffer {
        var room: String
        var pair: MediaPortPool.Pair
        var sessionID: UInt64
        var sdp: SDPDocument
    }

    public let settings: ConferenceSettings
    let loops: [EventLoop]
    let pool: MediaPortPool
    let sdpAddress: String
    let recorder: TraceRecorder?
    let traceRTP: MediaSettings.TraceRTP
    let logger: Logger
    private let state = Mutex(State())

    public init(
        settings: ConferenceSettings, loops: [EventLoop], pool: MediaPortPool, sdpAddress: String,
        recorder: TraceRecorder?, traceRTP: MediaSettings.TraceRTP, logger: Logger
    ) {
        self.settings = settings
        self.loops = loops
        self.pool = pool
        self.sdpAddress = sdpAddress
        self.recorder = recorder
        self.traceRTP = traceRTP
        self.logger = logger
    }

    /// Whether a Request-URI user names a room.
    public func isRoom(_ user: String?) -> Bool {
        guard let user else { return false }
        return self.settings.rooms.contains(user) || user == self.settings.factory
            || self.state.withLock { $0.adHoc.contains(user) }
    }

    /// Whether a Request-URI user is the conference factory.
    public func isFactory(_ user: String?) -> Bool { user != nil && user == self.settings.factory }

    /// Opens a new ad-hoc room (RFC 4579 §5.2) and returns its name; it ends with its last participant, or at once
    /// when nobody could be seated in it (`forget`).
    public func openAdHocRoom() -> String {
        self.state.withLock { state in
            var name: String
            repeat {
                state.adHocCounter += 1
                name = "\(self.settings.factory ?? "conf")-\(state.adHocCounter)"
            } while self.settings.rooms.contains(name) || state.adHoc.contains(name)
            state.adHoc.insert(name)
            return name
        }
    }

    /// An ad-hoc room nobody is in any more is forgotten.
    public func forgetIfEmpty(_ room: String) {
        self.state.withLock { state in
            if state.adHoc.contains(room), state.counts[room, default: 0] == 0, state.rooms[room] == nil { state.adHoc.remove(room) }
        }
    }

    /// Whether the call is seated in a room (a re-INVITE or BYE then belongs to the room).
    public func isSeated(_ callID: String) -> Bool { self.state.withLock { $0.seats[callID] != nil } }

    /// Seats the caller of an INVITE with `offer` in `room`, or refreshes its seat for a re-INVITE; returns the SDP
    /// answer.
    public func join(room: String, callID: String, user: String, offer: [UInt8]) -> Result<[UInt8], Refusal> {
        guard let sdp = SDPDocument(offer), let audio = sdp.media.firstIndex(where: { section in
            // Plain RTP only: the room cannot do SRTP (SAVP) keys or DTLS.
            section.media == "audio" && section.port != 0 && (section.proto == "RTP/AVP" || section.proto == "RTP/AVPF")
                && RoomCodec.choose(formats: section.formats, lines: section.lines) != nil
        }), let (codec, payloadType, dtmf) = RoomCodec.choose(formats: sdp.media[audio].formats, lines: sdp.media[audio].lines)
        else { return .failure(.notAcceptable) }
        let target = MediaSession.target(sdp, audio).flatMap { try? SocketAddress(ipAddress: $0.address, port: $0.rtpPort) }

        // A re-INVITE of a seated participant: the same port, its new address.
        if let existing = self.state.withLock({ state -> Seat? in
            guard var seat = state.seats[callID] else { return nil }
            seat.version += 1
            state.seats[callID] = seat
            return seat
        }) {
            if let room = self.state.withLock({ $0.rooms[existing.room] }) {
                room.eventLoop.execute { room.retarget(callID: callID, target: target) }
            }
            return .success(self.answer(sdp, audio: audio, seat: existing))
        }

        if let refusal = self.admission(room) { return .failure(refusal) }
        guard let pair = self.pool.allocate() else { return .failure(.unavailable) }
        let seat = Seat(room: room, port: pair.port, version: 1, sessionID: UInt64.random(in: 1...UInt64(Int64.max)),
                        codec: codec, payloadType: payloadType, dtmf: dtmf)
        if let refusal = self.seat(seat, callID: callID, user: user, pair: pair, target: target) {
            Self.close(pair)
            self.pool.release(pair.port)
            return .failure(refusal)
        }
        return .success(self.answer(sdp, audio: audio, seat: seat))
    }

    /// Whether one more participant may enter `room`: 486 when it is locked or full, 503 when all rooms together
    /// hold the participant limit (`--conference-participants`).
    private func admission(_ room: String) -> Refusal? {
        self.state.withLock { state in self.refusal(room, in: state) }
    }

    /// The admission rule, for a caller holding the lock: checked again where the seat or offer is recorded, in
    /// the same hold, so shards admitting at once cannot together pass a limit.
    private func refusal(_ room: String, in state: State) -> Refusal? {
        if state.locked.contains(room) || state.occupied(room) >= self.settings.maxRoomSize { return .full }
        if state.seats.count + state.offers.count >= self.settings.maxParticipants { return .unavailable }
        return nil
    }

    /// Records the seat and adds the participant to its room (made on the room's loop when it is the first).
    /// Returns the refusal, recording nothing, when the room filled meanwhile; a seat that an offer of the room
    /// held (`fromOffer`) takes that offer's place instead.
    @discardableResult
    private func seat(
        _ seat: Seat, callID: String, user: String, pair: MediaPortPool.Pair, target: SocketAddress?,
        fromOffer: Bool = false
    ) -> Refusal? {
        let room = seat.room
        let (codec, payloadType, dtmf) = (seat.codec, seat.payloadType, seat.dtmf)
        let admitted = self.state.withLock { state -> Result<ConferenceRoom, Refusal> in
            if fromOffer {
                state.offers.removeValue(forKey: callID)
            } else if let refusal = self.refusal(room, in: state) {
                return .failure(refusal)
            }
            state.seats[callID] = seat
            state.counts[room, default: 0] += 1
            if let existing = state.rooms[room] { return .success(existing) }
            let loop = self.loops[Int(UInt(bitPattern: room.hashValue) % UInt(max(1, self.loops.count)))]
            let created = ConferenceRoom(name: room, eventLoop: loop, recorder: self.recorder, traceRTP: self.traceRTP,
                                         logger: self.logger, pin: self.settings.pins[room],
                                         mediaTimeout: self.settings.mediaTimeout)
            created.onExpel = { [weak self] callID, reason in self?.expel(callID: callID, reason: reason) }
            created.onEmpty = { [weak self, weak created] in
                guard let self, let created else { return }
                self.state.withLock { state in
                    if state.rooms[room] === created, state.counts[room, default: 0] == 0 {
                        state.rooms[room] = nil
                        state.adHoc.remove(room)
                    }
                }
            }
            state.rooms[room] = created
            return .success(created)
        }
        let conference: ConferenceRoom
        switch admitted {
        case .success(let room): conference = room
        case .failure(let refusal): return refusal
        }
        conference.eventLoop.execute {
            conference.add(callID: callID, user: user, pair: pair, codec: codec, payloadType: payloadType, dtmf: dtmf, target: target)
        }
        return nil
    }

    // MARK: Calling a party into the room (RFC 4579 §5.5)

    /// The room's SDP offer for an INVITE it sends itself (a REFER asked it to bring someone in): a port is
    /// reserved and the seat held until `accept` or `withdraw`. 486/503 as for a caller when there is no room.
    public func offer(room: String, callID: String) -> Result<[UInt8], Refusal> {
        if let refusal = self.admission(room) { return .failure(refusal) }
        guard let pair = self.pool.allocate() else { return .failure(.unavailable) }
        let sessionID = UInt64.random(in: 1...UInt64(Int64.max))
        let bytes = self.offerSDP(room: room, port: pair.port, sessionID: sessionID)
        guard let sdp = SDPDocument(bytes) else {
            Self.close(pair)
            self.pool.release(pair.port)
            return .failure(.unavailable)
        }
        let refused = self.state.withLock { state -> Refusal? in
            if let refusal = self.refusal(room, in: state) { return refusal }
            state.offers[callID] = PendingOffer(room: room, pair: pair, sessionID: sessionID, sdp: sdp)
            return nil
        }
        if let refused {
            Self.close(pair)
            self.pool.release(pair.port)
            return .failure(refused)
        }
        return .success(bytes)
    }

    /// The answer to the room's offer came (RFC 3264 §7): the party is seated with the first of the answer's
    /// formats the room speaks. 488 when it has none (the caller then ends the call: the port is given back).
    public func accept(callID: String, user: String, answer: [UInt8]) -> Result<Void, Refusal> {
        guard let pending = self.state.withLock({ $0.offers[callID] }) else { return .failure(.unavailable) }
        // The answer's formats are a subset of the offer's, with the same payload types (RFC 3264 §6.1); a dynamic
        // one whose rtpmap the answer leaves out is read from our own offer.
        let offered = pending.sdp.media.first?.lines.filter { $0.lowercased().hasPrefix("a=rtpmap:") } ?? []
        guard let sdp = SDPDocument(answer), let audio = sdp.media.firstIndex(where: { section in
            section.media == "audio" && section.port != 0 && (section.proto == "RTP/AVP" || section.proto == "RTP/AVPF")
        }), let (codec, payloadType, dtmf) = RoomCodec.choose(formats: sdp.media[audio].formats,
                                                              lines: offered + sdp.media[audio].lines)
        else {
            self.withdraw(callID: callID)
            return .failure(.notAcceptable)
        }
        let target = MediaSession.target(sdp, audio).flatMap { try? SocketAddress(ipAddress: $0.address, port: $0.rtpPort) }
        let seat = Seat(room: pending.room, port: pending.pair.port, version: 1, sessionID: pending.sessionID, codec: codec,
                        payloadType: payloadType, dtmf: dtmf)
        // The offer held this seat: it becomes the participant's in the same hold of the lock.
        self.seat(seat, callID: callID, user: user, pair: pending.pair, target: target, fromOffer: true)
        return .success(())
    }

    /// The call the room offered failed: its port goes back to the pool.
    public func withdraw(callID: String) {
        guard let pending = self.state.withLock({ $0.offers.removeValue(forKey: callID) }) else { return }
        Self.close(pending.pair)
        self.pool.release(pending.pair.port)
    }

    /// A reserved pair's sockets, which no channel took over.
    private static func close(_ pair: MediaPortPool.Pair) {
        MediaPortPool.closeSocket(pair.rtp)
        MediaPortPool.closeSocket(pair.rtcp)
    }

    /// The formats the room offers, in its order of preference: G.722 first (the room mixes at 16 kHz), then
    /// G.711 (every phone has it), Opus last (the costliest to encode per participant).
    static let offeredFormats: [(codec: RoomCodec, payloadType: UInt8)] = [(.g722, 9), (.pcmu, 0), (.pcma, 8), (.opus, 111)]
    /// telephone-event at each clock rate offered (RFC 4733 §7.1.1: events use the audio codec's clock).
    static let offeredEvents: [(clockRate: Int, payloadType: UInt8)] = [(8_000, 101), (48_000, 102)]

    /// The room's offer (RFC 3264 §5): one audio line with its codecs and telephone-event, sendrecv, 20 ms.
    func offerSDP(room: String, port: Int, sessionID: UInt64) -> [UInt8] {
        let ipType = self.sdpAddress.contains(":") ? "IP6" : "IP4"
        let formats = Self.offeredFormats.map { String($0.payloadType) } + Self.offeredEvents.map { String($0.payloadType) }
        var lines = [
            "v=0", "o=SIPProxy \(sessionID) 1 IN \(ipType) \(self.sdpAddress)", "s=SIPProxy conference \(room)",
            "c=IN \(ipType) \(self.sdpAddress)", "t=0 0", "m=audio \(port) RTP/AVP \(formats.joined(separator: " "))",
        ]
        for (codec, payloadType) in Self.offeredFormats {
            lines.append("a=rtpmap:\(payloadType) \(codec.rtpmap)")
            // RFC 7587 §7: the room sends and prefers mono.
            if codec == .opus { lines.append("a=fmtp:\(payloadType) stereo=0;sprop-stereo=0") }
        }
        for (clockRate, payloadType) in Self.offeredEvents {
            lines.append("a=rtpmap:\(payloadType) telephone-event/\(clockRate)")
            lines.append("a=fmtp:\(payloadType) 0-15")
        }
        lines += ["a=ptime:20", "a=sendrecv"]
        return Array((lines.joined(separator: "\r\n") + "\r\n").utf8)
    }

    /// The shard that answered the leg tells how to end its call from the room's side.
    public func attach(callID: String, hangUp: @escaping @Sendable (_ reason: String) -> Void) {
        self.state.withLock { state in state.seats[callID]?.hangUp = hangUp }
    }

    /// Takes a participant out and ends its call with a BYE (`sipctl conference kick`, no RTP for the media
    /// timeout, a wrong PIN).
    func expel(callID: String, reason: String) {
        let hangUp = self.state.withLock { $0.seats[callID]?.hangUp }
        self.logger.info("conference: ending \(callID): \(reason)", metadata: ["sip.call_id": "\(callID)"])
        hangUp?(reason)
        self.leave(callID: callID)
    }

    /// `sipctl conference kick ROOM PARTICIPANT` (Call-ID or user): whether someone was taken out.
    public func kick(room: String, participant: String, on eventLoop: EventLoop) -> EventLoopFuture<Bool> {
        guard let conference = self.state.withLock({ $0.rooms[room] }) else { return eventLoop.makeSucceededFuture(false) }
        return conference.eventLoop.submit { () -> String? in
            conference.info.participants.first { $0.callID == participant || $0.user == participant }?.callID
        }.map { callID in
            guard let callID else { return false }
            self.expel(callID: callID, reason: "removed from room \(room) by the operator")
            return true
        }.hop(to: eventLoop)
    }

    /// The participant hung up (or was removed): its port goes back to the pool once its sockets are closed.
    public func leave(callID: String) {
        guard let (seat, room) = self.state.withLock({ state -> (Seat, ConferenceRoom?)? in
            guard let seat = state.seats.removeValue(forKey: callID) else { return nil }
            state.counts[seat.room, default: 1] -= 1
            return (seat, state.rooms[seat.room])
        }) else { return }
        guard let room else {
            self.pool.release(seat.port)
            return
        }
        room.eventLoop.execute {
            room.remove(callID: callID)
            self.pool.release(seat.port)
        }
    }

    /// Every active room, each read on its own loop.
    public func list(on eventLoop: EventLoop) -> EventLoopFuture<[ConferenceInfo]> {
        let rooms = self.state.withLock { Array($0.rooms.values) }
        let infos = rooms.map { room in room.eventLoop.submit { room.info } }
        return EventLoopFuture.whenAllSucceed(infos, on: eventLoop).map { $0.sorted { $0.room < $1.room } }
    }

    /// Mutes or unmutes (nil: toggles) a participant by Call-ID or user; returns whether it is muted now.
    public func mute(room: String, participant: String, _ muted: Bool?, on eventLoop: EventLoop) -> EventLoopFuture<Bool?> {
        guard let conference = self.state.withLock({ $0.rooms[room] }) else { return eventLoop.makeSucceededFuture(nil) }
        return conference.eventLoop.submit {
            let callID = conference.info.participants.first { $0.callID == participant || $0.user == participant }?.callID
            return callID.flatMap { conference.setMuted(callID: $0, muted) }
        }.hop(to: eventLoop)
    }

    /// Locks or unlocks a room: a locked room answers new callers 486.
    public func lock(room: String, _ locked: Bool) {
        self.state.withLock { state in
            if locked { state.locked.insert(room) } else { state.locked.remove(room) }
        }
        if let conference = self.state.withLock({ $0.rooms[room] }) {
            conference.eventLoop.execute { conference.locked = locked }
        }
    }

    /// Our SDP answer (RFC 3264 §6): one line per offered line, in order; the chosen audio line gets our port,
    /// its codec and telephone-event; every other line is refused with port 0 (video, a second audio line).
    func answer(_ offer: SDPDocument, audio: Int, seat: Seat) -> [UInt8] {
        let ipType = self.sdpAddress.contains(":") ? "IP6" : "IP4"
        var lines = [
            "v=0", "o=SIPProxy \(seat.sessionID) \(seat.version) IN \(ipType) \(self.sdpAddress)",
            "s=SIPProxy conference \(seat.room)", "c=IN \(ipType) \(self.sdpAddress)", "t=0 0",
        ]
        for (index, section) in offer.media.enumerated() {
            guard index == audio else {
                lines.append((["m=\(section.media)", "0", section.proto] + section.formats).joined(separator: " "))
                continue
            }
            lines.append("m=audio \(seat.port) RTP/AVP \(seat.payloadType)" + (seat.dtmf.map { " \($0)" } ?? ""))
            lines.append("a=rtpmap:\(seat.payloadType) \(seat.codec.rtpmap)")
            // RFC 7587 §7: the room sends and prefers mono.
            if seat.codec == .opus { lines.append("a=fmtp:\(seat.payloadType) stereo=0;sprop-stereo=0") }
            if let dtmf = seat.dtmf {
                lines.append("a=rtpmap:\(dtmf) telephone-event/\(seat.codec.clockRate)")
                lines.append("a=fmtp:\(dtmf) 0-15")
            }
            lines.append("a=ptime:20")
            lines.append("a=sendrecv")
        }
        return Array((lines.joined(separator: "\r\n") + "\r\n").utf8)
    }
}
