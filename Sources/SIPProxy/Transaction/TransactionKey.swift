// TransactionKey: the keys that match messages to transactions (RFC 3261 §17.1.3 and §17.2.3).

/// The key of a transaction in the transaction layer's tables.
///
/// Server keys follow RFC 3261 §17.2.3: the top Via branch, its sent-by and the method, ACK counting as INVITE.
/// Client keys follow §17.1.3: the branch the proxy put in its own Via and the CSeq method; `sentBy` is empty.
/// The branch is compared as written (case-sensitively).
public struct TransactionKey: Hashable, Sendable {
    public var branch: String
    /// Lower-cased `host[:port]` of the top Via (server side); "" for client keys.
    public var sentBy: String
    /// The request method; ACK maps to INVITE, CANCEL stays CANCEL (RFC 3261 §9.2, §17.2.3).
    public var method: SIPMethod

    public init(branch: String, sentBy: String, method: SIPMethod) {
        self.branch = branch
        self.sentBy = sentBy
        self.method = Self.keyMethod(method)
    }

    /// The server transaction key of a received request, nil when the top Via has no RFC 3261 branch (RFC 2543
    /// peers, whose requests §17.2.3 matches by other means).
    public static func server(for request: SIPRequest) -> TransactionKey? {
        guard let via = request.topVia, via.hasRFC3261Branch, let branch = via.branch else { return nil }
        // RFC 3261 §17.2.3: branch, sent-by, and method (ACK matches the INVITE).
        return TransactionKey(branch: branch, sentBy: via.sentBy, method: request.method)
    }

    /// The client transaction key for a branch the proxy generated (RFC 3261 §17.1.3).
    public static func client(branch: String, method: SIPMethod) -> TransactionKey {
        TransactionKey(branch: branch, sentBy: "", method: method)
    }

    /// The client transaction key of a received response: its top Via branch and its CSeq method (RFC 3261
    /// §17.1.3). Nil when the top Via has no branch.
    public static func client(for response: SIPResponse) -> TransactionKey? {
        guard let branch = response.topVia?.branch, !branch.isEmpty else { return nil }
        return TransactionKey(branch: branch, sentBy: "", method: response.cseq.method)
    }

    /// ACK belongs to the INVITE transaction (RFC 3261 §17.2.3); every other method keys as itself.
    private static func keyMethod(_ method: SIPMethod) -> SIPMethod {
        method == .ack ? .invite : method
    }
}
