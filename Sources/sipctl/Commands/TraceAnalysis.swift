// `sipctl trace calls|ladder|export`: calls and ladder diagrams from any pcap or pcapng file.
//
// The commands only parse flags and print; everything else is in SIPProxy's Analysis folder.

import ArgumentParser
import Foundation
import SIPProxy

/// Runs an analysis step and turns its errors into one-line `SipCtlError`s; prints warnings on stderr.
enum TraceAnalysisRun {
    static func run<T>(_ body: () throws(AnalysisError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw SipCtlError(error.description)
        }
    }

    static func warn(_ lines: [String]) {
        for line in lines { FileHandle.standardError.write(Data("warning: \(line)\n".utf8)) }
    }

    /// The width of the terminal on stdout, nil when stdout is not a terminal.
    static func terminalWidth() -> Int? {
        var size = winsize()
        guard isatty(STDOUT_FILENO) != 0, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else {
            return nil
        }
        return Int(size.ws_col)
    }

    /// A capture time: UTC `YYYY-MM-DD HH:MM[:SS]`, epoch seconds, or what `sipctl calls --since` takes besides
    /// (an age like `30m`, `2h`, `1d`; `today`, `yesterday`; a local time of day like `10:30`).
    static func time(_ text: String?, _ flag: String) throws -> Int64? {
        guard let text else { return nil }
        if let time = CaptureClock.parse(text) { return time }
        do throws(CallLogError) {
            let wall = try CallQuery.parseTime(text, now: .now(), timeZone: .current)
            let (nanos, overflow) = wall.microseconds.multipliedReportingOverflow(by: 1000)
            return overflow ? (wall.microseconds < 0 ? .min : .max) : nanos
        } catch {
            throw SipCtlError("\(flag) wants 'YYYY-MM-DD HH:MM[:SS]' (UTC), epoch seconds, or an age like 30m, 2h, 1d; not '\(text)'")
        }
    }
}

struct TraceCalls: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calls",
        abstract: "List the dialogs (one per Call-ID) in pcap/pcapng files, read as one timeline."
    )

    @OptionGroup var sources: TraceSourceOptions

    @Option(help: "Only dialogs that started at or after this time: UTC 'YYYY-MM-DD HH:MM:SS', epoch seconds, or an age (30m, 2h, 1d).")
    var since: String?

    @Option(help: "Only dialogs that started at or before this UTC time.")
    var until: String?

    @Option(help: "Only dialogs whose From or To URI contains this text.")
    var user: String?

    @Option(help: "Only dialogs whose first request has this method (INVITE, REGISTER, ...).")
    var method: String?

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Print CSV.")
    var csv = false

    @Option(help: "Fit the table in this many columns, cutting Call-IDs and URIs in the middle (default: the terminal's; unlimited when not a terminal).")
    var width: Int?

    func run() async throws {
        if let width = self.width, width < 40 { throw SipCtlError("--width \(width) is too narrow: the table needs at least 40 columns") }
        let filter = CallFilter(
            since: try TraceAnalysisRun.time(self.since, "--since"),
            until: try TraceAnalysisRun.time(self.until, "--until"), user: self.user, method: self.method
        )
        let files = try await self.sources.resolve()
        let (calls, warnings) = try TraceAnalysisRun.run { () throws(AnalysisError) in
            try CallCollector.collect(files)
        }
        TraceAnalysisRun.warn(warnings)
        let shown = calls.filter(filter.matches)
        if self.json {
            print(CallList.json(shown), terminator: "")
        } else if self.csv {
            print(CallList.csv(shown), terminator: "")
        } else {
            print(CallList.table(shown, width: self.width ?? TraceAnalysisRun.terminalWidth()), terminator: "")
        }
    }
}

struct TraceLadder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ladder",
        abstract: "Draw a call's ladder diagram (text, SVG or HTML) from pcap/pcapng files.",
        discussion: """
            Without --call, --index or --user the last call (INVITE dialog) is drawn. --user (with --since and \
            --until) draws every dialog of that user in one ladder, each marked [1], [2], ... (a transfer's REFER, \
            NOTIFY and new call together); registrations are left out. Without files, the running proxy's \
            recordings are read (else ./traces). --group adds dialogs linked to it: those whose \
            X-Call-ID/X-CID names it (or that it names) and those whose Call-ID starts with its Call-ID's local \
            part followed by - _ . ; or @.

            EXAMPLES:
              sipctl trace ladder
              sipctl trace ladder --call CALL-ID --call OTHER-CALL-ID --width 120
              sipctl trace ladder --user alice --since 10m --time delta
              sipctl trace ladder x.pcap --index 3 --format svg > call.svg
              sipctl trace ladder --alias 10.0.0.5=desk --raw
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, svg, html
    }


    @OptionGroup var sources: TraceSourceOptions

    @Option(help: "The Call-ID of a dialog to draw (repeatable: several dialogs in one ladder).")
    var call: [String] = []

    @Option(help: "The index of the dialog, as `sipctl trace calls` prints it.")
    var index: Int?

    @Flag(help: "Draw the last call, i.e. INVITE dialog (the default; the last dialog when there is no call).")
    var last = false

    @Option(help: "Draw every dialog whose From or To URI contains this text (not registrations), in one ladder.")
    var user: String?

    @Option(help: "With --user: only dialogs that started at or after this time (UTC 'YYYY-MM-DD HH:MM:SS', epoch seconds, or an age: 30m, 2h, 1d).")
    var since: String?

    @Option(help: "With --user: only dialogs that started at or before this time.")
    var until: String?

    @Flag(help: "Also draw dialogs linked by X-Call-ID/X-CID or a shared Call-ID prefix.")
    var group = false

    @OptionGroup var drawing: LadderTextOptions

    @Flag(help: "One column per host instead of per IP:port.")
    var mergeHosts = false

    @Flag(help: "Leave out the RTP rows (each stream the calls' SDP set up, with codec, packets, loss and jitter).")
    var noRtp = false

    @Option(help: "text (default), svg or html.")
    var format: Format = .text

    @Option(help: "Colours of --format svg or html: light (default) or dark, each on its own opaque background.")
    var theme: LadderSVGRenderer.Theme = .light

    private var filtered: Bool { self.user != nil || self.since != nil || self.until != nil }

    func validate() throws {
        if [!self.call.isEmpty, self.index != nil, self.last, self.filtered].filter({ $0 }).count > 1 {
            throw ValidationError("use only one of --call, --index, --last and --user/--since/--until")
        }
    }

    func run() async throws {
        let renderer = try self.drawing.renderer()
        var selection: CallSelection =
            self.call.count > 1 ? .callIDs(self.call) : self.call.first.map { .callID($0) } ?? self.index.map { .index($0) } ?? .last
        if self.filtered {
            selection = .matching(CallFilter(
                since: try TraceAnalysisRun.time(self.since, "--since"),
                until: try TraceAnalysisRun.time(self.until, "--until"), user: self.user
            ))
        }
        var options = try self.drawing.ladderOptions(mergeHosts: self.mergeHosts)
        let files = try await self.sources.resolve()
        let loaded = try TraceAnalysisRun.run { () throws(AnalysisError) in
            try CallSelection.loadDialogs(selection, group: self.group, paths: files, rtp: !self.noRtp)
        }
        TraceAnalysisRun.warn(loaded.warnings)
        if !self.drawing.addresses { options.names = loaded.names }
        var ladder = Ladder(
            callIDs: loaded.calls.map(\.callID), messages: loaded.messages, options: options, streams: loaded.streams
        )
        ladder.titles = Ladder.titles(of: loaded.calls)
        switch self.format {
        case .svg:
            print(LadderSVGRenderer(theme: self.theme).svg(ladder), terminator: "")
        case .html:
            print(LadderSVGRenderer(theme: self.theme).html(ladder), terminator: "")
        case .text:
            let needed = LadderTextRenderer.minimumWidth(columns: ladder.columns.count, time: renderer.time)
            if needed > renderer.width {
                TraceAnalysisRun.warn([
                    "\(ladder.columns.count) columns need \(needed) characters, wider than \(renderer.width): lines will wrap (try --merge-hosts, fewer dialogs or a wider terminal)"
                ])
            }
            print(renderer.render(ladder), terminator: "")
        }
    }
}

extension LadderSVGRenderer.Theme: ExpressibleByArgument {}

struct TraceExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write one call's frames (every TCP segment and IP fragment) to a new pcap file."
    )

    @OptionGroup var sources: TraceSourceOptions

    @Option(help: "The Call-ID of the dialog to export.")
    var call: String

    @Flag(help: "Also export dialogs linked by X-Call-ID/X-CID or a shared Call-ID prefix.")
    var group = false

    @Option(name: .shortAndLong, help: "The pcap file to write.")
    var output: String

    func run() async throws {
        let files = try await self.sources.resolve()
        let result = try TraceAnalysisRun.run { () throws(AnalysisError) in
            try PcapExporter.export(
                paths: files, selection: .callID(self.call), group: self.group, to: self.output
            )
        }
        TraceAnalysisRun.warn(result.warnings)
        if let note = result.note { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        print("wrote \(result.frames) frames (\(result.messages) SIP messages) to \(self.output)")
    }
}
