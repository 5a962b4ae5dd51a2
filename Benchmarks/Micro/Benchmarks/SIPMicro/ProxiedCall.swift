// ProxiedCall: alice calls bob through the real proxy core (ProxyBenchmarkHarness), as in RFC 3261 §24.2 with our
// proxy in the biloxi.com proxy's place: bob registers first, then each call is F1's INVITE from alice, and bob's
// 180 and 200 back.
//
// Every INVITE gets its own branch and Call-ID (digits written over the tail of F1's, so every message has F1's
// length), so calls never match each other's transactions. Bob answers the way a UAS does (§8.2.6.2, §12.1.1):
// his responses copy the forwarded INVITE's Vias, Record-Routes, From, Call-ID and CSeq and tag the To. They are
// built by copying bytes into buffers kept from one call to the next: the benchmark itself allocates nothing
// per call, so the allocations counted are the proxy's.

import NIOCore
import SIPProxy

final class ProxiedCall {
    static let proxy = try! SocketAddress(ipAddress: "127.0.0.10", port: 5060)
    static let alice = try! SocketAddress(ipAddress: "127.0.0.11", port: 5060)
    static let bob = try! SocketAddress(ipAddress: "127.0.0.12", port: 5060)

    /// Why the core did not do what a proxy does; the benchmark reports it instead of a figure.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let harness: ProxyBenchmarkHarness
    private var invite = Messages.invite
    /// Where the digits of the call number go: the tail of F1's branch and of its Call-ID.
    private let branchDigits: Range<Int>
    private let callIDDigits: Range<Int>
    private var response: [UInt8] = []

    /// A proxy for biloxi.com with bob registered (the Linphone REGISTER, answered 200).
    init() throws {
        self.harness = try ProxyBenchmarkHarness(address: Self.proxy) { $0.domains = ["biloxi.com"] }
        self.branchDigits = try Self.digits(before: "\r\n", after: "branch=z9hG4bK", in: self.invite)
        self.callIDDigits = try Self.digits(before: "\r\n", after: "Call-ID: ", in: self.invite)
        self.response.reserveCapacity(2048)
        self.harness.receive(Messages.register, from: Self.bob)
        guard self.harness.sent.count == 1, self.harness.sent[0].destination == Self.bob else {
            throw Failure(description: "REGISTER: expected one response to bob, got \(Self.describe(self.harness.sent))")
        }
        self.harness.removeAllSent()
    }

    /// Alice's INVITE number `number` in; the proxy's 100 Trying to alice and forwarded INVITE to bob out (§16.2,
    /// §16.6). Returns the forwarded INVITE.
    @discardableResult
    func sendInvite(_ number: Int) throws -> ByteBuffer {
        Self.write(number, into: &self.invite, at: self.branchDigits)
        Self.write(number, into: &self.invite, at: self.callIDDigits)
        self.harness.receive(self.invite, from: Self.alice)
        // `harness.sent` is read afresh each time and never held, so that removeAllSent() finds its storage unshared
        // and keeps it (holding a copy would make it allocate new storage).
        guard self.harness.sent.count == 2, self.harness.sent[0].destination == Self.alice,
            self.harness.sent[1].destination == Self.bob
        else {
            throw Failure(description: "INVITE \(number): expected 100 to alice and INVITE to bob, got \(Self.describe(self.harness.sent))")
        }
        let forwarded = self.harness.sent[1].bytes
        self.harness.removeAllSent()
        return forwarded
    }

    /// Bob's 180 Ringing then 200 OK (with SDP) to `forwarded`, each relayed by the proxy to alice (§16.7).
    func answer(_ forwarded: ByteBuffer) throws {
        for (statusLine, body) in Self.answers {
            self.respond(to: forwarded, statusLine: statusLine, body: body)
            self.harness.receive(self.response, from: Self.bob)
            guard self.harness.sent.count == 1, self.harness.sent[0].destination == Self.alice else {
                throw Failure(description: "\(statusLine.dropLast(2)): expected it relayed to alice, got \(Self.describe(self.harness.sent))")
            }
            self.harness.removeAllSent()
        }
    }

    /// Bob's responses: status line and body (a static list, so the loop over it allocates nothing).
    private static let answers = [("SIP/2.0 180 Ringing\r\n", ""), ("SIP/2.0 200 OK\r\n", Messages.bobSDP)]

    /// What the proxy sent, for a failure report: first line and destination of each message.
    private static func describe(_ sent: [ProxyBenchmarkHarness.Output]) -> String {
        let lines = sent.map { output in
            let text = String(buffer: output.bytes)
            return "'\(text.prefix { $0 != "\r\n" })' to \(output.destination)"
        }
        return lines.isEmpty ? "nothing" : lines.joined(separator: ", ")
    }

    // MARK: Bytes

    /// Bob's response to `request` in `self.response`.
    private func respond(to request: ByteBuffer, statusLine: String, body: String) {
        self.response.removeAll(keepingCapacity: true)
        self.response.append(contentsOf: statusLine.utf8)
        request.withUnsafeReadableBytes { bytes in
            // Header lines, from after the request line to the empty line.
            var start = (Self.lineEnd(bytes, from: 0) ?? bytes.count) + 2
            while start < bytes.count, let end = Self.lineEnd(bytes, from: start), end > start {
                let line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                if Self.hasName(line, "via") || Self.hasName(line, "v") || Self.hasName(line, "record-route")
                    || Self.hasName(line, "from") || Self.hasName(line, "f") || Self.hasName(line, "call-id")
                    || Self.hasName(line, "i") || Self.hasName(line, "cseq")
                {
                    self.response.append(contentsOf: line)
                    self.response.append(contentsOf: "\r\n".utf8)
                } else if Self.hasName(line, "to") || Self.hasName(line, "t") {
                    self.response.append(contentsOf: line)
                    self.response.append(contentsOf: ";tag=a6c85cf\r\n".utf8)
                }
                start = end + 2
            }
        }
        self.response.append(contentsOf: "Contact: <sip:bob@127.0.0.12:5060>\r\n".utf8)
        if body.isEmpty {
            self.response.append(contentsOf: "Content-Length: 0\r\n\r\n".utf8)
        } else {
            self.response.append(contentsOf: "Content-Type: application/sdp\r\nContent-Length: 131\r\n\r\n".utf8)
            self.response.append(contentsOf: body.utf8)
        }
    }

    /// Whether a header line is the header `name` (lower case), in any case, with optional space before the colon.
    private static func hasName(_ line: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        let count = name.utf8CodeUnitCount
        guard line.count > count else { return false }
        let matches = name.withUTF8Buffer { expected in
            (0..<count).allSatisfy { line[$0] | 0x20 == expected[$0] }
        }
        guard matches else { return false }
        var index = count
        while index < line.count, line[index] == 0x20 || line[index] == 0x09 { index += 1 }
        return index < line.count && line[index] == UInt8(ascii: ":")
    }

    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == 13 && bytes[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }

    /// The last 7 octets before `terminator` of the value after `prefix`: where a call number is written.
    private static func digits(before terminator: String, after prefix: String, in message: [UInt8]) throws -> Range<Int> {
        let text = String(decoding: message, as: UTF8.self)
        guard let valueStart = text.range(of: prefix)?.upperBound,
            let valueEnd = text[valueStart...].range(of: terminator)?.lowerBound
        else { throw Failure(description: "no '\(prefix)' in the INVITE") }
        let end = text.utf8.distance(from: text.startIndex, to: valueEnd)
        return (end - 7)..<end
    }

    /// `number` in decimal, zero-padded, over `range`.
    private static func write(_ number: Int, into bytes: inout [UInt8], at range: Range<Int>) {
        var value = number
        for index in range.reversed() {
            bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
        }
    }
}
