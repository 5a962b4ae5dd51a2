// libFuzzer harness: the SIP message parser and the serializer round trip.
//
// Built by scripts/fuzz.sh (not a SwiftPM target) against an instrumented build of Sources/SIPProxy/Message.
// Every input is parsed as a datagram and as a stream message. Whatever parses must serialize, and the
// serialization must frame as exactly one stream message, parse again to the same message, and serialize to the
// same bytes: the proxy relays what it parsed, so its output must be something it (and the next hop) accepts.
// Any violation traps, which libFuzzer reports as a crash.

@testable import SIPProxy

@_cdecl("LLVMFuzzerTestOneInput")
public func parserFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    let parser = SIPParser()
    for framing in [SIPParser.Framing.datagram, .stream] {
        let message: SIPMessage
        do throws(SIPParseError) {
            message = try parser.parse(raw, framing: framing)
        } catch {
            // Rendering the error is part of answering a bad request (400 with a reason phrase).
            _ = error.status
            _ = error.reason
            continue
        }
        ParserFuzzer.checkRoundTrip(message, framing)
    }
    return 0
}

enum ParserFuzzer {
    /// Re-parsing uses a larger bound: the serializer adds a Content-Length line, so a message at the size limit
    /// grows by a few octets.
    static let reparser = SIPParser(maxMessageSize: 1 << 20)

    static func checkRoundTrip(_ message: SIPMessage, _ framing: SIPParser.Framing) {
        _ = message.summary
        switch message {
        case .request(let r):
            _ = (r.vias, r.maxForwards, r.routes, r.contacts, r.isInDialog, r.uri.serialized)
        case .response(let r):
            _ = (r.statusCode, r.reason)
        }
        let bytes = message.bytes
        let framed = bytes.withUnsafeBytes { raw in
            Result { () throws(SIPParseError) in try ParserFuzzer.reparser.frame(raw) }
        }
        guard case .success(.message(let length)) = framed, length == bytes.count else {
            fatalError("serialization does not frame as one message (\(framed)): \(Self.show(bytes))")
        }
        let again: SIPMessage
        do throws(SIPParseError) {
            again = try Self.reparser.parse(bytes, framing: .stream)
        } catch {
            fatalError("serialization does not parse (\(error)), parsed as \(framing): \(Self.show(bytes))")
        }
        let fields = { (m: SIPMessage) in m.headers.fields.filter { $0.key != "content-length" } }
        guard again.callID == message.callID, again.cseq == message.cseq, fields(again) == fields(message) else {
            fatalError("round trip changed the headers: \(Self.show(bytes))")
        }
        switch (message, again) {
        case (.request(let a), .request(let b)):
            guard a.method == b.method, a.uri == b.uri, a.body == b.body else {
                fatalError("round trip changed the request line or body: \(Self.show(bytes))")
            }
        case (.response(let a), .response(let b)):
            guard a.statusCode == b.statusCode, a.reason == b.reason, a.body == b.body else {
                fatalError("round trip changed the status line or body: \(Self.show(bytes))")
            }
        default:
            fatalError("round trip changed the kind of message: \(Self.show(bytes))")
        }
        guard again.bytes == bytes else {
            fatalError("serialization is not stable: \(Self.show(bytes)) then \(Self.show(again.bytes))")
        }
    }

    static func show(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(2000), as: UTF8.self).debugDescription
    }
}
