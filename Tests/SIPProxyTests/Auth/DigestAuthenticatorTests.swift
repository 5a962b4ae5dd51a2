// Digest authentication on pure values: RFC 7616 test vectors, nonces that expire and cannot be replayed, the
// credentials parser and the auth file.

import NIOCore
import Testing

@testable import SIPProxy

@Suite struct DigestAuthenticatorTests {
    // RFC 7616 §3.9.1: the same credentials with MD5 and SHA-256.
    @Test(arguments: [
        (DigestAlgorithm.md5, "8ca523f5e9506fed4657c9700eebdbec"),
        (DigestAlgorithm.sha256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ])
    func rfc7616Vectors(algorithm: DigestAlgorithm, expected: String) {
        let response = algorithm.response(
            username: "Mufasa", realm: "http-auth@example.org", password: "Circle of Life", method: "GET",
            uri: "/dir/index.html", nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop: "auth"
        )
        #expect(response == expected)
    }

    @Test func credentialsParser() {
        let c = DigestCredentials.parse(
            #"Digest username="al\"ice", realm="lab, 1", nonce="abc", uri="sip:lab", response="0f", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="xyz""#
        )
        #expect(c?.username == "al\"ice")
        #expect(c?.realm == "lab, 1")
        #expect(c?.algorithm == "SHA-256")
        #expect(c?.nc == "00000001")
        #expect(DigestCredentials.parse("Basic YWxpY2U6c2VjcmV0") == nil)
        #expect(DigestCredentials.parse(#"Digest username="a", realm="r", nonce="n", uri="u""#) == nil, "no response")
        #expect(DigestCredentials.parse(#"Digest username="a", username="b", realm="r", nonce="n", uri="u", response="x""#) == nil)
        #expect(DigestCredentials.parse(#"Digest username="unterminated"#) == nil)
    }

    @Test func noncesExpireAndAreSingleUse() {
        var nonces = NonceManager(lifetime: 300)
        let nonce = nonces.issue(now: 1000)
        #expect(nonces.check(nonce, nc: "00000001", now: 1010) == .valid)
        #expect(nonces.check(nonce, nc: "00000001", now: 1011) == .replayed, "the same count twice")
        #expect(nonces.check(nonce, nc: "00000002", now: 1012) == .valid, "a higher count is a new request")
        #expect(nonces.check(nonce, nc: "00000002", now: 1013) == .replayed)
        let once = nonces.issue(now: 1000)
        #expect(nonces.check(once, nc: nil, now: 1001) == .valid)
        #expect(nonces.check(once, nc: nil, now: 1002) == .replayed, "without qop a nonce is used once")
        #expect(nonces.check(nonces.issue(now: 1000), nc: "00000001", now: 1301) == .stale)
        var forged = nonce
        forged.removeLast()
        forged += nonce.hasSuffix("0") ? "1" : "0"
        #expect(nonces.check(forged, nc: "00000001", now: 1010) == .invalid)
        #expect(nonces.check("nonsense", nc: nil, now: 1010) == .invalid)
        var other = NonceManager()
        #expect(other.check(nonce, nc: "00000001", now: 1010) == .invalid, "another proxy's secret")
    }

    @Test func nonceTableIsBounded() {
        var nonces = NonceManager(lifetime: 300, capacity: 100)
        for i in 0..<1000 {
            let nonce = nonces.issue(now: UInt64(1000 + i / 10))
            _ = nonces.check(nonce, nc: "00000001", now: UInt64(1000 + i / 10))
        }
        #expect(nonces.remembered <= 100)
    }

    static func request(_ method: String, authorization: String? = nil, header: String = "Proxy-Authorization") -> SIPRequest {
        var lines = [
            "\(method) sip:bob@lab SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.11:5060;branch=z9hG4bK-1",
            "From: <sip:alice@lab>;tag=f", "To: <sip:\(method == "REGISTER" ? "alice" : "bob")@lab>",
            "Call-ID: c1", "CSeq: 1 \(method)", "Max-Forwards: 70",
        ]
        if let authorization { lines.append("\(header): \(authorization)") }
        let text = lines.joined(separator: "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
        guard case .request(let r) = try! SIPParser().parse(Array(text.utf8)) else { fatalError() }
        return r
    }

    /// What a phone answers to `challenge` (the first one it supports).
    static func answer(_ challenge: String, method: String, password: String, nc: String = "00000001") -> String {
        let params = DigestCredentials.authParams(String(challenge.dropFirst(7)))!
        let algorithm = DigestAlgorithm(parameter: params["algorithm"])!
        let response = algorithm.response(
            username: "alice", realm: params["realm"]!, password: password, method: method, uri: "sip:bob@lab",
            nonce: params["nonce"]!, nc: nc, cnonce: "c0ffee", qop: "auth"
        )
        return #"Digest username="alice", realm="\#(params["realm"]!)", nonce="\#(params["nonce"]!)", uri="sip:bob@lab", response="\#(response)", algorithm=\#(algorithm.rawValue), qop=auth, nc=\#(nc), cnonce="c0ffee""#
    }

    @Test func challengeThenAuthenticateWithEitherAlgorithm() {
        var auth = DigestAuthenticator(
            directory: UserDirectory(passwords: ["alice": "secret"], algorithms: [.md5, .sha256]), realm: "lab")
        #expect(auth.authenticate(Self.request("INVITE"), now: 100) == .challenge(stale: false))
        let challenges = auth.challenges(stale: false, now: 100)
        #expect(challenges.count == 2)
        #expect(challenges[0].contains("algorithm=MD5") && challenges[1].contains("algorithm=SHA-256"))
        for index in challenges.indices {
            // A fresh nonce for each algorithm: the challenges of one response share theirs.
            let challenge = auth.challenges(stale: false, now: 100)[index]
            let ok = Self.answer(challenge, method: "INVITE", password: "secret")
            #expect(auth.authenticate(Self.request("INVITE", authorization: ok), now: 101) == .authenticated(user: "alice"))
            #expect(auth.authenticate(Self.request("INVITE", authorization: ok), now: 102) == .challenge(stale: false), "replay")
            let wrong = Self.answer(challenge, method: "INVITE", password: "guess", nc: "00000002")
            #expect(auth.authenticate(Self.request("INVITE", authorization: wrong), now: 103) == .challenge(stale: false))
        }
        // The right password with an expired nonce: stale=true, so the phone retries silently.
        let old = Self.answer(auth.challenges(stale: false, now: 100)[0], method: "INVITE", password: "secret")
        #expect(auth.authenticate(Self.request("INVITE", authorization: old), now: 1000) == .challenge(stale: true))
        #expect(auth.challenges(stale: true, now: 1000)[0].hasSuffix("stale=true"))
    }

    @Test func registerUsesAuthorizationAndOtherRealmsAreIgnored() {
        var auth = DigestAuthenticator(directory: UserDirectory(passwords: ["alice": "secret"]), realm: "lab")
        #expect(DigestAuthenticator.headers(for: .register) == ("Authorization", "WWW-Authenticate", 401))
        #expect(DigestAuthenticator.headers(for: .invite) == ("Proxy-Authorization", "Proxy-Authenticate", 407))
        let challenge = auth.challenges(stale: false, now: 5)[0]
        let ok = Self.answer(challenge, method: "REGISTER", password: "secret")
        #expect(auth.authenticate(Self.request("REGISTER", authorization: ok, header: "Authorization"), now: 6)
            == .authenticated(user: "alice"))
        let elsewhere = ok.replacingOccurrences(of: #"realm="lab""#, with: #"realm="other""#)
        #expect(auth.authenticate(Self.request("REGISTER", authorization: elsewhere, header: "Authorization"), now: 7)
            == .challenge(stale: false))
        #expect(auth.may("alice", actFor: "alice") && !auth.may("alice", actFor: "bob"))
    }

    @Test func authFile() throws {
        let directory = try UserDirectory.parse(
            "realm: lab.example\nusers:\n  alice: secret\n  bob: 1234\nadmins: [alice]\nalgorithms: [SHA-256, MD5]\n",
            name: "users.yaml")
        #expect(directory.algorithms == [.sha256, .md5])
        #expect(UserDirectory(passwords: [:]).algorithms == [.md5])
        #expect(directory.realm == "lab.example")
        #expect(directory.passwords == ["alice": "secret", "bob": "1234"])
        #expect(directory.admins == ["alice"])
        let bad: [(String, Int?)] = [
            ("users:\n  alice: secret\n  bad name: x\n", 3),
            ("users:\n  alice: secret\nadmin: [alice]\n", 3),
            ("users:\n  alice:\n", 2),
            ("users: [alice]\n", 1),
            ("realm: x\n", 1),
            ("users:\n  alice: [\n", nil),
            ("users:\n  alice: secret\nalgorithms: [SHA-512]\n", 3),
        ]
        for (text, line) in bad {
            #expect(throws: AuthError.self, "\(text)") { try UserDirectory.parse(text, name: "users.yaml") }
            if let line {
                do {
                    _ = try UserDirectory.parse(text, name: "users.yaml")
                } catch {
                    #expect(error.line == line, "\(text): \(error)")
                }
            }
        }
    }
}
