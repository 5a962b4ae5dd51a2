// ControlProtocol+Forwarding: the `forward.*` control commands (call forwarding rules at run time).

//
//     -> {"command":"forward.set","user":"bob","rule":{"busy":"carol","noAnswer":"sip:desk@127.0.0.13","noAnswerAfter":10}}
//     <- {"ok":true,"forwarding":[{"user":"bob","rule":{"busy":"carol","noAnswer":"sip:desk@127.0.0.13","noAnswerAfter":10},"source":"runtime"}]}
//     -> {"command":"forward.show"}            (every user; with "user" one user)
//     -> {"command":"forward.clear","user":"bob"}
//
// `forward.set` merges the fields given into the user's current rule; an empty string removes that field.
// Changes are written to the proxy's state file (`forwarding.json`) before the answer, so they survive a
// restart. ControlRequest carries `user` and `rule`, ControlResponse `forwarding` (fields added for these).

import NIOCore

/// Names of the forwarding commands.
public enum ForwardingControl {
    public static let prefix = "forward."
    public static let set = "forward.set"
    public static let show = "forward.show"
    public static let clear = "forward.clear"
}

/// One user's rules in force, as `sipctl forward show` lists them.
public struct ForwardingInfo: Codable, Sendable, Equatable {
    public var user: String
    public var rule: ForwardingRule
    /// `config` (from the config file) or `runtime` (set with `sipctl forward set`).
    public var source: String

    public init(user: String, rule: ForwardingRule, source: String) {
        self.user = user
        self.rule = rule
        self.source = source
    }

    /// `sipctl forward show` as a table.
    public static func table(_ list: [ForwardingInfo]) -> String {
        guard !list.isEmpty else { return "no forwarding rules\n" }
        let rows = list.map { info in
            [
                info.user,
                info.rule.always ?? "-",
                info.rule.busy ?? "-",
                info.rule.noAnswer.map { "\($0) (\(info.rule.noAnswerSeconds) s)" } ?? "-",
                info.rule.unavailable ?? "-",
                info.source,
            ]
        }
        return TextTable(headers: ["USER", "ALWAYS", "BUSY", "NO ANSWER", "UNAVAILABLE", "SOURCE"], rows: rows).render()
    }
}

extension ForwardingTable {
    /// The rules in force as control answers, sorted by user.
    func infos(user: String? = nil) -> [ForwardingInfo] {
        self.rules.keys.sorted().compactMap { name in
            guard user == nil || user == name, let rule = self.rule(for: name) else { return nil }
            return ForwardingInfo(user: name, rule: rule, source: self.overrides[name] != nil ? "runtime" : "config")
        }
    }
}

extension ProxyControl {
    /// `forward.set`, `forward.show`, `forward.clear`: on the event loop; the state file is written off it.
    func handleForwarding(_ request: ControlRequest) -> EventLoopFuture<ControlResponse> {
        let core = self.core
        let promise = core.eventLoop.makePromise(of: ControlResponse.self)
        core.eventLoop.execute {
            let user = request.user.flatMap(ForwardingUsers.key)
            if request.user != nil && user == nil {
                promise.succeed(.failure("'\(request.user ?? "")' is not a user name or AOR"))
                return
            }
            switch request.command {
            case ForwardingControl.show:
                var response = ControlResponse()
                response.forwarding = core.forwarding.table.infos(user: user)
                promise.succeed(response)
                return
            case ForwardingControl.set:
                guard let user else { return promise.succeed(.failure("forward.set needs a user")) }
                guard let change = request.rule else { return promise.succeed(.failure("forward.set needs a rule")) }
                var probe = change
                for keyPath in [\ForwardingRule.always, \.busy, \.noAnswer, \.unavailable] where probe[keyPath: keyPath] == "" {
                    probe[keyPath: keyPath] = nil
                }
                do throws(ForwardingError) {
                    try probe.validate()
                } catch {
                    return promise.succeed(.failure("invalid rule for \(user): \(error)"))
                }
                core.forwarding.update { $0.set(user, change) }
                core.logger.info("forwarding of \(user) set: \(core.forwarding.table.rule(for: user)?.summary ?? "none")")
            case ForwardingControl.clear:
                guard let user else { return promise.succeed(.failure("forward.clear needs a user")) }
                core.forwarding.update { $0.clear(user) }
                core.logger.info("forwarding of \(user) cleared")
            default:
                return promise.succeed(.failure("unknown command '\(request.command)'"))
            }
            var response = ControlResponse()
            response.forwarding = core.forwarding.table.infos(user: user)
            guard let store = core.forwarding.store else { return promise.succeed(response) }
            let overrides = core.forwarding.table.overrides
            let answer = response
            store.save(overrides) { result in
                switch result {
                case .success: promise.succeed(answer)
                case .failure(let error):
                    promise.succeed(.failure("the rule is in force but was not saved: \(error)"))
                }
            }
        }
        return promise.futureResult
    }
}
