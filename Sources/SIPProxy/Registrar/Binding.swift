// Binding: one contact of an address-of-record in the location service (RFC 3261 §10.3).

import NIOCore

/// A registered contact.
public struct Binding: Sendable, Equatable {
    /// The AOR as the phone wrote it in To (for display), e.g. `sip:bob@192.0.2.5`.
    public var aor: String
    /// The Contact value as registered (URI and header parameters other than `expires`).
    public var contact: NameAddress
    /// When the binding lapses.
    public var expiresAt: NIODeadline
    /// Call-ID and CSeq of the REGISTER that last refreshed it: RFC 3261 §10.3 step 7 ignores out-of-order ones.
    public var callID: String
    public var cseq: UInt32
    /// The flow the REGISTER arrived on: requests for this contact go back over it, so phones behind NAT and TCP
    /// phones are reached (RFC 5626 §5 in spirit, without outbound's instance ids).
    public var source: Peer
    /// The `q` contact parameter (RFC 3261 §20.10), 1.0 when absent.
    public var q: Double
    /// Path header values of the REGISTER (RFC 3327), outermost first: requests to the contact go through them.
    /// The registrar does not act on Path yet; the field is kept so location backends store and restore it.
    public var path: [String] = []
    /// The proxy instance that holds the flow when it is another one (a location store shared by several
    /// proxies); nil when this proxy holds it.
    public var owner: String? = nil
    /// The owner's SIP URI (`sip:127.0.0.51:5060`) when another proxy holds the flow: requests for this contact
    /// go there, and that proxy sends them over the flow (issue 16 item 2).
    public var ownerURI: String? = nil

    /// Seconds left, rounded up, at `now`.
    public func remaining(at now: NIODeadline) -> Int {
        let nanos = (self.expiresAt - now).nanoseconds
        return nanos <= 0 ? 0 : Int(Saturating.add(nanos, 999_999_999) / 1_000_000_000)
    }

    /// The key under which two Contact URIs are the same binding (RFC 3261 §10.3 step 7 uses URI equality).
    static func contactKey(_ uri: SIPURI) -> String {
        let user = SIPURI.normalizeEscapes(uri.user ?? "")
        return "\(uri.scheme):\(user)@\(uri.bareHost):\(uri.port ?? 0)"
    }
}
