// RegistrarError: the one error type of the registrar, mapped to status codes in one table (cf. Kamailio's
// registrar rerrno -> codes[]).

/// Why a REGISTER was refused.
public enum RegistrarError: Error, Sendable, Equatable {
    /// The AOR in To is not a SIP or SIPS URI (RFC 3261 §10.3 step 3; RFC 4475 §3.3.4).
    case notSIPAOR
    /// `Contact: *` with other contacts or with a non-zero Expires (RFC 3261 §10.3 step 6).
    case invalidWildcard
    /// A contact URI the proxy cannot route to.
    case invalidContact(String)
    /// Expiry shorter than the minimum (RFC 3261 §10.3 step 7, §21.4.17): answered 423 with Min-Expires.
    case intervalTooBrief(minimum: Int)
    /// Too many contacts for one AOR.
    case tooManyContacts(limit: Int)
    /// A Contact value longer than the limit.
    case contactTooLong(limit: Int, length: Int)
    /// A query (REGISTER without Contact) for bindings from an address that holds none of them, without
    /// authentication (§10.3 step 4: the registrar decides who may see an AOR's bindings).
    case queryRefused
    /// The location store holds its maximum number of bindings: 503 with Retry-After (RFC 3261 §21.5.4).
    case locationStoreFull(limit: Int)

    /// The response status and reason.
    public var status: (code: Int, reason: String) {
        switch self {
        case .notSIPAOR: return (400, "AOR Must Be A SIP URI")
        case .invalidWildcard: return (400, "Invalid Wildcard Contact")
        case .invalidContact: return (400, "Invalid Contact")
        case .intervalTooBrief: return (423, "Interval Too Brief")
        case .tooManyContacts: return (403, "Too Many Contacts")
        case .contactTooLong: return (400, "Contact Too Long")
        case .locationStoreFull: return (503, "Location Store Full")
        case .queryRefused: return (403, "Forbidden")
        }
    }
}
