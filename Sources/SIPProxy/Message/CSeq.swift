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

    /// `1 INVITE`: a number and a method separated by LWS (RFC 3261 §20.16). The two words are found by bytes,
    /// not by splitting into Characters (every message has a CSeq; grapheme breaking cost more than the rest).
    public static func parse<S: StringProtocol>(_ text: S) -> CSeq? {
        let value = Substring(text)
        let bytes = value.utf8
        var i = bytes.startIndex
        func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 }
        func word() -> Range<Substring.Index> {
            while i != bytes.endIndex, isSpace(bytes[i]) { i = bytes.index(after: i) }
            let start = i
            while i != bytes.endIndex, !isSpace(bytes[i]) { i = bytes.index(after: i) }
            return start..<i
        }
        let numberRange = word()
        let methodRange = word()
        while i != bytes.endIndex, isSpace(bytes[i]) { i = bytes.index(after: i) }
        guard i == bytes.endIndex, !numberRange.isEmpty, !methodRange.isEmpty,
            let number = SIPGrammar.parseNumber(value[numberRange]), SIPGrammar.isToken(value[methodRange])
        else { return nil }
        return CSeq(UInt32(number), SIPMethod(String(value[methodRange])))
    }
}
