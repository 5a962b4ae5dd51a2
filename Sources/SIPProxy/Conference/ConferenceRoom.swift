// ConferenceRoom: one room's participants and its 20 ms mixing clock, confined to one event loop.
//
// Every participant has an RTP port of the relay's pool. Packets are decoded (G.711, or G.722 through spandsp) into
// the participant's jitter buffer at 16 kHz (G.711 is resampled up and its mix down, so G.722 phones hear each other
// in wideband); every 20 ms the room takes a frame from each buffer, mixes (ConferenceMixer: each hears everyone but
// themselves) and sends each participant its mix, encoded in its own codec, from its port to where its packets
// come from (latching, as the relay does). The clock is a deadline schedule, not a delay after each tick, so it
// does not drift. DTMF `*6` (RFC 4733 telephone-event) mutes and unmutes the sender. A room with a PIN keeps a
// new participant apart (it hears a prompt beep, nobody hears it) until it keys the PIN. A participant whose RTP
// stops for the media timeout is expelled: the service ends its call with a BYE.

import Logging
import NIOCore
import NIOPosix

/// One participant, on the room's loop.
final class ConferenceParticipant {
    let id: Int
    let callID: String
    /// The caller's user (`alice`), for lists and logs.
    let user: String
    let port: Int
    var channel: Channel?
    var rtcpChannel: Channel?
    /// Where its SDP asks for media, and where its packets come from.
    var target: SocketAddress?
    var latched: SocketAddress?
    /// The codec it speaks, with the payload type the offer gave it, and its telephone-event type.
    let codec: RoomCodec
    var payloadType: UInt8
    var dtmfPayloadType: UInt8?
    var buffer = ConferenceRoom.jitterBuffer()
    /// G.722 or Opus state (both at the room's 16 kHz), or the resamplers between G.711's 8 kHz and the room's.
    let g722: G722Codec?
    let opus: OpusCodec?
    var up = HalfbandResampler()
    var down = HalfbandResampler()
    var muted = false
    /// Our stream towards it (RFC 3550 §5.1: random initial values).
    var sequence = UInt16.random(in: 0...UInt16.max)
    var timestamp = UInt32.random(in: 0...UInt32.max)
    let ssrc = UInt32.random(in: 1...UInt32.max)
    /// RFC 4733: the timestamp of the last event counted (an event's end is sent three times), and the digits.
    var lastEvent: UInt32?
    var digits = ""
    var received = RTPStreamStats()
    var sent: UInt64 = 0
    let joinedAt: WallClock
    /// When its last RTP packet came (or it joined): the media timeout runs from here.
    var lastHeard: NIODeadline
    let seatedAt: NIODeadline
    /// In a room with a PIN: not yet admitted, the digits keyed so far, wrong tries.
    var awaitingPIN: Bool
    var keyed = ""
    var wrongPINs = 0
    /// Expelled and waiting for the service to remove it (asked once).
    var expelled = false

    init(
        id: Int, callID: String, user: String, port: Int, codec: RoomCodec, payloadType: UInt8, dtmfPayloadType: UInt8?,
        target: SocketAddress?, awaitingPIN: Bool, now: NIODeadline
    ) {
        self.codec = codec
        self.lastHeard = now
        self.seatedAt = now
        self.g722 = codec == .g722 ? G722Codec() : nil
        self.opus = codec == .opus ? OpusCodec(sampleRate: Int32(ConferenceRoom.sampleRate)) : nil
        self.awaitingPIN = awaitingPIN
        self.id = id
        self.callID = callID
        self.user = user
        self.port = port
        self.payloadType = payloadType
        self.dtmfPayloadType = dtmfPayloadType
        self.target = target
        self.joinedAt = .now()
    }

    var destination: SocketAddress? { self.latched ?? self.target }
}

/// A room as `sipctl conference list` shows it.
public struct ConferenceInfo: Codable, Sendable, Equatable {
    public struct Participant: Codable, Sendable, Equatable {
        public var callID: String
        public var user: String
        public var codec: String
        public var muted: Bool
        public var port: Int
        public var address: String?
        public var packetsIn: UInt64
        public var packetsOut: UInt64
        public var lost: UInt64
        public var jitterMs: Double
        public var joinedAt: String
        /// Seated in a room with a PIN and not admitted yet.
        public var awaitingPIN: Bool?
    }

    /// How late the 20 ms mixing ticks ran over the last 500 (10 s): the clock's timing error.
    public struct TickTiming: Codable, Sendable, Equatable {
        public var ticks: Int
        public var p50Ms: Double
        public var p99Ms: Double
        public var maxMs: Double
    }

    public var room: String
    public var locked: Bool
    public var pin: Bool?
    public var participants: [Participant]
    public var ticks: TickTiming?
}

final class ConferenceRoom: @unchecked Sendable {
    let name: String
    let eventLoop: EventLoop
    let recorder: TraceRecorder?
    let traceRTP: MediaSettings.TraceRTP
    var logger: Logger
    /// Told when the last participant left (the service forgets the room).
    var onEmpty: (() -> Void)?
    /// Asked to end a participant's call (Call-ID, reason): no RTP for `mediaTimeout`, a wrong PIN.
    var onExpel: ((String, String) -> Void)?
    let pin: String?
    let mediaTimeout: TimeAmount
    /// Ticks since the clock started: the slow checks (timeouts) run once a second.
    private var tickCount = 0

    private(set) var participants: [Int: ConferenceParticipant] = [:]
    var locked = false
    private var nextID = 1
    private var tick: Scheduled<Void>?
    private var nextTick: NIODeadline?
    /// Chime samples still to be played to everyone.
    private var overlay: [Int16] = []
    /// How late ticks ran (for the benchmark's timing error), the last 500.
    private(set) var lateness: [Int64] = []

    /// The mix runs at 16 kHz: 320 samples per 20 ms tick. RTP timestamps advance by the codec's clock
    /// (`RoomCodec.timestampStep`): 160 for G.711 and G.722 (whose RTP clock is 8,000 Hz although it samples at
    /// 16 kHz, RFC 3551 §4.5.2), 960 for Opus (48,000 Hz, RFC 7587 §4.1).
    static let sampleRate = 16_000
    static let frame = 320
    static let interval = TimeAmount.milliseconds(20)

    static func jitterBuffer() -> JitterBuffer { JitterBuffer(frame: frame, target: 2 * frame, limit: 12 * frame) }


    /// A participant awaiting its PIN has this long to key it.
    static let pinTimeout = TimeAmount.seconds(30)
    static let pinTries = 3

    init(
        name: String, eventLoop: EventLoop, recorder: TraceRecorder?, traceRTP: MediaSettings.TraceRTP, logger: Logger,
        pin: String? = nil, mediaTimeout: TimeAmount = .seconds(60)
    ) {
        self.pin = pin
        self.mediaTimeout = mediaTimeout
        self.name = name
        self.eventLoop = eventLoop
        self.recorder = recorder
        self.traceRTP = traceRTP
        self.logger = logger
    }

    // MARK: Participants

    /// Adds a participant whose port is bound (`rtp`, `rtcp`): its sockets join the loop, a chime says so.
    func add(
        callID: String, user: String, pair: MediaPortPool.Pair, codec: RoomCodec = .pcmu, payloadType: UInt8, dtmf: UInt8?,
        target: SocketAddress?
    ) {
        let participant = ConferenceParticipant(
            id: self.nextID, callID: callID, user: user, port: pair.port, codec: codec, payloadType: payloadType,
            dtmfPayloadType: dtmf, target: target, awaitingPIN: self.pin != nil, now: .now()
        )
        self.nextID += 1
        self.participants[participant.id] = participant
        self.register(participant, socket: pair.rtp, rtcp: false)
        self.register(participant, socket: pair.rtcp, rtcp: true)
        if participant.awaitingPIN {
            self.logger.info("conference \(self.name): \(user) seated, waiting for the PIN", metadata: ["sip.call_id": "\(callID)"])
        } else {
            self.overlay = ConferenceMixer.chime(rising: true, sampleRate: Self.sampleRate)
            self.logger.info("conference \(self.name): \(user) joined (\(self.participants.count) in the room)",
                             metadata: ["sip.call_id": "\(callID)"])
        }
        self.startClock()
    }

    /// A re-INVITE moved the participant's media.
    func retarget(callID: String, target: SocketAddress?) {
        guard let participant = self.participants.values.first(where: { $0.callID == callID }) else { return }
        participant.target = target
        participant.latched = nil
    }

    /// Removes a participant (BYE, kick); returns its port for the pool. The room ends with its last participant.
    @discardableResult
    func remove(callID: String) -> Int? {
        guard let participant = self.participants.values.first(where: { $0.callID == callID }) else { return nil }
        self.participants[participant.id] = nil
        participant.channel?.close(promise: nil)
        participant.rtcpChannel?.close(promise: nil)
        self.logger.info("conference \(self.name): \(participant.user) left (\(self.participants.count) in the room)",
                         metadata: ["sip.call_id": "\(callID)"])
        if self.participants.isEmpty {
            self.tick?.cancel()
            self.tick = nil
            self.nextTick = nil
            self.onEmpty?()
        } else {
            self.overlay = ConferenceMixer.chime(rising: false, sampleRate: Self.sampleRate)
        }
        return participant.port
    }

    func setMuted(callID: String, _ muted: Bool?) -> Bool? {
        guard let participant = self.participants.values.first(where: { $0.callID == callID }) else { return nil }
        participant.muted = muted ?? !participant.muted
        return participant.muted
    }

    var info: ConferenceInfo {
        ConferenceInfo(
            room: self.name, locked: self.locked, pin: self.pin == nil ? nil : true,
            participants: self.participants.values.sorted { $0.id < $1.id }.map { p in
                ConferenceInfo.Participant(
                    callID: p.callID, user: p.user, codec: p.codec.rawValue, muted: p.muted,
                    port: p.port, address: p.destination?.hostPort, packetsIn: p.received.packets, packetsOut: p.sent,
                    lost: p.received.lost + UInt64(p.buffer.lostPackets), jitterMs: p.received.summary.jitterMs,
                    joinedAt: p.joinedAt.iso8601(in: .current), awaitingPIN: self.pin == nil ? nil : p.awaitingPIN
                )
            },
            ticks: self.tickTiming
        )
    }

    /// Percentiles of the recent ticks' lateness.
    var tickTiming: ConferenceInfo.TickTiming? {
        guard !self.lateness.isEmpty else { return nil }
        let sorted = self.lateness.map { max(0, Double($0) / 1e6) }.sorted()
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)] }
        return ConferenceInfo.TickTiming(ticks: sorted.count, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.last ?? 0)
    }

    private func register(_ participant: ConferenceParticipant, socket: NIOBSDSocket.Handle, rtcp: Bool) {
        let id = participant.id
        let bound = NIOLoopBound(participant, eventLoop: self.eventLoop)
        DatagramBootstrap(group: self.eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConferenceChannelHandler(room: self, participant: id, rtcp: rtcp))
                }
            }
            .withBoundSocket(socket)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    if self.participants[id] === bound.value {
                        if rtcp { bound.value.rtcpChannel = channel } else { bound.value.channel = channel }
                    } else {
                        channel.close(promise: nil)
                    }
                case .failure(let error):
                    self.logger.warning("conference \(self.name): port \(bound.value.port) could not be used: \(error)")
                }
            }
    }

    // MARK: Packets

    /// A datagram from a participant: RTP audio into its jitter buffer, telephone-events into its digits.
    func packet(_ envelope: AddressedEnvelope<ByteBuffer>, participant id: Int, rtcp: Bool) {
        guard let participant = self.participants[id] else { return }
        self.recorder?.recordMedia(
            envelope.data, .received, from: envelope.remoteAddress,
            to: rtcp ? participant.rtcpChannel?.localAddress : participant.channel?.localAddress, mode: self.traceRTP, rtp: !rtcp
        )
        // RTCP reports are read and dropped (the room makes its own stream); only RTP moves the latch.
        guard !rtcp else { return }
        // Latch the first RTP packet's source (symmetric RTP), as the relay does; others are ignored.
        if participant.latched == nil { participant.latched = envelope.remoteAddress }
        guard envelope.remoteAddress == participant.latched else { return }
        participant.lastHeard = .now()
        envelope.data.withUnsafeReadableBytes { bytes in
            let header = RTPHeader(bytes)
            participant.received.record(header, octets: bytes.count, arrivalNanos: Int64(NIODeadline.now().uptimeNanoseconds),
                                        clockRates: [Int(participant.payloadType): participant.codec.clockRate])
            guard let header else { return }
            // Past the fixed header: CSRCs (CC) and an extension (X) come first (RFC 3550 §5.1, §5.3.1).
            var offset = 12 + Int(bytes[0] & 0x0F) * 4
            if bytes[0] & 0x10 != 0, bytes.count >= offset + 4 {
                offset += 4 + (Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])) * 4
            }
            var end = bytes.count
            if bytes[0] & 0x20 != 0, let padding = bytes.last { end -= Int(padding) }  // RFC 3550 §5.1 padding
            guard offset <= end else { return }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[offset..<end])
            if header.payloadType == participant.dtmfPayloadType {
                self.telephoneEvent(payload, timestamp: header.timestamp, participant)
            } else if header.payloadType == participant.payloadType {
                if let g722 = participant.g722 {
                    participant.buffer.push(sequence: header.sequence, g722.decode(payload))
                } else if let opus = participant.opus {
                    participant.buffer.push(sequence: header.sequence, opus.decode(payload))
                } else if participant.codec == .pcmu || participant.codec == .pcma {
                    let table = participant.codec == .pcma ? G711.alawTable : G711.ulawTable
                    participant.buffer.push(sequence: header.sequence, participant.up.up(payload.map { table[Int($0)] }))
                }
            }
        }
    }

    /// RFC 4733 §2.3: event, E bit, volume, duration. A digit counts once, at its end; `*6` toggles mute.
    private func telephoneEvent(_ payload: UnsafeRawBufferPointer, timestamp: UInt32, _ participant: ConferenceParticipant) {
        guard payload.count >= 4, payload[1] & 0x80 != 0, participant.lastEvent != timestamp else { return }
        participant.lastEvent = timestamp
        let event = Int(payload[0])
        let digit: Character = event <= 9 ? Character(String(event)) : event == 10 ? "*" : event == 11 ? "#" : "?"
        if participant.awaitingPIN {
            self.keyed(digit, participant)
            return
        }
        participant.digits = String((participant.digits + String(digit)).suffix(2))
        if participant.digits == "*6" {
            participant.muted.toggle()
            participant.digits = ""
            self.logger.info("conference \(self.name): \(participant.user) \(participant.muted ? "muted" : "unmuted") (*6)",
                             metadata: ["sip.call_id": "\(participant.callID)"])
        }
    }

    /// A digit towards the PIN: admitted as soon as the keyed digits end with the PIN (`#` is optional); `#` or a
    /// PIN-long wrong entry counts as a wrong try.
    private func keyed(_ digit: Character, _ participant: ConferenceParticipant) {
        guard let pin = self.pin, !participant.expelled else { return }
        if digit != "#" { participant.keyed.append(digit) }
        if participant.keyed.hasSuffix(pin) {
            participant.awaitingPIN = false
            participant.keyed = ""
            participant.buffer = Self.jitterBuffer()
            self.overlay = ConferenceMixer.chime(rising: true, sampleRate: Self.sampleRate)
            self.logger.info("conference \(self.name): \(participant.user) keyed the PIN and joined (\(self.participants.count) in the room)",
                             metadata: ["sip.call_id": "\(participant.callID)"])
            return
        }
        guard digit == "#" || participant.keyed.count >= pin.count else { return }
        participant.keyed = ""
        participant.wrongPINs += 1
        self.logger.info("conference \(self.name): \(participant.user) keyed a wrong PIN (\(participant.wrongPINs) of \(Self.pinTries))",
                         metadata: ["sip.call_id": "\(participant.callID)"])
        if participant.wrongPINs >= Self.pinTries { self.expel(participant, "wrong PIN \(Self.pinTries) times") }
    }

    private func expel(_ participant: ConferenceParticipant, _ reason: String) {
        guard !participant.expelled else { return }
        participant.expelled = true
        self.onExpel?(participant.callID, reason)
    }

    /// Once a second: participants silent for the media timeout, and those that did not key the PIN in time.
    private func checkTimeouts(now: NIODeadline) {
        for participant in self.participants.values where !participant.expelled {
            if now - participant.lastHeard > self.mediaTimeout {
                self.expel(participant, "no RTP for \(self.mediaTimeout.nanoseconds / 1_000_000_000) s")
            } else if participant.awaitingPIN, now - participant.seatedAt > Self.pinTimeout {
                self.expel(participant, "no PIN within \(Self.pinTimeout.nanoseconds / 1_000_000_000) s")
            }
        }
    }

    // MARK: The clock

    private func startClock() {
        guard self.tick == nil else { return }
        let first = NIODeadline.now() + Self.interval
        self.nextTick = first
        self.schedule(first)
    }

    private func schedule(_ deadline: NIODeadline) {
        self.tick = self.eventLoop.scheduleTask(deadline: deadline) { [weak self] in self?.run(deadline) }
    }

    /// One tick, then the next at a fixed 20 ms step from the first (a late tick does not move the ones after it;
    /// after a stall of more than 100 ms the clock starts again from now instead of catching up in a burst).
    private func run(_ deadline: NIODeadline) {
        let now = NIODeadline.now()
        self.lateness.append(Int64(now.uptimeNanoseconds) - Int64(deadline.uptimeNanoseconds))
        if self.lateness.count > 500 { self.lateness.removeFirst(self.lateness.count - 500) }
        self.mixOnce()
        self.tickCount &+= 1
        if self.tickCount % 50 == 0 { self.checkTimeouts(now: now) }
        guard !self.participants.isEmpty else { return }
        var next = deadline + Self.interval
        if now - next > .milliseconds(100) { next = now + Self.interval }
        self.nextTick = next
        self.schedule(next)
    }

    /// Takes a frame from everyone, mixes, and sends each participant its mix.
    func mixOnce() {
        let ordered = self.participants.values.sorted { $0.id < $1.id }
        // Someone still keying the PIN is heard by nobody, and hears a prompt instead of the room.
        let inputs = ordered.map { ConferenceMixer.Input(id: $0.id, frame: $0.buffer.pop(), muted: $0.muted || $0.awaitingPIN) }
        var overlay: [Int16]?
        if !self.overlay.isEmpty {
            overlay = Array(self.overlay.prefix(Self.frame))
            self.overlay.removeFirst(min(Self.frame, self.overlay.count))
        }
        var mixed = ConferenceMixer.mix(inputs, overlay: overlay, frame: Self.frame)
        for participant in ordered where participant.awaitingPIN {
            mixed[participant.id] = ConferenceMixer.prompt(tick: self.tickCount, frame: Self.frame, sampleRate: Self.sampleRate)
        }
        for participant in ordered {
            guard let frame = mixed[participant.id], let channel = participant.channel,
                let destination = participant.destination
            else { continue }
            var buffer = channel.allocator.buffer(capacity: 12 + Self.frame / 2)
            buffer.writeInteger(UInt8(0x80))
            buffer.writeInteger(participant.payloadType)
            buffer.writeInteger(participant.sequence)
            buffer.writeInteger(participant.timestamp)
            buffer.writeInteger(participant.ssrc)
            if let g722 = participant.g722 {
                buffer.writeBytes(g722.encode(frame))
            } else if let opus = participant.opus {
                buffer.writeBytes(opus.encode(frame))
            } else if participant.codec == .pcma {
                for sample in participant.down.down(frame) { buffer.writeInteger(G711.alaw(sample)) }
            } else {
                for sample in participant.down.down(frame) { buffer.writeInteger(G711.ulaw(sample)) }
            }
            participant.sequence &+= 1
            participant.timestamp &+= participant.codec.timestampStep
            participant.sent += 1
            self.recorder?.recordMedia(buffer, .sent, from: channel.localAddress, to: destination, mode: self.traceRTP, rtp: true)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: destination, data: buffer), promise: nil)
        }
    }
}

/// Reads a participant's socket for its room.
final class ConferenceChannelHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let room: ConferenceRoom
    private let participant: Int
    private let rtcp: Bool

    init(room: ConferenceRoom, participant: Int, rtcp: Bool) {
        self.room = room
        self.participant = participant
        self.rtcp = rtcp
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.room.packet(self.unwrapInboundIn(data), participant: self.participant, rtcp: self.rtcp)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // An ICMP error from a phone that went away must not close the port (as in the relay).
    }
}
