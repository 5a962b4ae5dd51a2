// ConfigSchema: a config file with a misspelt key or a value of the wrong kind is refused with its line, instead
// of being ignored while the default stays in force.

import Testing

@testable import SIPProxy

@Suite("Config file schema")
struct ConfigSchemaTests {
    static func error(_ text: String) -> String? {
        do {
            try ConfigSchema.check(text, name: "proxy.yaml")
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("every documented setting is accepted")
    func valid() {
        let text = """
            listen: ["127.0.0.1:5060", "tls:127.0.0.1:5061"]
            domains: [lab.example]
            advertise: sip.lab.example
            log_level: info
            workers: 2
            relay: local
            follow_redirects: false
            tls: {certificate: cert.pem, key: key.pem}
            trace:
              enabled: true
              directory: traces
              max_files: 10
              max_size: 10MB
              duration: 1h
            registrar:
              min_expires: 60
              max_expires: 86400
              default_expires: 3600
              max_contacts: 10
              max_bindings: 100000
            limits:
              max_message_size: 65535
              rate_limit: 400/2
              rate_limit_ban: 60
              overload_delay: 200ms
              retry_after: 5
            forwarding:
              bob: {busy: carol, no_answer_after: 15}
            advertise_unused:
            """
        #expect(Self.error(text)?.contains("unknown setting 'advertise_unused'") == true)
        #expect(Self.error(text.replacingOccurrences(of: "\nadvertise_unused:", with: "")) == nil)
        #expect(Self.error("") == nil, "an empty file is fine")
        #expect(Self.error("registrar:\n  min_expires:\n") == nil, "an empty value keeps the default")
    }

    @Test("a misspelt key names its line and the setting meant")
    func unknownKey() {
        #expect(Self.error("log_level: info\nregistar:\n  min_expires: 60\n")
            == "proxy.yaml line 2: unknown setting 'registar' (did you mean 'registrar'?)")
        #expect(Self.error("trace:\n  max_file: 3\n") == "proxy.yaml line 2: unknown setting 'trace.max_file' (did you mean 'trace.max_files'?)")
        #expect(Self.error("colour: red\n") == "proxy.yaml line 1: unknown setting 'colour'")
    }

    @Test("a value of the wrong kind names its line")
    func wrongKind() {
        #expect(Self.error("registrar:\n  min_expires: sixty\n")
            == "proxy.yaml line 2: 'registrar.min_expires' takes a whole number, not 'sixty'")
        #expect(Self.error("follow_redirects: maybe\n")?.contains("takes true or false") == true)
        #expect(Self.error("listen: 127.0.0.1:5060\n")?.contains("'listen' takes a list") == true)
        #expect(Self.error("trace: on\n")?.contains("'trace' takes a mapping") == true)
        #expect(Self.error("advertise: [a, b]\n")?.contains("takes a single value") == true)
        #expect(Self.error("- a\n- b\n")?.contains("must map settings") == true)
        #expect(Self.error("registrar: [\n")?.contains("not valid YAML") == true)
    }
}
