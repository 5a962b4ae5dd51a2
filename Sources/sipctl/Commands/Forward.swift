// `sipctl forward set|show|clear`: call forwarding rules of the running proxy. Changes are saved by the proxy
// (forwarding.json in its working directory) and survive a restart.

import ArgumentParser
import SIPProxy

struct Forward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or change call forwarding rules of the running proxy.",
        discussion: """
            USER is a user name (bob) or an AOR (sip:bob@proxy); URI is a SIP URI (sip:desk@10.0.0.5:5060) or the \
            name of another user of the proxy. Chains are followed up to 5 forwards; an unconditional loop is \
            answered 482 Loop Detected.

            EXAMPLES:
              sipctl forward set bob --busy carol --no-answer voicemail --after 15
              sipctl forward show
              sipctl forward clear bob
            """,
        subcommands: [Set.self, Show.self, Clear.self]
    )

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set forwarding targets of a user (the options given replace those of the current rule; \"\" removes one)."
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The user (bob or sip:bob@proxy).")
        var user: String

        @Option(name: .long, help: "Forward every call to URI (the user's phones do not ring).")
        var always: String?

        @Option(name: .long, help: "Forward to URI when the user's phones are busy (486/600).")
        var busy: String?

        @Option(name: .customLong("no-answer"), help: "Forward to URI when nobody answers in time.")
        var noAnswer: String?

        @Option(name: .long, help: "Seconds before the no-answer target is tried (default 15).")
        var after: Int?

        @Option(name: .long, help: "Forward to URI when the user has no registered phone, or it answers 480/408.")
        var unavailable: String?

        func validate() throws {
            if self.always == nil && self.busy == nil && self.noAnswer == nil && self.unavailable == nil
                && self.after == nil
            {
                throw ValidationError("give at least one of --always, --busy, --no-answer, --unavailable, --after")
            }
            if let after, !(1...3600).contains(after) { throw ValidationError("--after must be 1-3600 seconds") }
        }

        func run() async throws {
            let rule = ForwardingRule(
                always: self.always,
                busy: self.busy,
                noAnswer: self.noAnswer,
                noAnswerAfter: self.after,
                unavailable: self.unavailable
            )
            let response = try await ControlCommand.send(
                ControlRequest(command: ForwardingControl.set, user: self.user, rule: rule),
                self.options
            )
            try Forward.print(response.forwarding ?? [], json: self.options.json)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List forwarding rules (of one user, or everyone's).")

        @OptionGroup var options: GlobalOptions

        @Argument(help: "Only this user.")
        var user: String?

        func run() async throws {
            let response = try await ControlCommand.send(
                ControlRequest(command: ForwardingControl.show, user: self.user),
                self.options
            )
            try Forward.print(response.forwarding ?? [], json: self.options.json)
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove every forwarding rule of a user (also one from the config file)."
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The user (bob or sip:bob@proxy).")
        var user: String

        func run() async throws {
            let response = try await ControlCommand.send(
                ControlRequest(command: ForwardingControl.clear, user: self.user),
                self.options
            )
            if self.options.json {
                Swift.print(try ControlCoding.encode(response.forwarding ?? []))
            } else {
                Swift.print("forwarding of \(self.user) cleared")
            }
        }
    }

    static func print(_ list: [ForwardingInfo], json: Bool) throws {
        if json {
            Swift.print(try ControlCoding.encode(list))
        } else {
            Swift.print(ForwardingInfo.table(list), terminator: "")
        }
    }
}
