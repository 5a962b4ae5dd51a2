// Digest authentication in the request path (RFC 3261 §22.2 registrar, §22.3 proxy), when `--auth` is on.
//
// Out-of-dialog requests must carry credentials for the proxy's realm; in-dialog requests follow the route set of
// a dialog that was authenticated when it was created, as in Kamailio's default configuration. ACK and CANCEL are
// never challenged (§22.1: they cannot be resubmitted with credentials).

import NIOCore

extension ProxyCore {
    /// What authentication decided for one request.
    enum AuthDecision {
        /// Authentication is off, or this request needs none.
        case notRequired
        case authenticated(user: String)
        /// A 401/407 challenge or a 403 was sent: the request ends here.
        case answered
    }

    /// Challenges or admits an out-of-dialog request; removes the credentials meant for this proxy before the
    /// request is forwarded (they are for this hop only).
    func authenticate(_ request: inout SIPRequest, entry: ServerEntry, addressedToProxy: Bool) -> AuthDecision {
        guard let authenticator = self.shared.authenticator else { return .notRequired }
        if request.isInDialog || request.method == .ack || request.method == .cancel { return .notRequired }
        // A keep-alive OPTIONS to the proxy itself needs no identity.
        if addressedToProxy && request.method == .options { return .notRequired }
        let now = UInt64(max(0, self.now().uptimeNanoseconds / 1_000_000_000))
        let outcome = authenticator.authenticate(request, now: now)
        let realm = authenticator.realm
        switch outcome {
        case .challenge(let stale):
            let (_, header, status) = DigestAuthenticator.headers(for: request.method)
            let challenges = authenticator.challenges(stale: stale, now: now)
            self.reply(entry, status, extra: challenges.map { (header, $0) })
            return .answered
        case .authenticated(let user):
            // The authenticated identity must be the one the request claims: the AOR for REGISTER (§10.3 step 3:
            // "the registrar ... determines if the authenticated user is authorized to modify registrations for
            // this address-of-record"), the From user otherwise, unless the user is an admin.
            let claimed = LocationStore.userKey(request.method == .register ? request.to.uri : request.from.uri)
            guard authenticator.may(user, actFor: claimed) else {
                self.logger.notice("\(user) authenticated but may not act as \(claimed): 403")
                self.reply(entry, 403, reason: "Identity Mismatch")
                return .answered
            }
            for name in ["authorization", "proxy-authorization"] {
                request.headers.removeLines(name) { DigestCredentials.parse($0)?.realm == realm }
            }
            return .authenticated(user: user)
        }
    }
}
