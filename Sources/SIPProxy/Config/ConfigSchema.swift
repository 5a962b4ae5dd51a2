// ConfigSchema: the keys `sipctl serve --config FILE` understands and the kind of value each takes, checked before
// the file is applied. A misspelt key (`registar:`) or a value of the wrong kind (`min_expires: sixty`) used to be
// ignored without a word, leaving the default in force; now the file is refused with its line and, for a key,
// the nearest known name.

import Yams

public enum ConfigSchema {
    enum Kind {
        case string
        case integer
        case boolean
        /// A list of strings (a single string is refused: the reader would ignore it).
        case list
        /// A mapping whose keys are listed here with the section's name as prefix (`trace.max_files`).
        case section
        /// Checked by its own parser (`forwarding:` users to rules).
        case checkedElsewhere
    }

    static let keys: [String: Kind] = [
        "listen": .list, "domains": .list, "advertise": .string, "log_level": .string, "phrases": .string,
        "relay": .string, "auth": .string, "journal": .string, "journal_db": .string, "workers": .integer,
        "registrations": .string, "instance_id": .string, "location": .string,
        "follow_redirects": .boolean, "forwarding_state": .string, "forwarding_hop_limit": .integer,
        "forwarding": .checkedElsewhere, "trace_group": .string,
        "tls": .section, "tls.certificate": .string, "tls.key": .string,
        "tls.ca": .string, "tls.verify": .boolean,
        "trace": .section, "trace.enabled": .boolean, "trace.directory": .string, "trace.max_files": .integer,
        "trace.max_size": .string, "trace.duration": .string,
        "registrar": .section, "registrar.min_expires": .integer, "registrar.max_expires": .integer,
        "registrar.default_expires": .integer, "registrar.max_contacts": .integer, "registrar.max_bindings": .integer,
        "limits": .section, "limits.max_message_size": .integer, "limits.max_connections": .integer,
        "limits.max_connections_per_source": .integer, "limits.tcp_idle_timeout": .integer,
        "limits.rate_limit": .string, "limits.rate_limit_ban": .integer, "limits.max_transactions": .integer,
        "limits.overload_delay": .string, "limits.retry_after": .integer,
        "media": .section, "media.mode": .string, "media.rtp_ports": .string, "media.address": .string,
        "media.timeout": .string, "media.trace_rtp": .string, "media.always_relay": .list, "media.never_relay": .list,
        // `conferences:` holds strings or {name, pin} mappings: ConferenceConfig reads it, with lines.
        "conferences": .checkedElsewhere, "conference_size": .integer, "conference_factory": .string,
        "conference_participants": .integer,
        "dns": .section, "dns.servers": .list, "dns.failover_timeout": .string,
        "hep": .section, "hep.collector": .string, "hep.id": .integer, "hep.password": .string, "metrics": .string,
    ]

    /// Throws `ConfigurationError` ("FILE line N: ...") for an unknown key or a value of the wrong kind.
    public static func check(_ text: String, name: String) throws {
        let root: Node?
        do throws(YAMLDocument.SyntaxError) {
            root = try YAMLDocument.compose(text)
        } catch {
            throw ConfigurationError("\(name)\(error.line.map { " line \($0)" } ?? ""): \(error.message)")
        }
        guard let root else { return }
        guard case .mapping(let top) = root else {
            throw ConfigurationError("\(name): the file must map settings to values (key: value)")
        }
        try self.check(top, prefix: "", name: name)
    }

    private static func check(_ mapping: Node.Mapping, prefix: String, name: String) throws {
        for (keyNode, value) in mapping {
            let key = prefix + (keyNode.scalar?.string ?? "")
            func fail(_ message: String, _ node: Node) -> ConfigurationError {
                ConfigurationError("\(name)\(node.mark.map { " line \($0.line)" } ?? ""): \(message)")
            }
            guard let kind = self.keys[key] else {
                let suggestion = self.nearest(to: key).map { " (did you mean '\($0)'?)" } ?? ""
                throw fail("unknown setting '\(key)'\(suggestion)", keyNode)
            }
            if case .scalar(let s) = value, s.tag == .implicit, ["", "~", "null"].contains(s.string), s.style == .plain {
                continue  // an empty value leaves the default
            }
            switch kind {
            case .string:
                guard value.scalar != nil else { throw fail("'\(key)' takes a single value", value) }
            case .integer:
                guard let text = value.scalar?.string, Int(text) != nil else {
                    throw fail("'\(key)' takes a whole number, not '\(value.scalar?.string ?? "a list or mapping")'", value)
                }
            case .boolean:
                guard let text = value.scalar?.string.lowercased(), text == "true" || text == "false" else {
                    throw fail("'\(key)' takes true or false, not '\(value.scalar?.string ?? "a list or mapping")'", value)
                }
            case .list:
                guard case .sequence(let items) = value, items.allSatisfy({ $0.scalar != nil }) else {
                    throw fail("'\(key)' takes a list (- item per line, or [a, b])", value)
                }
            case .section:
                guard case .mapping(let inner) = value else { throw fail("'\(key)' takes a mapping of settings", value) }
                try self.check(inner, prefix: key + ".", name: name)
            case .checkedElsewhere:
                continue
            }
        }
    }

    /// The known key closest to `key` (edit distance at most 3), for "did you mean".
    static func nearest(to key: String) -> String? {
        let candidates = self.keys.keys.map { ($0, self.distance(Array(key), Array($0))) }.filter { $0.1 <= 3 }
        return candidates.min { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }?.0
    }

    private static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
