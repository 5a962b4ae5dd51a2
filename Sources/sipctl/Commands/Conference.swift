// `sipctl conference`: the rooms the running proxy hosts (`sipctl serve --conference 800`).

import ArgumentParser
import SIPProxy

struct Conference: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show and control the proxy's conference rooms.",
        discussion: """
            A call to sip:ROOM@proxy (a room started with `sipctl serve --conference ROOM`) is answered by the \\
            proxy, which mixes the room: everybody hears everybody but themselves. A participant mutes and unmutes \\
            itself with DTMF *6. In a room with a PIN (`--conference 801:4321`) a caller hears a beep every 2 s \
            and nobody hears it until it keys the PIN (# optional); three wrong tries or 30 s end its call. A kicked \
            participant's call is ended with a BYE. A participant's phone brings someone in with a REFER to the room \
            (its "merge" button, RFC 4579): the room calls the referred user and seats it when it answers.

            EXAMPLES:
              sipctl conference list
              sipctl conference show 800 --json
              sipctl conference mute 800 alice
              sipctl conference kick 800 bob
              sipctl conference lock 800
            """,
        subcommands: [List.self, Show.self, Mute.self, Kick.self, Lock.self],
        defaultSubcommand: List.self
    )

    static func rooms(_ room: String?, _ options: GlobalOptions) async throws -> [ConferenceInfo] {
        let response = try await ControlCommand.send(ControlRequest(command: "conference.list", room: room), options)
        return response.conferences ?? []
    }

    static func print(_ rooms: [ConferenceInfo], json: Bool) throws {
        if json {
            Swift.print(try ControlCoding.encode(rooms))
            return
        }
        guard !rooms.isEmpty else {
            Swift.print("no conference in progress")
            return
        }
        for room in rooms {
            var flags = room.locked ? ", locked" : ""
            if room.pin == true { flags += ", PIN" }
            if let ticks = room.ticks { flags += ", mixing late p99 \((ticks.p99Ms * 10).rounded() / 10) ms" }
            Swift.print("room \(room.room): \(room.participants.count) participant(s)\(flags)")
            let rows = room.participants.map { p in
                [p.user, p.awaitingPIN == true ? "PIN?" : p.muted ? "muted" : "-", p.codec, p.address ?? "-", String(p.port), String(p.packetsIn),
                 String(p.packetsOut), String(p.lost), p.callID]
            }
            Swift.print(TextTable(headers: ["USER", "MUTED", "CODEC", "ADDRESS", "PORT", "PKTS IN", "PKTS OUT", "LOST", "CALL-ID"],
                                  rows: rows).render(), terminator: "")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the rooms in progress and their participants.")

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try Conference.print(try await Conference.rooms(nil, self.options), json: self.options.json)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one room's participants.")

        @Argument(help: "The room (e.g. 800).")
        var room: String

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try Conference.print(try await Conference.rooms(self.room, self.options), json: self.options.json)
        }
    }

    struct Mute: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mute (or with --off unmute) a participant.")

        @Argument(help: "The room.")
        var room: String

        @Argument(help: "The participant: its user (alice) or its Call-ID.")
        var participant: String

        @Flag(help: "Unmute instead.")
        var off = false

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let response = try await ControlCommand.send(
                ControlRequest(command: "conference.mute", room: self.room, participant: self.participant, on: !self.off),
                self.options
            )
            Swift.print("\(self.participant) in \(self.room): \(response.muted == true ? "muted" : "unmuted")")
        }
    }

    struct Kick: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take a participant out of a room: the proxy ends its call with a BYE.")

        @Argument(help: "The room.")
        var room: String

        @Argument(help: "The participant: its user (alice) or its Call-ID.")
        var participant: String

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            _ = try await ControlCommand.send(
                ControlRequest(command: "conference.kick", room: self.room, participant: self.participant), self.options
            )
            Swift.print("\(self.participant) removed from \(self.room)")
        }
    }

    struct Lock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lock a room (new callers get 486), or with --off unlock it.")

        @Argument(help: "The room.")
        var room: String

        @Flag(help: "Unlock instead.")
        var off = false

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            _ = try await ControlCommand.send(ControlRequest(command: "conference.lock", room: self.room, on: !self.off), self.options)
            Swift.print("room \(self.room) \(self.off ? "unlocked" : "locked")")
        }
    }
}
