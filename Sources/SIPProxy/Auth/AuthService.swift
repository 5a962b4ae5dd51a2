// AuthService: the digest authenticator shared by every shard. Phones reuse a nonce for later requests (nonce
// count, RFC 7616 §3.4) whose Call-ID, and so whose shard, differs; one nonce table for the whole proxy accepts
// them and still refuses a replay. The mutex is held for one check (an HMAC and a dictionary update).

import Synchronization

final class AuthService: Sendable {
    private let state: Mutex<DigestAuthenticator>
    let realm: String

    init(_ authenticator: DigestAuthenticator) {
        self.realm = authenticator.realm
        self.state = Mutex(authenticator)
    }

    func authenticate(_ request: SIPRequest, now: UInt64) -> DigestAuthenticator.Outcome {
        self.state.withLock { $0.authenticate(request, now: now) }
    }

    func challenges(stale: Bool, now: UInt64) -> [String] {
        self.state.withLock { $0.challenges(stale: stale, now: now) }
    }

    func may(_ user: String, actFor owner: String) -> Bool {
        self.state.withLock { $0.may(user, actFor: owner) }
    }
}
