import Foundation
import SIPProxy
import Testing

/// Digest authentication with `--auth FILE`, driven by SIPp's `[authentication]` (its own MD5/SHA-256 code, not
/// ours) and by raw sockets for replay: REGISTER challenged with 401, calls with 407, wrong passwords and
/// identities refused, credentials consumed before forwarding.
@Suite("Digest authentication over SIPp", .serialized)
struct AuthTests {
    static let users = """
        # test users
        users:
          alice: secret
          bob: hunter2
          teacher: t3acher
        admins: [teacher]
        algorithms: [MD5, SHA-256]
        """

    static func bed(_ label: String) async throws -> TestBed {
        let dir = try TestEnvironment.makeTemporaryDirectory("auth-file")
        let file = dir.appendingPathComponent("users.yaml")
        try Data(Self.users.utf8).write(to: file)
        // The file is read once at start: it can go as soon as the proxy is up.
        defer { try? FileManager.default.removeItem(at: dir) }
        return try await TestBed(label, proxyArguments: ["--auth", file.path])
    }

    static func credentials(_ user: String, _ password: String) -> [String] { ["-au", user, "-ap", password] }

    @Test("REGISTER: 401 without credentials, 200 with the right password, refused with a wrong one or another user's",
          arguments: SIPTransport.allCases)
    func register(transport: SIPTransport) async throws {
        let bed = try await Self.bed("auth-reg-\(transport)")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: transport)
        let plain = try await bed.run("register-expect-final.xml", as: bob, keys: ["expires": "300"], sets: ["code": "401"])
        #expect(plain.passed, "a REGISTER without credentials is challenged\n\(bed.diagnostics(plain))")
        if let challenge = plain.receivedResponses(401).first {
            let offered = headers("WWW-Authenticate", in: challenge)
            #expect(offered.count == 2 && offered[0].contains("MD5") && offered[1].contains("SHA-256")
                && offered.allSatisfy { $0.contains("qop=\"auth\"") }, "\(offered)")
        }

        let wrong = try await bed.run("register-auth.xml", as: bob, keys: ["expires": "300"],
                                      extraArguments: Self.credentials("bob", "guess"))
        #expect(!wrong.passed, "a wrong password is challenged again\n\(bed.diagnostics(wrong))")
        let stolen = try await bed.run("register-auth.xml", as: bob, keys: ["expires": "300"],
                                       extraArguments: Self.credentials("alice", "secret"))
        #expect(!stolen.passed && stolen.receivedResponses(403).count == 1,
                "alice may not register bob's AOR\n\(bed.diagnostics(stolen))")
        let registrations = try await sipctl(["registrations", "--json"], cwd: bed.directory)
        #expect(!registrations.stdout.contains(bob.address), "no binding was made\n\(registrations)")

        let ok = try await bed.run("register-auth.xml", as: bob, keys: ["expires": "300"],
                                   extraArguments: Self.credentials("bob", "hunter2"))
        #expect(ok.passed, "\(bed.diagnostics(ok))")
        let after = try await sipctl(["registrations", "--json"], cwd: bed.directory)
        #expect(after.stdout.contains(bob.address), "\(after)")
        // An admin may change anyone's registrations.
        let admin = try await bed.run("register-auth.xml", as: Phone("bob", ip: "127.0.0.14", transport: transport),
                                      keys: ["expires": "300"], extraArguments: Self.credentials("teacher", "t3acher"))
        #expect(admin.passed, "\(bed.diagnostics(admin))")
    }

    @Test("a call: 407 to the INVITE, then through with credentials that are not forwarded to the callee",
          arguments: SIPTransport.allCases)
    func call(transport: SIPTransport) async throws {
        let bed = try await Self.bed("auth-call-\(transport)")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: transport)
        let reg = try await bed.run("register-auth.xml", as: bob, keys: ["expires": "300"],
                                    extraArguments: Self.credentials("bob", "hunter2"))
        #expect(reg.passed, "\(bed.diagnostics(reg))")
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let refused = try await bed.run("uac-expect-final.xml", as: alice, service: "bob", sets: ["code": "407"])
        #expect(refused.passed, "an INVITE without credentials gets 407\n\(bed.diagnostics(refused))")

        let server = try await bed.startUAS("uas-answer.xml", as: bob)
        let call = try await bed.run("uac-auth-call.xml", as: alice, service: "bob",
                                     extraArguments: Self.credentials("alice", "secret"))
        let answered = await server.wait()
        #expect(call.passed && answered.passed, "\(bed.diagnostics(call, answered))")
        let invites = answered.receivedRequests("INVITE")
        #expect(invites.count == 1 && invites.allSatisfy { headers("Proxy-Authorization", in: $0).isEmpty },
                "the proxy consumes its own credentials\n\(invites)")
        let sent = call.sentRequests("INVITE").last.map { headers("Proxy-Authorization", in: $0) } ?? []
        #expect(sent.count == 1, "SIPp answered the challenge: \(sent)")

        // alice's credentials do not let her pose as carol.
        let carol = try await bed.run("uac-auth-call.xml", as: Phone("carol", ip: "127.0.0.13", transport: transport),
                                      service: "bob", extraArguments: Self.credentials("alice", "secret"))
        #expect(!carol.passed && carol.receivedResponses(403).count == 1, "\(bed.diagnostics(carol))")
    }

    @Test("SHA-256 credentials (RFC 8760) register once; the same request replayed is challenged again")
    func replay() async throws {
        let bed = try await Self.bed("auth-replay")
        defer { bed.shutdown() }
        let proxy = bed.proxy
        let socket = try RawSocket(udpOn: "127.0.0.12")
        func register(_ branch: String, authorization: String?) throws -> [String] {
            var text = HardeningTests.register("bob", ip: "127.0.0.12", port: socket.localPort, proxy: proxy)
                .replacingOccurrences(of: "branch=z9hG4bK-", with: "branch=z9hG4bK-\(branch)-")
            if let authorization {
                text = text.replacingOccurrences(of: "Contact:", with: "Authorization: \(authorization)\r\nContact:")
            }
            try socket.send(text, to: proxy.ip, port: proxy.port)
            return socket.receive(timeout: 3) { $0.contains { (statusCode($0) ?? 0) >= 200 } }.messages
        }
        let first = try register("1", authorization: nil)
        guard let challenge = first.first(where: { statusCode($0) == 401 }),
            let sha = headers("WWW-Authenticate", in: challenge).first(where: { $0.contains("SHA-256") }),
            let params = DigestCredentials.authParams(String(sha.dropFirst(7))), let nonce = params["nonce"],
            let realm = params["realm"]
        else {
            Issue.record("no SHA-256 challenge: \(first)\n\(proxy.logTail())")
            return
        }
        let uri = "sip:\(proxy.hostPort)"
        let response = DigestAlgorithm.sha256.response(
            username: "bob", realm: realm, password: "hunter2", method: "REGISTER", uri: uri, nonce: nonce,
            nc: "00000001", cnonce: "abc", qop: "auth")
        let authorization = #"Digest username="bob", realm="\#(realm)", nonce="\#(nonce)", uri="\#(uri)", response="\#(response)", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="abc""#
        #expect(try register("2", authorization: authorization).compactMap(statusCode).last == 200)
        #expect(try register("3", authorization: authorization).compactMap(statusCode).last == 401,
                "the same nonce count again is a replay")
    }

    @Test("a bad --auth file stops sipctl serve with a one-line error naming the line")
    func badFile() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("auth-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("users.yaml")
        try Data("users:\n  alice: secret\n  bad name: x\n".utf8).write(to: file)
        let run = try await sipctl(["serve", "--listen", "127.0.0.10:1", "--auth", file.path], cwd: dir)
        #expect(run.exitCode != 0)
        #expect(run.stderr.contains("users.yaml:3:"), "\(run)")
        #expect(run.stderr.split(separator: "\n").count == 1, "\(run)")
    }
}
