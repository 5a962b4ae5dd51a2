// SIPMethod: a request method token (RFC 3261 §7.1, §27.4). Methods are case-sensitive.

/// A SIP request method. Extension methods are kept as written.
public struct SIPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { self.rawValue }

    public static let invite: SIPMethod = "INVITE"
    public static let ack: SIPMethod = "ACK"
    public static let bye: SIPMethod = "BYE"
    public static let cancel: SIPMethod = "CANCEL"
    public static let options: SIPMethod = "OPTIONS"
    public static let register: SIPMethod = "REGISTER"
    public static let prack: SIPMethod = "PRACK"  // RFC 3262
    public static let subscribe: SIPMethod = "SUBSCRIBE"  // RFC 6665
    public static let notify: SIPMethod = "NOTIFY"  // RFC 6665
    public static let publish: SIPMethod = "PUBLISH"  // RFC 3903
    public static let info: SIPMethod = "INFO"  // RFC 6086
    public static let refer: SIPMethod = "REFER"  // RFC 3515
    public static let message: SIPMethod = "MESSAGE"  // RFC 3428
    public static let update: SIPMethod = "UPDATE"  // RFC 3311

    /// Every method the proxy knows and routes; listed in Allow on OPTIONS answers.
    public static let known: [SIPMethod] = [
        .invite, .ack, .bye, .cancel, .options, .register, .prack, .subscribe, .notify, .publish, .info, .refer,
        .message, .update,
    ]

    public var isKnown: Bool { SIPMethod.known.contains(self) }
}
