// TransactionKeyTests: RFC 3261 §17.1.3 and §17.2.3 matching keys.

import Testing

@testable import SIPProxy

@Suite("TransactionKey")
struct TransactionKeyTests {
    typealias F = TransactionFixtures

    @Test func serverKeyUsesTopViaBranchSentByAndMethod() {
        let invite = F.invite(topVia: "SIP/2.0/UDP PC33.Atlanta.COM:5070;branch=z9hG4bK776asdhds;rport")
        let key = TransactionKey.server(for: invite)
        #expect(key == TransactionKey(branch: "z9hG4bK776asdhds", sentBy: "pc33.atlanta.com:5070", method: .invite))
    }

    @Test func serverKeyWithoutPort() {
        let key = TransactionKey.server(for: F.invite(topVia: F.phoneVia))
        #expect(key?.sentBy == "pc33.atlanta.com")
    }

    @Test func ackMatchesTheInviteCancelDoesNot() {
        let invite = F.invite(topVia: F.phoneVia)
        let ack = F.ack(for: invite)
        let cancel = F.invite(method: "CANCEL", topVia: F.phoneVia)
        #expect(TransactionKey.server(for: ack) == TransactionKey.server(for: invite))
        #expect(TransactionKey.server(for: ack)?.method == .invite)
        #expect(TransactionKey.server(for: cancel)?.method == .cancel)
        #expect(TransactionKey.server(for: cancel) != TransactionKey.server(for: invite))
    }

    @Test func differentSentByOrBranchDiffer() {
        let a = TransactionKey.server(for: F.invite(topVia: "SIP/2.0/UDP a.example.com;branch=z9hG4bK1"))
        let b = TransactionKey.server(for: F.invite(topVia: "SIP/2.0/UDP b.example.com;branch=z9hG4bK1"))
        let c = TransactionKey.server(for: F.invite(topVia: "SIP/2.0/UDP a.example.com;branch=z9hG4bK2"))
        #expect(a != nil && a != b && a != c)
    }

    @Test func noRFC3261BranchGivesNoServerKey() {
        #expect(TransactionKey.server(for: F.invite(topVia: "SIP/2.0/UDP old.example.com;branch=1234")) == nil)
        #expect(TransactionKey.server(for: F.invite(topVia: "SIP/2.0/UDP old.example.com")) == nil)
        #expect(TransactionKey.server(for: F.invite(topVia: "SIP/2.0/UDP old.example.com;branch=z9hG4bK")) == nil)
    }

    @Test func clientKeyMatchesResponse() {
        let request = F.invite(branch: "z9hG4bKproxyA")
        let response = F.response(180, "Ringing", to: request)
        let key = TransactionKey.client(branch: "z9hG4bKproxyA", method: .invite)
        #expect(key == TransactionKey(branch: "z9hG4bKproxyA", sentBy: "", method: .invite))
        #expect(TransactionKey.client(for: response) == key)
    }

    @Test func clientKeyDistinguishesCancelFromInvite() {
        let cancel = F.invite(method: "CANCEL", branch: "z9hG4bKproxyA")
        let response = F.response(200, "OK", to: cancel)
        #expect(TransactionKey.client(for: response) == .client(branch: "z9hG4bKproxyA", method: .cancel))
        #expect(TransactionKey.client(for: response) != .client(branch: "z9hG4bKproxyA", method: .invite))
    }

    @Test func clientKeyMapsACKToInvite() {
        #expect(TransactionKey.client(branch: "z9hG4bKx", method: .ack) == .client(branch: "z9hG4bKx", method: .invite))
    }

    @Test func responseWithoutBranchGivesNoClientKey() {
        let request = F.invite(topVia: "SIP/2.0/UDP old.example.com")
        #expect(TransactionKey.client(for: F.response(200, "OK", to: request)) == nil)
    }
}
