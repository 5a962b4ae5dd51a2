// CSeq values (RFC 3261 §20.16): a number up to 2**32-1 and a method token, separated by linear white space.

import Testing

@testable import SIPProxy

extension MessageTests {
    @Suite("CSeq")
    struct CSeqTests {
        @Test func wellFormedValues() {
            #expect(CSeq.parse("1 INVITE") == CSeq(1, .invite))
            #expect(CSeq.parse("  4711\tBYE  ") == CSeq(4711, .bye))
            #expect(CSeq.parse("1  \t ACK") == CSeq(1, .ack))
            #expect(CSeq.parse("4294967295 NEWMETHOD") == CSeq(4_294_967_295, SIPMethod("NEWMETHOD")))
            #expect(CSeq.parse(Substring("x 2 OPTIONS").dropFirst(2)) == CSeq(2, .options))
        }

        @Test func malformedValues() {
            for text in [
                "", " ", "1", "INVITE", "1 INVITE extra", "x INVITE", "-1 INVITE", "4294967296 INVITE",
                "1 INV/ITE", "1 INVITE\u{301}", "1\u{A0}INVITE", "1 INV ITE",
            ] {
                #expect(CSeq.parse(text) == nil, "\(text)")
            }
        }
    }
}
