// libFuzzer harness: the DNS answer decoder (RFC 1035 §4.1, name compression §4.1.4), as the resolver runs it on
// every datagram a socket hands over.
//
// Built by scripts/fuzz.sh (not a SwiftPM target) against an instrumented build of Sources/SIPProxy/DNS's wire
// format files. The input is one datagram. Checked:
// - decoding never traps or hangs (pointer loops, lengths past the end, huge counts);
// - what decodes keeps the RFC 1035 limits: names of at most 255 octets, at most 256 entries;
// - decoding is deterministic, and the id/question match and the RFC 2782 SRV ordering of the answer run cleanly.

@testable import SIPProxy

@_cdecl("LLVMFuzzerTestOneInput")
public func dnsMessageFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let message = try? DNSMessage(decoding: bytes) else { return 0 }
    let names = message.questions.map(\.name) + (message.answers + message.authority + message.additional).map(\.name)
    for name in names {
        // Octets that are not UTF-8 become U+FFFD and lowercasing may expand a scalar: a bound, not the exact 255.
        precondition(name.unicodeScalars.count <= 2 * 255, "a decoded name far over 255 octets")
    }
    precondition(names.count <= 256, "more entries than the decoder allows")
    precondition((try? DNSMessage(decoding: bytes)) == message, "decoding is not deterministic")
    if let question = message.questions.first {
        _ = message.answers(id: message.id, question)
    }
    let srv = message.answers.compactMap { record -> SRVRecord? in
        if case .srv(let srv) = record.data { return srv }
        return nil
    }
    var state: UInt64 = UInt64(size)
    let ordered = SRVOrdering.order(srv) { upper in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return upper == 0 ? 0 : Int(state >> 33) % (upper + 1)
    }
    precondition(ordered.count == srv.count, "SRV ordering lost or added records")
    return 0
}
