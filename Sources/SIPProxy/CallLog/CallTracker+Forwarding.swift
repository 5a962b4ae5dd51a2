// CallTracker+Forwarding: the journal's forwarding fields, read from the INVITEs the proxy sends.
//
// The proxy marks every forwarded INVITE with Diversion (RFC 5806) and History-Info (RFC 7044) headers; the
// tracker takes the forward from them, so the record says what the callee's phone was told:
//
//     Diversion: <sip:bob@proxy>;reason=user-busy;counter=1
//     History-Info: <sip:bob@proxy>;index=1, <sip:carol@proxy;cause=486>;index=1.1;mp=1
//     -> forwardedTo "sip:carol@proxy", forwardReason "user-busy", forwardChain ["sip:carol@proxy"]

extension CallTracker {
    /// Fills `forwardedTo`, `forwardReason` and `forwardChain` from a sent initial INVITE, if it was forwarded.
    static func noteForwarding(_ request: SIPRequest, in record: inout CallRecord) {
        guard let top = request.headers.values("diversion").first, let diversion = NameAddress.parse(top) else {
            return
        }
        let entries = request.headers.values("history-info").compactMap { NameAddress.parse($0) }
        // Entries after the first are the forwards (the first is the Request-URI the caller used).
        let chain = entries.dropFirst().map { entry -> String in
            var uri = entry.uri
            uri.parameters.remove("cause")
            return uri.aorKey
        }
        record.forwardReason = diversion.parameters["reason"]
        if let last = chain.last {
            record.forwardedTo = last
            record.forwardChain = chain
        } else {
            record.forwardedTo = request.uri.aorKey
        }
    }
}
