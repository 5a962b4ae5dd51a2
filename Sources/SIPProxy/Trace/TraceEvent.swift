// TraceEvent: one SIP message read from or written to a socket, as handed to the trace recorder.

import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A wall-clock instant in microseconds since the UNIX epoch (the resolution of a classic pcap record header).
///
/// Encodes to JSON as a bare integer (microseconds).
public struct TraceTimestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    /// The current wall-clock time (`CLOCK_REALTIME`).
    public static func now() -> TraceTimestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return TraceTimestamp(microseconds: Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1_000)
    }

    /// Whole seconds since the epoch (floor, also for instants before 1970).
    public var seconds: Int64 {
        self.microseconds >= 0 ? self.microseconds / 1_000_000 : (self.microseconds - 999_999) / 1_000_000
    }
    /// The microseconds within the second, 0..<1_000_000.
    public var microsecondsOfSecond: Int64 { self.microseconds - self.seconds * 1_000_000 }

    public static func < (lhs: TraceTimestamp, rhs: TraceTimestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    public static func + (lhs: TraceTimestamp, microseconds: Int64) -> TraceTimestamp {
        TraceTimestamp(microseconds: lhs.microseconds + microseconds)
    }

    public init(from decoder: any Decoder) throws {
        self.microseconds = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.microseconds)
    }

    public var description: String { "\(self.seconds).\(self.microsecondsOfSecond)" }
}

/// The parsed bits of a SIP message that `TraceFilter` looks at (filled by the caller, which already parsed it).
public struct TraceSummary: Sendable, Hashable {
    /// The request method, nil for a response.
    public var method: String?
    /// The status code, nil for a request.
    public var statusCode: Int?
    /// The CSeq method (RFC 3261 §20.16): for a response, the method of the request it answers.
    public var cseqMethod: String?
    public var callID: String?
    public var fromUser: String?
    public var toUser: String?
    /// The user part of the Request-URI, nil for a response.
    public var requestUser: String?

    public init(
        method: String? = nil,
        statusCode: Int? = nil,
        cseqMethod: String? = nil,
        callID: String? = nil,
        fromUser: String? = nil,
        toUser: String? = nil,
        requestUser: String? = nil
    ) {
        self.method = method
        self.statusCode = statusCode
        self.cseqMethod = cseqMethod
        self.callID = callID
        self.fromUser = fromUser
        self.toUser = toUser
        self.requestUser = requestUser
    }
}

/// One SIP message read from or written to a socket (`kind == .message`), or the end of a TCP connection
/// (`kind == .connectionClosed`, empty payload; `direction == .sent` when the proxy closed it, `.received` when the
/// peer did), as reported by the transport layer.
public struct TraceEvent: Sendable {
    /// The transport edge's direction (`WireDirection`): the recorder keeps what the transport reports.
    public typealias Direction = WireDirection
    /// `media`: an RTP or RTCP datagram through the media relay (UDP, never parsed as SIP).
    public enum Kind: Sendable, Hashable { case message, connectionClosed, media }

    public var kind: Kind
    public var direction: Direction
    public var transport: TransportKind
    /// The sender: for `.sent`, the proxy's own socket address; for `.received`, the peer's.
    public var source: SocketAddress
    public var destination: SocketAddress
    /// The TCP connection (nil for UDP).
    public var connection: ConnectionID?
    /// When the message was read from or written to the socket (wall clock).
    public var timestamp: TraceTimestamp
    /// The SIP message bytes exactly as on the wire.
    public var payload: [UInt8]
    /// Parsed bits for the filter; nil when the caller did not parse the message (a filter on methods, users or
    /// Call-IDs then does not match it).
    public var summary: TraceSummary?

    public init(
        direction: Direction,
        transport: TransportKind,
        source: SocketAddress,
        destination: SocketAddress,
        connection: ConnectionID? = nil,
        timestamp: TraceTimestamp = .now(),
        payload: [UInt8],
        summary: TraceSummary? = nil,
        kind: Kind = .message
    ) {
        self.kind = kind
        self.direction = direction
        self.transport = transport
        self.source = source
        self.destination = destination
        self.connection = connection
        self.timestamp = timestamp
        self.payload = payload
        self.summary = summary
    }

    /// A `.connectionClosed` event for a TCP connection; `direction` tells which side closed (`.sent`: the proxy).
    public static func connectionClosed(
        direction: Direction,
        source: SocketAddress,
        destination: SocketAddress,
        connection: ConnectionID?,
        timestamp: TraceTimestamp = .now()
    ) -> TraceEvent {
        TraceEvent(
            direction: direction, transport: .tcp, source: source, destination: destination, connection: connection,
            timestamp: timestamp, payload: [], summary: nil, kind: .connectionClosed
        )
    }
}

extension TraceSummary {
    /// The filter's fields from a message's bytes; nil fields when the bytes do not parse.
    init(parsing payload: [UInt8], parser: SIPParser) {
        self.init()
        guard let message = try? parser.parse(payload, framing: .datagram) else { return }
        switch message {
        case .request(let r):
            self.method = r.method.rawValue
            self.requestUser = r.uri.user
            self.fill(r.callID, r.cseq, r.from, r.to)
        case .response(let r):
            self.statusCode = r.statusCode
            self.fill(r.callID, r.cseq, r.from, r.to)
        }
    }

    private mutating func fill(_ callID: String, _ cseq: CSeq, _ from: NameAddress, _ to: NameAddress) {
        self.callID = callID
        self.cseqMethod = cseq.method.rawValue
        self.fromUser = from.uri.user
        self.toUser = to.uri.user
    }
}
