// ForwardingRules: per-user call forwarding on the proxy (unconditional, busy, no answer, unavailable) and the
// pure planning of forwarding chains. No I/O here: `ForwardingStore` persists, `ProxyCore+Forwarding` applies.
//
//     forwarding:                 # YAML config file (sipctl serve --config)
//       bob:
//         always: carol           # a user of this proxy ...
//       carol:
//         busy: sip:desk@127.0.0.13:5060   # ... or any SIP URI
//         no_answer: dave
//         no_answer_after: 15     # seconds (default 15)
//         unavailable: dave       # no binding, 480 or 408 from the phones
//
// Chains are followed up to `ForwardingPlanner.defaultHopLimit` forwards. Loops (bob -> carol -> bob) stop: an
// unconditional loop, where no phone could ever ring, is answered 482 Loop Detected; a conditional one (bob busy ->
// carol, carol busy -> bob) ends at the repeat and the caller gets the last target's final response. More
// forwards than the limit give 483 Too Many Hops for an unconditional chain; a conditional chain just stops.

import Foundation
import Yams

/// What made the proxy forward a call.
public enum ForwardingCondition: String, Sendable, Codable, CaseIterable, Hashable {
    /// `always`: every call, the user's phones are not rung.
    case unconditional
    /// 486 Busy Here / 600 Busy Everywhere from the user's phones.
    case busy
    /// Nobody answered within the rule's `after` seconds: the proxy cancels the phones and tries the target.
    case noAnswer = "no-answer"
    /// No binding, or 480 / 408 (or an unreachable phone) from the phones.
    case unavailable
    /// A 3xx from a phone whose Contacts the proxy followed (RFC 3261 §16.7 step 4).
    case redirect

    /// The `reason` of a Diversion header (RFC 5806 §4: diversion-reason).
    public var diversionReason: String {
        switch self {
        case .unconditional: return "unconditional"
        case .busy: return "user-busy"
        case .noAnswer: return "no-answer"
        case .unavailable: return "unavailable"
        case .redirect: return "deflection"
        }
    }

    /// The `cause` URI parameter of a History-Info entry (RFC 4458 §3.3, RFC 7044 §10.1).
    public var historyCause: Int {
        switch self {
        case .unconditional: return 302
        case .busy: return 486
        case .noAnswer: return 408
        case .unavailable: return 480
        case .redirect: return 302
        }
    }

    /// The word in log lines: `forwarded to carol (busy)`.
    public var logWord: String {
        switch self {
        case .unconditional: return "always"
        default: return self.rawValue
        }
    }
}

/// One user's forwarding rules. Targets are kept as written (`carol`, `sip:carol@proxy`, `sip:desk@10.0.0.5`):
/// whether a URI names a user of this proxy depends on its addresses, so they are resolved when a call comes.
public struct ForwardingRule: Sendable, Codable, Equatable {
    public var always: String?
    public var busy: String?
    public var noAnswer: String?
    /// Seconds the user's phones ring before `noAnswer` is tried (default 15).
    public var noAnswerAfter: Int?
    public var unavailable: String?

    public static let defaultNoAnswerAfter = 15

    public init(
        always: String? = nil,
        busy: String? = nil,
        noAnswer: String? = nil,
        noAnswerAfter: Int? = nil,
        unavailable: String? = nil
    ) {
        self.always = always
        self.busy = busy
        self.noAnswer = noAnswer
        self.noAnswerAfter = noAnswerAfter
        self.unavailable = unavailable
    }

    /// No target at all (a cleared user).
    public var isEmpty: Bool {
        self.always == nil && self.busy == nil && self.noAnswer == nil && self.unavailable == nil
    }

    /// The target for a condition (`redirect` has none: the 3xx carries its own).
    public func target(for condition: ForwardingCondition) -> String? {
        switch condition {
        case .unconditional: return self.always
        case .busy: return self.busy
        case .noAnswer: return self.noAnswer
        case .unavailable: return self.unavailable
        case .redirect: return nil
        }
    }

    /// Seconds before the no-answer target is tried, within the 1-3600 that `validate` accepts (a rule that skipped
    /// validation still gets a sane timer).
    public var noAnswerSeconds: Int { min(3600, max(1, self.noAnswerAfter ?? Self.defaultNoAnswerAfter)) }

    /// Checks every target parses and the timer is positive.
    public func validate() throws(ForwardingError) {
        for (name, value) in [("always", always), ("busy", busy), ("no-answer", noAnswer), ("unavailable", unavailable)] {
            guard let value else { continue }
            guard ForwardingDestination.isValid(value) else {
                throw ForwardingError("invalid \(name) target '\(value)': expected a user name or a sip: URI")
            }
        }
        if let after = self.noAnswerAfter, after < 1 || after > 3600 {
            throw ForwardingError("no-answer delay must be 1-3600 seconds, not \(after)")
        }
    }

    /// `always carol, busy sip:desk@..., no-answer dave after 15 s`.
    public var summary: String {
        var parts: [String] = []
        if let v = self.always { parts.append("always \(v)") }
        if let v = self.busy { parts.append("busy \(v)") }
        if let v = self.noAnswer { parts.append("no-answer \(v) after \(self.noAnswerSeconds) s") }
        if let v = self.unavailable { parts.append("unavailable \(v)") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}

/// A bad rule, config section or state file.
public struct ForwardingError: Error, Sendable, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Where a forwarded call goes.
public enum ForwardingDestination: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// A user of this proxy, by user key (looked up in the location store).
    case user(String)
    /// Any other SIP URI, forwarded to as it is.
    case uri(SIPURI)

    /// `carol` or `sip:carol@<this proxy>` -> `.user("carol")`; another SIP URI -> `.uri`; nil when unparsable.
    public static func parse(_ text: String, isLocal: (SIPURI) -> Bool) -> ForwardingDestination? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return nil }
        if !trimmed.contains(":") && !trimmed.contains("@") {
            guard trimmed.allSatisfy({ !$0.isWhitespace && $0 != ";" && $0 != "<" && $0 != ">" }) else { return nil }
            return .user(trimmed)
        }
        var uriText = trimmed
        if uriText.hasPrefix("<") && uriText.hasSuffix(">") { uriText = String(uriText.dropFirst().dropLast()) }
        if !uriText.lowercased().hasPrefix("sip:") && !uriText.lowercased().hasPrefix("sips:") {
            uriText = "sip:" + uriText
        }
        guard let uri = SIPURI.parse(uriText), uri.isSIP else { return nil }
        if isLocal(uri), let user = uri.user, !user.isEmpty { return .user(LocationStore.userKey(uri)) }
        return .uri(uri)
    }

    /// Syntax check without knowing the proxy's addresses.
    public static func isValid(_ text: String) -> Bool { Self.parse(text, isLocal: { _ in false }) != nil }

    /// The key of the loop check: the user, or the URI without parameters.
    var visitKey: String {
        switch self {
        case .user(let user): return "user:\(user)"
        case .uri(let uri): return "uri:\(uri.aorKey):\(uri.port ?? 5060)"
        }
    }

    /// The user name for log lines, or the URI.
    public var description: String {
        switch self {
        case .user(let user): return user
        case .uri(let uri): return uri.serialized
        }
    }
}

/// One forward of a chain: `from` (a user of the proxy) sent the call to `to` because of `reason`.
public struct ForwardingHop: Sendable, Equatable {
    public var from: String
    public var to: ForwardingDestination
    public var reason: ForwardingCondition

    public init(from: String, to: ForwardingDestination, reason: ForwardingCondition) {
        self.from = from
        self.to = to
        self.reason = reason
    }
}

/// The result of following rules from a user or a failure.
public struct ForwardingPlan: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// Ring this user's registered phones.
        case user(String)
        /// Send to this URI.
        case uri(SIPURI)
        /// The user has no usable binding and no rule for it.
        case unavailable(String)
        /// The chain came back to a user or URI already tried.
        case loop
        /// More forwards than the limit.
        case tooManyHops
        /// The failed user has no rule for the condition: nothing more to try.
        case none
    }

    /// The forwards taken by this plan (not those before it).
    public var hops: [ForwardingHop]
    public var outcome: Outcome
}

/// Follows forwarding chains. Pure: the rules, the visited set and the registration check are passed in.
public struct ForwardingPlanner {
    /// Forwards one call may take (every hop counts: always, busy, no-answer, unavailable, redirect).
    public static let defaultHopLimit = 5

    public var rules: [String: ForwardingRule]
    public var hopLimit: Int
    public var isLocal: (SIPURI) -> Bool
    /// Whether a user has a binding the proxy can use now.
    public var isRegistered: (String) -> Bool

    public init(
        rules: [String: ForwardingRule],
        hopLimit: Int = ForwardingPlanner.defaultHopLimit,
        isLocal: @escaping (SIPURI) -> Bool,
        isRegistered: @escaping (String) -> Bool
    ) {
        self.rules = rules
        self.hopLimit = hopLimit
        self.isLocal = isLocal
        self.isRegistered = isRegistered
    }

    /// Where a call to `user` goes: its `always` chain, then `unavailable` when the user reached has no binding.
    public func plan(callTo user: String, visited: inout Set<String>, hopsSoFar: Int = 0) -> ForwardingPlan {
        self.follow(.user(user), hops: [], visited: &visited, hopsSoFar: hopsSoFar)
    }

    /// Where a call goes after `user`'s phones failed with `condition` (busy, no answer, unavailable).
    public func plan(
        after condition: ForwardingCondition,
        of user: String,
        visited: inout Set<String>,
        hopsSoFar: Int
    ) -> ForwardingPlan {
        guard let text = self.rules[user]?.target(for: condition),
            let target = ForwardingDestination.parse(text, isLocal: self.isLocal)
        else { return ForwardingPlan(hops: [], outcome: .none) }
        let hop = ForwardingHop(from: user, to: target, reason: condition)
        return self.follow(target, hops: [hop], visited: &visited, hopsSoFar: hopsSoFar)
    }

    /// Where a redirect to `target` goes (a Contact of a 3xx from `user`'s phones).
    public func plan(
        redirectTo target: ForwardingDestination,
        from user: String,
        visited: inout Set<String>,
        hopsSoFar: Int
    ) -> ForwardingPlan {
        let hop = ForwardingHop(from: user, to: target, reason: .redirect)
        return self.follow(target, hops: [hop], visited: &visited, hopsSoFar: hopsSoFar)
    }

    private func follow(
        _ start: ForwardingDestination,
        hops initial: [ForwardingHop],
        visited: inout Set<String>,
        hopsSoFar: Int
    ) -> ForwardingPlan {
        var hops = initial
        var current = start
        while true {
            if hopsSoFar + hops.count > self.hopLimit { return ForwardingPlan(hops: hops, outcome: .tooManyHops) }
            if visited.contains(current.visitKey) { return ForwardingPlan(hops: hops, outcome: .loop) }
            visited.insert(current.visitKey)
            switch current {
            case .uri(let uri):
                return ForwardingPlan(hops: hops, outcome: .uri(uri))
            case .user(let user):
                let rule = self.rules[user]
                if let text = rule?.always, let next = ForwardingDestination.parse(text, isLocal: self.isLocal) {
                    hops.append(ForwardingHop(from: user, to: next, reason: .unconditional))
                    current = next
                    continue
                }
                if !self.isRegistered(user) {
                    if let text = rule?.unavailable, let next = ForwardingDestination.parse(text, isLocal: self.isLocal) {
                        hops.append(ForwardingHop(from: user, to: next, reason: .unavailable))
                        current = next
                        continue
                    }
                    return ForwardingPlan(hops: hops, outcome: .unavailable(user))
                }
                return ForwardingPlan(hops: hops, outcome: .user(user))
            }
        }
    }
}

// MARK: Headers

/// Diversion (RFC 5806) and History-Info (RFC 7044) values for a forwarded INVITE.
public enum ForwardingHeaders {
    /// The URI of a user at the address the caller used for the proxy (host and port of the original Request-URI).
    static func uri(of destination: ForwardingDestination, at base: SIPURI) -> SIPURI {
        switch destination {
        case .user(let user):
            return SIPURI(user: user, host: base.host, port: base.port)
        case .uri(let uri):
            return uri
        }
    }

    /// Diversion values, newest first (RFC 5806 §4: each diverting proxy adds its entry on top):
    /// `<sip:bob@proxy>;reason=user-busy;counter=1`.
    public static func diversion(_ hops: [ForwardingHop], base: SIPURI) -> [String] {
        hops.reversed().map { hop in
            "<\(SIPURI(user: hop.from, host: base.host, port: base.port).serialized)>;reason=\(hop.reason.diversionReason);counter=1"
        }
    }

    /// History-Info entries (RFC 7044 §9): the original Request-URI as index 1 (unless the request already has
    /// entries, then their last index is the parent), then one entry per forward with the RFC 4458 `cause` in
    /// the URI and `mp` (the target is another user) naming its parent: `<sip:bob@p>;index=1,
    /// <sip:carol@p;cause=486>;index=1.1;mp=1`.
    public static func historyInfo(_ hops: [ForwardingHop], original: SIPURI, existing: [String]) -> [String] {
        var entries: [String] = []
        var parent = "1"
        if let last = existing.last, let index = Self.index(of: last) {
            parent = index
        } else {
            var root = original
            root.parameters.remove("cause")
            entries.append("<\(root.serialized)>;index=1")
        }
        for hop in hops {
            var target = Self.uri(of: hop.to, at: original)
            target.parameters.set("cause", String(hop.reason.historyCause))
            let index = parent + ".1"
            entries.append("<\(target.serialized)>;index=\(index);mp=\(parent)")
            parent = index
        }
        return entries
    }

    /// The `index` parameter of a History-Info entry.
    static func index(of entry: String) -> String? {
        guard let address = NameAddress.parse(entry) else { return nil }
        return address.parameters["index"]
    }
}

// MARK: Parsing

extension ForwardingRule {
    /// The keys of a rule in YAML and in the state file.
    static let yamlKeys: Set<String> = ["always", "busy", "no_answer", "no_answer_after", "unavailable"]
}

/// The rules of every user: the `forwarding:` section of the config file.
public enum ForwardingConfig {
    /// Parses the `forwarding:` mapping (user -> rule) out of a whole YAML config file; an absent section is
    /// no rules. Users are the user part of an AOR (`bob` or `sip:bob@host` both give `bob`).
    public static func parse(yaml text: String, name: String) throws(ForwardingError) -> [String: ForwardingRule] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ForwardingError("\(name): not valid YAML: \(error)")
        }
        guard let root, case .mapping(let top) = root else { return [:] }
        guard let section = top["forwarding"] else { return [:] }
        if case .scalar(let s) = section, s.string.isEmpty || s.string == "null" || s.string == "~" { return [:] }
        guard case .mapping(let users) = section else {
            throw ForwardingError("\(name): 'forwarding' must map users to rules")
        }
        var result: [String: ForwardingRule] = [:]
        for (userNode, ruleNode) in users {
            guard let userText = userNode.scalar?.string, let user = ForwardingUsers.key(userText) else {
                throw ForwardingError("\(name): forwarding user '\(userNode.scalar?.string ?? "?")' is not a user name")
            }
            guard case .mapping(let fields) = ruleNode else {
                throw ForwardingError("\(name): forwarding.\(userText) must be a mapping (always, busy, no_answer, ...)")
            }
            var rule = ForwardingRule()
            for (keyNode, valueNode) in fields {
                let key = (keyNode.scalar?.string ?? "").replacingOccurrences(of: "-", with: "_")
                guard ForwardingRule.yamlKeys.contains(key) else {
                    throw ForwardingError("\(name): unknown key forwarding.\(userText).\(key)")
                }
                if key == "no_answer_after" {
                    guard let seconds = valueNode.int else {
                        throw ForwardingError("\(name): forwarding.\(userText).no_answer_after must be seconds")
                    }
                    rule.noAnswerAfter = seconds
                    continue
                }
                guard let value = valueNode.scalar?.string, !value.isEmpty else {
                    throw ForwardingError("\(name): forwarding.\(userText).\(key) must be a user or a SIP URI")
                }
                switch key {
                case "always": rule.always = value
                case "busy": rule.busy = value
                case "no_answer": rule.noAnswer = value
                default: rule.unavailable = value
                }
            }
            do throws(ForwardingError) {
                try rule.validate()
            } catch {
                throw ForwardingError("\(name): forwarding.\(userText): \(error)")
            }
            result[user] = rule
        }
        return result
    }
}

/// User names as the commands and the config give them.
public enum ForwardingUsers {
    /// `bob`, `sip:bob@host` or `bob@host` -> `bob` (the location store's key); nil when there is no user part.
    public static func key(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return nil }
        if !trimmed.contains(":") && !trimmed.contains("@") { return trimmed }
        var uriText = trimmed
        if uriText.hasPrefix("<") && uriText.hasSuffix(">") { uriText = String(uriText.dropFirst().dropLast()) }
        if !uriText.lowercased().hasPrefix("sip:") && !uriText.lowercased().hasPrefix("sips:") {
            uriText = "sip:" + uriText
        }
        guard let uri = SIPURI.parse(uriText), let user = uri.user, !user.isEmpty else { return nil }
        return LocationStore.userKey(uri)
    }
}
