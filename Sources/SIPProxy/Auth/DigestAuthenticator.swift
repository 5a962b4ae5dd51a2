// DigestAuthenticator: SIP digest authentication of requests (RFC 3261 §22, RFC 8760 for SHA-256, qop=auth).
//
// The registrar challenges REGISTER with 401 and WWW-Authenticate (§22.2); the proxy challenges other requests
// with 407 and Proxy-Authenticate (§22.3). Each challenge is offered once per algorithm (RFC 8760 §2.4), in the
// order of the auth file (MD5 alone by default, see `UserDirectory.algorithms`).

/// Checks credentials against the user directory. A value: the nonce table lives in it, time is passed in.
public struct DigestAuthenticator: Sendable {
    public enum Outcome: Equatable, Sendable {
        case authenticated(user: String)
        /// No acceptable credentials: challenge (again). `stale`: the credentials were right but the nonce too
        /// old, so the phone may retry without asking its user (RFC 7616 §3.3).
        case challenge(stale: Bool)
    }

    public let directory: UserDirectory
    public let realm: String
    public let algorithms: [DigestAlgorithm]
    private var nonces: NonceManager

    public init(directory: UserDirectory, realm: String, nonces: NonceManager = NonceManager()) {
        self.directory = directory
        self.realm = directory.realm ?? realm
        self.algorithms = directory.algorithms
        self.nonces = nonces
    }

    /// The header a request's credentials come in and its challenge goes out in: REGISTER is answered by the
    /// registrar (401, §22.2), everything else by the proxy (407, §22.3).
    public static func headers(for method: SIPMethod) -> (credentials: String, challenge: String, status: Int) {
        method == .register
            ? ("Authorization", "WWW-Authenticate", 401) : ("Proxy-Authorization", "Proxy-Authenticate", 407)
    }

    /// Verifies the request's credentials for this realm. Credentials for other realms (other proxies on the
    /// path, §22.3) are ignored. `now` is in whole seconds of a monotonic clock.
    public mutating func authenticate(_ request: SIPRequest, now: UInt64) -> Outcome {
        let (header, _, _) = Self.headers(for: request.method)
        // Some phones answer a 407 with Authorization (or a 401 with Proxy-Authorization): accept either.
        let lines = request.headers.lines(header) + request.headers.lines(header == "Authorization" ? "Proxy-Authorization" : "Authorization")
        var stale = false
        for line in lines {
            guard let credentials = DigestCredentials.parse(line), credentials.realm == self.realm else { continue }
            switch self.verify(credentials, method: request.method.rawValue, now: now) {
            case .valid:
                return .authenticated(user: credentials.username)
            case .stale:
                stale = true
            case .invalid, .replayed:
                continue
            }
        }
        return .challenge(stale: stale)
    }

    private mutating func verify(_ c: DigestCredentials, method: String, now: UInt64) -> NonceManager.Verdict {
        guard let algorithm = DigestAlgorithm(parameter: c.algorithm), self.algorithms.contains(algorithm),
            let password = self.directory.passwords[c.username]
        else { return .invalid }
        if let qop = c.qop {
            // Only qop=auth is offered; auth-int would need the body hash.
            guard qop.lowercased() == "auth", c.nc != nil, c.cnonce != nil else { return .invalid }
        }
        let expected = algorithm.response(
            username: c.username, realm: self.realm, password: password, method: method, uri: c.uri,
            nonce: c.nonce, nc: c.qop == nil ? nil : c.nc, cnonce: c.qop == nil ? nil : c.cnonce, qop: c.qop
        )
        // Compared in constant time: how long a comparison takes must not leak how much of the hash matched.
        guard Self.constantTimeEquals(expected, c.response.lowercased()) else { return .invalid }
        return self.nonces.check(c.nonce, nc: c.qop == nil ? nil : c.nc, now: now)
    }

    /// The challenge header values, one per algorithm, sharing one fresh nonce.
    public func challenges(stale: Bool, now: UInt64) -> [String] {
        let nonce = self.nonces.issue(now: now)
        return self.algorithms.map { algorithm in
            var value = "Digest realm=\"\(self.realm)\", nonce=\"\(nonce)\", algorithm=\(algorithm.rawValue), qop=\"auth\""
            if stale { value += ", stale=true" }
            return value
        }
    }

    /// Whether `user` may act for the address-of-record or From user `owner`: themselves, or an admin.
    public func may(_ user: String, actFor owner: String) -> Bool {
        user == owner || self.directory.admins.contains(user)
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
