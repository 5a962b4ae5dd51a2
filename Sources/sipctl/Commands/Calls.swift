// `sipctl calls`: the call journal (works whether the proxy runs or not), and `--live`: calls in progress.

import ArgumentParser
import Foundation
import Logging
import SIPProxy

struct Calls: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List calls from the call journal (who called whom, when, outcome, durations), or follow live.",
        discussion: """
            Reads calls.jsonl in the current directory and its rotated siblings (calls-YYYYMMDD-HHMMSS.jsonl), \
            oldest first. Times: 2026-12-01, 2026-12-01T10:30, 10:30 (today), today, yesterday, or an age such \
            as 30m, 2h, 1d. Outcomes: completed, cancelled, declined, busy, no-answer, unreachable, failed, \
            timed-out, interrupted, media-timeout (comma-separated for several). With --journal-db, every \
            proxy's calls from the shared database instead, with a PROXY column when more than one wrote.

            EXAMPLES:
              sipctl calls --since 2h
              sipctl calls --user alice --outcome busy,declined
              sipctl calls --live
              sipctl calls --json --limit 10
              sipctl calls --since 1h --ladder 2
              sipctl calls --journal-db postgresql://sip@db.lab/sip --since today
            """
    )

    @OptionGroup var options: GlobalOptions

    @Option(name: .long, help: "Only calls started at or after this time.")
    var since: String?

    @Option(name: .long, help: "Only calls started before this time.")
    var until: String?

    @Option(name: .long, help: "Only calls from or to this user (user name, AOR or display name).")
    var user: String?

    @Option(name: .long, help: "Only calls with this outcome (or a comma-separated list).")
    var outcome: String?

    @Option(name: .long, help: "At most this many calls (the most recent).")
    var limit: Int?

    @Flag(name: .long, help: "Print CSV with a header row instead of a table.")
    var csv = false

    @Option(name: .long, help: "The journal file (default: calls.jsonl in the current directory).")
    var file = "calls.jsonl"

    @Option(name: .long, help: "Read every proxy's calls from this PostgreSQL database (postgresql://user@host[:port]/db) instead of the file.")
    var journalDb: String?

    @Flag(name: .long, help: "Follow the calls in progress on the running proxy (polls every second).")
    var live = false

    @Option(name: .long, help: "Draw the ladder of one listed call, by its row number or its Call-ID, from the proxy's recordings.")
    var ladder: String?

    @Option(name: .long, help: "With --live: stop after this many seconds (default: until Ctrl-C).")
    var duration: Double?

    func validate() throws {
        if self.csv && self.options.json { throw ValidationError("--csv and --json cannot be combined") }
        if self.live && (self.since != nil || self.until != nil || self.outcome != nil || self.limit != nil) {
            throw ValidationError("--live shows calls in progress; --since, --until, --outcome, --limit do not apply")
        }
        if let duration = self.duration, !(duration > 0) { throw ValidationError("--duration must be positive") }
        if self.ladder != nil && (self.live || self.csv || self.options.json) {
            throw ValidationError("--ladder draws one call; it does not combine with --live, --csv or --json")
        }
        if self.duration != nil && !self.live { throw ValidationError("--duration only applies to --live") }
        if let url = self.journalDb {
            if self.live { throw ValidationError("--live asks the running proxy; it does not combine with --journal-db") }
            if self.file != "calls.jsonl" { throw ValidationError("--file and --journal-db cannot be combined") }
            do {
                try PostgresCallStore.validate(url)
            } catch {
                throw ValidationError("invalid --journal-db '\(url)': expected postgresql://user@host[:port]/database")
            }
        }
    }

    func run() async throws {
        if self.live {
            try await self.runLive()
            return
        }
        let zone = TimeZone.current
        let query: CallQuery
        do {
            query = try CallQuery.parse(
                since: self.since, until: self.until, user: self.user, outcome: self.outcome, limit: self.limit,
                now: .now(), timeZone: zone
            )
        } catch {
            throw ValidationError(error.description)
        }
        let records: [CallRecord]
        if let url = self.journalDb {
            var logger = Logger(label: "sipctl.calls")
            logger.logLevel = .critical  // PostgresNIO's own logging would clutter the table
            do {
                records = try await PostgresCallStore.read(url: url, query: query, logger: logger)
            } catch {
                throw SipCtlError(error.description)
            }
        } else {
            let result: CallJournalReader.Result
            do {
                result = try CallJournalReader.read(path: self.file)
            } catch {
                throw SipCtlError(error.description)
            }
            for warning in result.warnings { Self.warn(warning) }
            records = query.apply(result.records)
        }
        if let ladder = self.ladder {
            // A journal row leads to its ladder: the row number as listed (1 is the first row) or a Call-ID.
            let callID: String
            if let row = Int(ladder) {
                guard (1...max(1, records.count)).contains(row), !records.isEmpty else {
                    throw SipCtlError("--ladder \(row): the list has \(records.count) call(s)")
                }
                callID = records[row - 1].callID
            } else {
                callID = ladder
            }
            let command = try TraceLadder.parse(["--call", callID] + (self.options.socket.map { ["--socket", $0] } ?? []))
            try await command.run()
            return
        }
        if self.options.json {
            print(try CallFormatter.json(records), terminator: "")
        } else if self.csv {
            print(CallFormatter.csv(records), terminator: "")
        } else {
            if !records.isEmpty { print(CallFormatter.table(records, timeZone: zone, width: TraceAnalysisRun.terminalWidth()), terminator: "") }
            print(CallFormatter.summary(records))
        }
    }

    /// Polls `calls.live` every second and prints what changed; the first poll prints the calls in progress.
    private func runLive() async throws {
        let zone = TimeZone.current
        let started = WallClock.now()
        var previous: [CallRecord]?
        while true {
            let response = try await self.poll()
            var calls = response.liveCalls ?? []
            if let user = self.user {
                let query = try? CallQuery.parse(user: user, now: .now(), timeZone: zone)
                calls = calls.filter { query?.matches($0) ?? true }
            }
            let now = response.serverTime ?? .now()
            if self.options.json {
                if previous != calls { print(try CallFormatter.json(calls), terminator: "") }
            } else if let previous {
                for line in CallFormatter.liveChanges(from: previous, to: calls, now: now, timeZone: zone) {
                    print(line)
                }
            } else {
                if calls.isEmpty {
                    print("no calls in progress")
                } else {
                    print(CallFormatter.table(calls, timeZone: zone, now: now, width: TraceAnalysisRun.terminalWidth()), terminator: "")
                }
            }
            fflush(nil)  // every stream: lines reach a pipe at once
            previous = calls
            if let duration = self.duration, WallClock.now().seconds(since: started) + 1 > duration { return }
            try await Task.sleep(for: .seconds(1))
        }
    }

    private func poll() async throws -> LiveCallsResponse {
        let response: LiveCallsResponse
        do {
            response = try await ControlClient.send(
                ControlRequest(command: CallsControl.liveCommand), socket: self.options.socketPath,
                as: LiveCallsResponse.self
            )
        } catch let error as ControlClientError {
            throw SipCtlError(error.message)
        }
        guard response.ok else {
            throw SipCtlError(response.error ?? "the proxy refused '\(CallsControl.liveCommand)'")
        }
        return response
    }

    static func warn(_ text: String) {
        FileHandle.standardError.write(Data("warning: \(text)\n".utf8))
    }
}
