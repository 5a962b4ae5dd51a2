// CSeq: sequence number and method (RFC 3261 §20.16, §8.1.1.5).

/// A parsed CSeq value.
public struct CSeq: Sendable, Hashable, CustomStringConvertible {
    /// The sequence number, at most 2**32-1 (RFC 4475 §3.1.2.4 rejects larger ones).
    public var number: UInt32
    public var method: SIPMethod

    public init(_ number: UInt32, _ method: SIPMethod) {
        self.number = number
        self.method = method
    }

    public var description: String { "\(self.number) \(self.method.rawValue)" }

    public static func parse<S: StringProtocol>(_ text: S) -> CSeq? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 2, let number = SIPGrammar.parseNumber(parts[0]), SIPGrammar.isToken(parts[1]) else {
            return nil
        }
        return CSeq(UInt32(number), SIPMethod(String(parts[1])))
    }
}
