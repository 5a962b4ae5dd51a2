// `sipctl serve` options that export what the proxy does to other tools (issue 16): `--hep udp:HOST:PORT`,
// `--hep-id`, `--hep-password` (HEP to Homer) and `--metrics IP:PORT` (Prometheus), and their YAML keys
// (`hep.collector`, `hep.id`, `hep.password`, `metrics`).

import ArgumentParser
import Configuration
import NIOCore
import SIPProxy

struct ObservabilityOptions: ParsableArguments {
    @Option(name: .long, help: "Send every SIP message (and relayed RTCP) as HEPv3 to a Homer collector: udp:IP:PORT.")
    var hep: String?

    @Option(name: .long, help: "HEP capture agent id (default 2001).")
    var hepId: Int?

    @Option(name: .long, help: "HEP auth key (password) the collector expects.")
    var hepPassword: String?

    @Option(name: .long, help: "Serve Prometheus metrics on http://IP:PORT/metrics and /health, e.g. 127.0.0.1:9090.")
    var metrics: String?

    /// The flags over what the config file set.
    func apply(to settings: inout ProxyConfiguration) throws {
        try Self.apply(
            collector: self.hep, id: self.hepId, password: self.hepPassword, metrics: self.metrics,
            source: { "--\($0)" }, to: &settings
        )
    }

    /// `hep:` (`collector`, `id`, `password`) and `metrics:` in a config file.
    static func apply(reader: ConfigReader, path: String, to settings: inout ProxyConfiguration) throws {
        try Self.apply(
            collector: reader.string(forKey: "hep.collector"), id: reader.int(forKey: "hep.id"),
            password: reader.string(forKey: "hep.password"), metrics: reader.string(forKey: "metrics"),
            source: { name in name == "metrics" ? "metrics in \(path)" : "hep.\(name.dropFirst(4)) in \(path)" },
            to: &settings
        )
    }

    private static func apply(
        collector: String?, id: Int?, password: String?, metrics: String?, source: (String) -> String,
        to settings: inout ProxyConfiguration
    ) throws {
        if let collector {
            let address = try HEPSettings.parseCollector(collector)
            if settings.hep == nil {
                settings.hep = HEPSettings(collector: address)
            } else {
                settings.hep?.collector = address
            }
        }
        if let id {
            guard let value = UInt32(exactly: id) else {
                throw ConfigurationError("invalid \(source("hep-id")) \(id): 0 to \(UInt32.max)")
            }
            guard settings.hep != nil else { throw ConfigurationError("\(source("hep-id")) needs --hep udp:IP:PORT") }
            settings.hep?.captureID = value
        }
        if let password {
            guard settings.hep != nil else {
                throw ConfigurationError("\(source("hep-password")) needs --hep udp:IP:PORT")
            }
            settings.hep?.password = password.isEmpty ? nil : password
        }
        if let metrics {
            settings.metrics = try MetricsSettings.parseAddress(metrics, source: source("metrics"))
        }
    }
}
