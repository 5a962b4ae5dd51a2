// DNSMessage: the RFC 1035 §4.1 wire format, by hand (no library in the offline list does DNS): queries out,
// answers in. Decoding takes any bytes a socket hands over and never traps: every length is checked against the
// message, and compressed names (§4.1.4) may only point backwards, so a pointer loop cannot happen.
//
//     +---------------------+
//     |        Header       |  id, flags (QR, opcode, AA, TC, RD, RA, RCODE), four counts
//     +---------------------+
//     |       Question      |  the question for the name server
//     +---------------------+
//     |        Answer       |  RRs answering the question
//     +---------------------+
//     |      Authority      |  RRs pointing toward an authority (the SOA of a negative answer, RFC 2308 §3)
//     +---------------------+
//     |      Additional     |  RRs holding additional information (SRV targets' addresses)
//     +---------------------+

/// A decoded DNS message (answers only need reading; queries only need writing).
public struct DNSMessage: Sendable, Equatable {
    public var id: UInt16
    /// QR: this is a response.
    public var isResponse: Bool
    /// TC: the answer did not fit the datagram (§4.1.1); the query is repeated over TCP (RFC 7766 §5).
    public var isTruncated: Bool
    /// RCODE (§4.1.1): 0 no error, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED.
    public var rcode: UInt8
    public var questions: [DNSQuestion]
    public var answers: [DNSRecord]
    public var authority: [DNSRecord]
    public var additional: [DNSRecord]

    public static let noError: UInt8 = 0
    public static let nameError: UInt8 = 3

    /// A datagram larger than this is not accepted from a UDP server: RFC 1035 §4.2.1 limits UDP answers to 512
    /// octets without EDNS, which we do not send; some servers still send more, so the IP limit is the bound.
    public static let maxDatagram = 65_535
    /// Records in one message: more than any sane answer, few enough that a hostile one costs little.
    static let maxRecords = 256

    // MARK: Encoding

    /// A standard query (opcode 0) with RD set (§4.1.1: a stub resolver asks for recursion), one question.
    public static func query(id: UInt16, _ question: DNSQuestion) throws(DNSError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(12 + question.name.utf8.count + 6)
        Self.append16(id, to: &bytes)
        Self.append16(0x0100, to: &bytes)  // RD
        Self.append16(1, to: &bytes)  // QDCOUNT
        Self.append16(0, to: &bytes)
        Self.append16(0, to: &bytes)
        Self.append16(0, to: &bytes)
        try Self.appendName(question.name, to: &bytes)
        Self.append16(question.type.rawValue, to: &bytes)
        Self.append16(1, to: &bytes)  // class IN
        return bytes
    }

    /// A name as labels (§3.1), without compression: every label 1-63 octets, the whole at most 255.
    static func appendName(_ name: String, to bytes: inout [UInt8]) throws(DNSError) {
        let start = bytes.count
        if !name.isEmpty {
            for label in name.split(separator: ".", omittingEmptySubsequences: false) {
                let utf8 = Array(label.utf8)
                guard !utf8.isEmpty, utf8.count <= 63 else { throw DNSError(.badQuery, "bad label in '\(name)'") }
                bytes.append(UInt8(utf8.count))
                bytes += utf8
            }
        }
        bytes.append(0)
        guard bytes.count - start <= 255 else { throw DNSError(.badQuery, "name too long") }
    }

    static func append16(_ value: UInt16, to bytes: inout [UInt8]) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xff))
    }

    // MARK: Matching

    /// Whether this message answers the query with `id` and `question` (RFC 5452 §4.3: id, question name, type and
    /// class must all match, or the datagram is someone else's — or a forgery).
    public func answers(id: UInt16, _ question: DNSQuestion) -> Bool {
        self.isResponse && self.id == id && self.questions.count == 1 && self.questions[0] == question
    }
}
