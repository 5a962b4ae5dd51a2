// SIPServerLocator: the client procedure of RFC 3263 §4 as a pure state machine. It asks questions and takes
// answers; the resolver (DNSResolver) does the asking, so the selection logic is tested without sockets.
//
//     host is an IP, or a port is given ---------------------------------------> A / AAAA (port or default)
//     transport given, no port -------------------------> SRV of that transport -> A / AAAA of each target
//     nothing given --> NAPTR --(SIP+D2U, SIP+D2T, SIPS+D2T)--> SRV (replacement) -> A / AAAA of each target
//                          \--(none usable)--> SRV _sip._udp, _sip._tcp, _sips._tcp  -/
//     no SRV at all -----------------------------------------------------------> A / AAAA, port 5060 (5061 TLS)

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one question got.
public enum DNSLookupResult: Sendable, Equatable {
    /// Records of the asked type (CNAMEs already followed); empty for NODATA.
    case records([DNSRecord])
    /// NXDOMAIN.
    case nameError
    /// No usable answer (timeout, SERVFAIL, malformed, truncated).
    case failure(DNSError)

    var records: [DNSRecord] {
        if case .records(let records) = self { return records }
        return []
    }
}

/// RFC 3263 §4: the ordered transport/address/port targets for a SIP URI's host.
public struct SIPServerLocator: Sendable {
    /// One place to send the request.
    public struct Target: Hashable, Sendable, CustomStringConvertible {
        public var transport: TransportKind
        public var ip: String
        public var port: Int
        /// The DNS name the address belongs to (an SRV target, or the host): for logs.
        public var name: String

        public var description: String { "\(self.transport.rawValue.lowercased()):\(self.name)(\(self.ip)):\(self.port)" }
    }

    /// What to do next.
    public enum Step: Sendable, Equatable {
        /// Ask these questions (all at once) and hand every answer to `next`.
        case lookup([DNSQuestion])
        /// Try these targets in order; `failed` when DNS itself failed (rather than the name having no records).
        case done([Target], failed: Bool)
    }

    /// One SRV name to ask, for a transport.
    struct Service: Sendable, Equatable {
        var name: String
        var transport: TransportKind
    }

    /// A host with a port and transport, whose addresses are still to be found.
    struct Endpoint: Sendable, Equatable {
        var name: String
        var port: Int
        var transport: TransportKind
    }

    enum Phase: Sendable {
        case start
        case naptr
        case srv([Service])
        case address([Endpoint])
        case finished
    }

    let host: String
    let port: Int?
    let transport: TransportKind?
    let secure: Bool
    /// Transports the proxy can send on (it never picks one it has no listener for).
    let supported: Set<TransportKind>
    /// A, AAAA or both, in the order tried.
    let families: [DNSRecordType]
    /// Draws the RFC 2782 weighted order: a number in 0...upperBound.
    let random: @Sendable (Int) -> Int
    private var phase = Phase.start
    private var sawFailure = false

    /// - Parameters:
    ///   - transport: the URI's `transport` parameter, if any.
    ///   - secure: a `sips:` URI (only TLS targets qualify, RFC 3263 §4.1).
    public init(
        host: String,
        port: Int?,
        transport: TransportKind?,
        secure: Bool,
        supported: Set<TransportKind>,
        families: [DNSRecordType] = [.a, .aaaa],
        random: @escaping @Sendable (Int) -> Int = { Int.random(in: 0...$0) }
    ) {
        self.host = DNSQuestion.canonical(host)
        self.port = port
        self.transport = secure ? .tls : transport
        self.secure = secure
        self.supported = supported
        self.families = families
        self.random = random
    }

    /// The locator for a URI (RFC 3263 §4: `maddr` wins over the host).
    public init(uri: SIPURI, supported: Set<TransportKind>, families: [DNSRecordType] = [.a, .aaaa]) {
        let explicit: TransportKind? = uri.transport == nil ? nil : TransportKind(uri: uri)
        self.init(
            host: SIPURI(host: uri.maddr ?? uri.host).bareHost, port: uri.port, transport: explicit,
            secure: uri.scheme == "sips", supported: supported, families: families
        )
    }

    /// SRV targets kept, in order (the rest are never tried).
    static let maxEndpoints = 16

    static func defaultPort(_ transport: TransportKind) -> Int { transport == .tls ? 5061 : 5060 }

    /// The first step.
    public mutating func start() -> Step {
        if SIPServerLocator.isIPLiteral(self.host) {
            // §4.1-4.2: a numeric host needs no DNS at all.
            let transport = self.transport ?? .udp
            let port = self.port ?? Self.defaultPort(transport)
            self.phase = .finished
            guard self.supported.contains(transport) else { return .done([], failed: false) }
            return .done([Target(transport: transport, ip: self.host, port: port, name: self.host)], failed: false)
        }
        if let port = self.port {
            // §4.2: "If the TARGET was not a numeric IP address, but a port is present in the URI, the client
            // performs an A or AAAA record lookup of the domain name."
            return self.askAddresses([Endpoint(name: self.host, port: port, transport: self.transport ?? .udp)])
        }
        if let transport = self.transport {
            // §4.2: a transport but no port: the SRV record for that transport.
            return self.askServices([Service(name: Self.srvName(transport, self.host), transport: transport)])
        }
        // §4.1: no transport, no port: NAPTR first.
        self.phase = .naptr
        return .lookup([DNSQuestion(self.host, .naptr)])
    }

    /// Feeds the answers to the last `lookup` step.
    public mutating func next(_ answers: [DNSQuestion: DNSLookupResult]) -> Step {
        for answer in answers.values {
            if case .failure = answer { self.sawFailure = true }
        }
        switch self.phase {
        case .start, .finished:
            return .done([], failed: self.sawFailure)
        case .naptr:
            let naptr = answers[DNSQuestion(self.host, .naptr)]?.records ?? []
            let services = self.services(fromNAPTR: naptr)
            if !services.isEmpty { return self.askServices(services) }
            // §4.1: no (usable) NAPTR: SRV for each transport the client supports, in its order of preference.
            let all: [TransportKind] = self.secure ? [.tls] : [.udp, .tcp, .tls]
            return self.askServices(
                all.filter { self.supported.contains($0) }.map { Service(name: Self.srvName($0, self.host), transport: $0) }
            )
        case .srv(let services):
            var endpoints: [Endpoint] = []
            for service in services {
                let records = (answers[DNSQuestion(service.name, .srv)]?.records ?? []).compactMap { record -> SRVRecord? in
                    if case .srv(let srv) = record.data { return srv }
                    return nil
                }
                // RFC 2782: a single record with target "." means the service is decidedly not available.
                for srv in SRVOrdering.order(records, random: self.random) where !srv.target.isEmpty {
                    endpoints.append(Endpoint(name: srv.target, port: Int(srv.port), transport: service.transport))
                }
            }
            // A bound on the work one request can cause: a hostile zone could list hundreds of SRV targets, each
            // an A and AAAA lookup and, if silent, a failover wait. Sixteen is more than any real SIP service.
            endpoints = Array(endpoints.prefix(Self.maxEndpoints))
            if endpoints.isEmpty {
                // §4.2: no SRV records: A/AAAA of the host, default port; UDP unless a transport was asked for.
                let transport = self.transport ?? .udp
                return self.askAddresses([Endpoint(name: self.host, port: Self.defaultPort(transport), transport: transport)])
            }
            return self.askAddresses(endpoints)
        case .address(let endpoints):
            self.phase = .finished
            var targets: [Target] = []
            var seen = Set<Target>()
            for endpoint in endpoints {
                for family in self.families {
                    for record in answers[DNSQuestion(endpoint.name, family)]?.records ?? [] {
                        let ip: String
                        switch record.data {
                        case .a(let v4): ip = v4
                        case .aaaa(let v6): ip = v6
                        default: continue
                        }
                        let target = Target(transport: endpoint.transport, ip: ip, port: endpoint.port, name: endpoint.name)
                        if seen.insert(target).inserted { targets.append(target) }
                    }
                }
            }
            return .done(targets, failed: targets.isEmpty && self.sawFailure)
        }
    }

    /// §4.1: NAPTR records with the "s" flag and a SIP service the client supports, by order then preference
    /// (RFC 3403 §4.1); for a sips URI only SIPS+D2T.
    func services(fromNAPTR records: [DNSRecord]) -> [Service] {
        let naptrs = records.compactMap { record -> NAPTRRecord? in
            if case .naptr(let naptr) = record.data { return naptr }
            return nil
        }.sorted { ($0.order, $0.preference) < ($1.order, $1.preference) }
        var result: [Service] = []
        for naptr in naptrs where naptr.flags == "s" && !naptr.replacement.isEmpty {
            let transport: TransportKind
            switch naptr.services {
            case "SIP+D2U" where !self.secure: transport = .udp
            case "SIP+D2T" where !self.secure: transport = .tcp
            case "SIPS+D2T": transport = .tls
            default: continue
            }
            let service = Service(name: naptr.replacement, transport: transport)
            if self.supported.contains(transport), !result.contains(service) { result.append(service) }
        }
        return result
    }

    private mutating func askServices(_ services: [Service]) -> Step {
        guard !services.isEmpty else {
            self.phase = .finished
            return .done([], failed: self.sawFailure)
        }
        self.phase = .srv(services)
        return .lookup(services.map { DNSQuestion($0.name, .srv) })
    }

    private mutating func askAddresses(_ endpoints: [Endpoint]) -> Step {
        let usable = endpoints.filter { self.supported.contains($0.transport) }
        guard !usable.isEmpty else {
            self.phase = .finished
            return .done([], failed: self.sawFailure)
        }
        self.phase = .address(usable)
        var questions: [DNSQuestion] = []
        for endpoint in usable {
            for family in self.families where !questions.contains(DNSQuestion(endpoint.name, family)) {
                questions.append(DNSQuestion(endpoint.name, family))
            }
        }
        return .lookup(questions)
    }

    /// `_sip._udp.example.com` (RFC 3263 §4.1, RFC 2782): `_sips._tcp` for TLS.
    static func srvName(_ transport: TransportKind, _ host: String) -> String {
        switch transport {
        case .udp: return "_sip._udp.\(host)"
        case .tcp: return "_sip._tcp.\(host)"
        case .tls: return "_sips._tcp.\(host)"
        }
    }

    /// Whether a host is an IPv4 or IPv6 literal (no DNS needed).
    public static func isIPLiteral(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
