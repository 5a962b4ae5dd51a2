// RelayPolicy: whom the proxy forwards requests for (`sipctl serve --relay`).
//
// A proxy that forwards anything to anywhere is an open relay: toll fraud, spam, a port scanner (a Request-URI with
// `;transport=tcp` opens a TCP connection to any host and port) and a reflector for attacks. RFC 3261 §16.3 leaves
// policy to the proxy ("a proxy MAY ... refuse"); §26.3.2.4 asks proxies to protect themselves from such abuse.

/// Forwarding policy.
public enum RelayPolicy: String, Sendable, CaseIterable {
    /// Forward to the proxy's own users and domains; to other destinations only for registered (or, with
    /// authentication, authenticated) sources and for in-dialog requests that carry the proxy's Record-Route.
    /// Everything else gets 403 and nothing is sent onward.
    case local
    /// Forward every well-formed request (a closed lab where the proxy is a teaching tool only).
    case any
}
