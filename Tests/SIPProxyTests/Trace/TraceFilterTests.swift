// TraceFilter: the expression language, matching, and clear errors.

import Foundation
import Testing

@testable import SIPProxy

@Suite struct TraceFilterTests {
    let proxy = TraceTest.address("127.0.0.10", 5060)
    let phone = TraceTest.address("127.0.0.11", 5061)

    func event(_ summary: TraceSummary?, from: String = "127.0.0.11", port: Int = 5061) -> TraceEvent {
        TraceTest.event(.received, from: TraceTest.address(from, port), to: self.proxy, payload: [], summary: summary)
    }

    @Test func parsesEveryKey() throws {
        let filter = try TraceFilter.parse(
            "method=invite,BYE user=alice  callid=abc@host peer=127.0.0.11 peer=[::1]:5070"
        )
        #expect(filter.methods == ["INVITE", "BYE"])
        #expect(filter.users == ["alice"])
        #expect(filter.callIDs == ["abc@host"])
        #expect(filter.peers == ["127.0.0.11", "[::1]:5070"])
        #expect(try TraceFilter.parse(filter.description) == filter)
        #expect(filter.description == "method=INVITE,BYE user=alice callid=abc@host peer=127.0.0.11,[::1]:5070")
    }

    @Test func keyAliasesAndCanonicalPeers() throws {
        let filter = try TraceFilter.parse(
            "METHODS=OPTIONS Users=bob Call-ID=x peers=0:0:0:0:0:0:0:1,10.0.0.1:5060,[::1]"
        )
        #expect(filter.methods == ["OPTIONS"])
        #expect(filter.users == ["bob"])
        #expect(filter.callIDs == ["x"])
        #expect(filter.peers == ["::1", "10.0.0.1:5060", "::1"])
    }

    @Test func emptyExpressionMatchesEverything() throws {
        let filter = try TraceFilter.parse("  ")
        #expect(filter.isEmpty)
        #expect(filter == TraceFilter())
        #expect(filter.matches(self.event(nil)))
    }

    @Test(arguments: [
        ("method", "not key=value"),
        ("foo=bar", "unknown filter key 'foo'"),
        ("method=", "empty value"),
        ("method=INVITE,,BYE", "empty value"),
        ("method=INV@ITE", "not a SIP method"),
        ("peer=999.1.1.1", "not an IPv4 or IPv6 address"),
        ("peer=alice.example.com", "not an IPv4 or IPv6 address"),
        ("peer=1.2.3.4:99999", "out of range"),
        ("peer=1.2.3.4:x", "not a number"),
        ("peer=[::1", "missing ']'"),
        ("peer=[::1]5060", "expected [ipv6]:port"),
    ])
    func badExpressionsGiveClearErrors(expression: String, message: String) {
        do {
            _ = try TraceFilter.parse(expression)
            Issue.record("'\(expression)' parsed")
        } catch {
            #expect(error.kind == .invalidFilter)
            #expect(error.detail.contains(message), "\(error.detail)")
        }
    }

    @Test func methodsMatchRequestsAndTheCSeqMethodOfResponses() throws {
        let filter = try TraceFilter.parse("method=INVITE")
        #expect(filter.matches(self.event(TraceSummary(method: "INVITE", cseqMethod: "INVITE"))))
        #expect(filter.matches(self.event(TraceSummary(statusCode: 180, cseqMethod: "INVITE"))))
        #expect(!filter.matches(self.event(TraceSummary(method: "REGISTER", cseqMethod: "REGISTER"))))
        #expect(!filter.matches(self.event(TraceSummary(statusCode: 200, cseqMethod: "BYE"))))
        #expect(!filter.matches(self.event(nil)))
        // A method written in lower case by the caller still matches.
        #expect(filter.matches(self.event(TraceSummary(method: "invite"))))
    }

    @Test func usersMatchFromToOrRequestURI() throws {
        let filter = try TraceFilter.parse("user=alice,carol")
        #expect(filter.matches(self.event(TraceSummary(fromUser: "alice", toUser: "bob"))))
        #expect(filter.matches(self.event(TraceSummary(fromUser: "bob", toUser: "carol"))))
        #expect(filter.matches(self.event(TraceSummary(fromUser: "bob", toUser: "bob", requestUser: "alice"))))
        #expect(!filter.matches(self.event(TraceSummary(fromUser: "bob", toUser: "dave", requestUser: "eve"))))
        #expect(!filter.matches(self.event(TraceSummary(fromUser: "Alice"))))  // user parts are case-sensitive
    }

    @Test func callIDsAndPeers() throws {
        let byCall = try TraceFilter.parse("callid=c1")
        #expect(byCall.matches(self.event(TraceSummary(callID: "c1"))))
        #expect(!byCall.matches(self.event(TraceSummary(callID: "c2"))))

        let byIP = try TraceFilter.parse("peer=127.0.0.11")
        #expect(byIP.matches(self.event(nil)))  // source
        #expect(byIP.matches(TraceTest.event(.sent, from: self.proxy, to: self.phone, payload: [])))  // destination
        #expect(!byIP.matches(self.event(nil, from: "127.0.0.12")))
        let byPort = try TraceFilter.parse("peer=127.0.0.11:5062")
        #expect(!byPort.matches(self.event(nil)))
        #expect(byPort.matches(self.event(nil, port: 5062)))
        let byV6 = try TraceFilter.parse("peer=[0::1]:5062")
        #expect(byV6.matches(self.event(nil, from: "::1", port: 5062)))
        #expect(!byV6.matches(self.event(nil, from: "::1", port: 5061)))
    }

    @Test func everyCriterionMustMatch() throws {
        let filter = try TraceFilter.parse("method=INVITE user=alice peer=127.0.0.11")
        let summary = TraceSummary(method: "INVITE", fromUser: "alice")
        #expect(filter.matches(self.event(summary)))
        #expect(!filter.matches(self.event(summary, from: "127.0.0.99")))
        #expect(!filter.matches(self.event(TraceSummary(method: "INVITE", fromUser: "bob"))))
    }

    @Test func encodesToJSONWithoutUnsetKeys() throws {
        let filter = try TraceFilter.parse("method=INVITE")
        let json = String(decoding: try JSONEncoder().encode(filter), as: UTF8.self)
        #expect(json == #"{"methods":["INVITE"]}"#)
        #expect(try JSONDecoder().decode(TraceFilter.self, from: Data(json.utf8)) == filter)
    }
}
