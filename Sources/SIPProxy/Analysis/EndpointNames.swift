// EndpointNames: who is at each address of a capture, learned from the messages, so a ladder's lifelines read
// `alice`, `proxy`, `bob` instead of `127.0.2.11:5060` (sngrep and Wireshark's flow graph show addresses only).
//
// What a capture tells, strongest first:
// - a proxy adds its own Via: the sender of a request with two or more Via values is a proxy, and so is the sender
//   of a response to REGISTER (a registrar);
// - a phone registers its own address: the sender of a REGISTER is the user of its To (the address of record);
// - a phone sends requests with one Via and its user in From (the caller's INVITE, the callee's BYE), and answers
//   a proxied request (two Vias or more) with its user in To;
// - a proxy sends a request to the Contact a phone registered: its Request-URI names the destination;
// - without a proxy, the phone answering is the user in To.
// A TCP phone's ephemeral port gets its name the same way, so its connection is not a column of its own.

/// Names learned per endpoint; fed every message of a capture, in any order.
public struct EndpointNames: Sendable {
    /// The name and how strong its evidence is (lower wins).
    private var learned: [Endpoint: (name: String, rank: Int)] = [:]
    private var proxies: Set<Endpoint> = []

    public init() {}

    /// The name for an endpoint, nil when nothing was learned.
    public func name(of endpoint: Endpoint) -> String? {
        if self.proxies.contains(endpoint) { return "proxy" }
        return self.learned[endpoint]?.name
    }

    /// An address known to be the proxy's own (a live view is told the proxy's listeners).
    public mutating func markProxy(_ endpoint: Endpoint) {
        self.proxies.insert(endpoint)
    }

    public mutating func observe(_ message: CapturedMessage) {
        let info = message.info
        if info.isRequest {
            if info.viaCount >= 2 {
                self.proxies.insert(message.source)
                // Where a proxy sends a request, the Request-URI names who is there (a registered Contact),
                // even if that address never answers.
                self.learn(Self.user(of: info.requestURI), for: message.destination, rank: 2)
                return
            }
            if info.method == "REGISTER" {
                self.learn(Self.user(of: info.to), for: message.source, rank: 0)
            } else if info.method != "ACK" && info.method != "CANCEL" {
                self.learn(Self.user(of: info.from), for: message.source, rank: 1)
            }
        } else {
            if info.method == "REGISTER" {
                self.proxies.insert(message.source)
            } else if info.viaCount >= 2 {
                self.learn(Self.user(of: info.to), for: message.source, rank: 1)
            } else if info.method != "CANCEL" {
                // One Via: a phone answering directly, or a proxy relaying upstream (then "proxy" wins anyway).
                self.learn(Self.user(of: info.to), for: message.source, rank: 3)
            }
        }
    }

    private mutating func learn(_ name: String?, for endpoint: Endpoint, rank: Int) {
        guard let name, !name.isEmpty else { return }
        if let known = self.learned[endpoint], known.rank <= rank { return }
        self.learned[endpoint] = (name, rank)
    }

    /// `alice` of `sip:alice@lab.example;transport=tcp`; nil without a user part.
    static func user(of uri: String) -> String? {
        guard let colon = uri.firstIndex(of: ":"), let at = uri.firstIndex(of: "@"), colon < at else { return nil }
        let user = uri[uri.index(after: colon)..<at].prefix { $0 != ";" && $0 != ":" }
        return user.isEmpty ? nil : String(user)
    }
}
