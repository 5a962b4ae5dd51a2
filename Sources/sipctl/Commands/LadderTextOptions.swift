// How a text ladder is drawn: the options `sipctl trace ladder` and `sipctl trace follow` share.

import ArgumentParser
import Foundation
import SIPProxy

struct LadderTextOptions: ParsableArguments {
    @Option(help: "Name a column: IP[:PORT]=NAME (repeatable).")
    var alias: [String] = []

    @Flag(help: "Name columns by address only, not by the users and proxy learned from the messages.")
    var addresses = false

    @Flag(help: "Plain ASCII instead of UTF-8 box drawing.")
    var ascii = false

    @Flag(help: "No ANSI colors (colors are used only on a terminal anyway).")
    var noColor = false

    @Option(help: "Width in columns, at least \(LadderTextRenderer.minimumWidth(columns: 2)) (default: the terminal's, else $COLUMNS, else 100).")
    var width: Int?

    @Option(help: "The time columns on the left: both (default), abs (time of day), delta (since the previous message) or none.")
    var time: LadderTextRenderer.TimeColumns = .both

    @Flag(help: "Print each message's text below its arrow (long lines wrapped).")
    var raw = false

    /// The `--alias` names (and `mergeHosts`) as ladder options; learned names are added by the caller.
    func ladderOptions(mergeHosts: Bool = false) throws -> LadderOptions {
        var options = LadderOptions(mergeHosts: mergeHosts)
        for text in self.alias {
            let (key, name) = try TraceAnalysisRun.run { () throws(AnalysisError) in try LadderOptions.parseAlias(text) }
            options.aliases[key] = name
        }
        return options
    }

    /// The renderer for stdout: `--width`, else the terminal's own width (bash does not export COLUMNS, so over SSH
    /// it is usually unset), else `$COLUMNS`, else 100; colors only on a terminal without `NO_COLOR`. Throws when
    /// `--width` is below the narrowest ladder.
    func renderer() throws -> LadderTextRenderer {
        let narrowest = LadderTextRenderer.minimumWidth(columns: 2, time: self.time)
        if let width = self.width, width < narrowest {
            let hint = self.time == .none ? "" : " (--time none needs \(LadderTextRenderer.minimumWidth(columns: 2, time: .none)))"
            throw SipCtlError("--width \(width) is too narrow: a ladder needs at least \(narrowest) columns\(hint)")
        }
        let environment = ProcessInfo.processInfo.environment
        let width = self.width ?? TraceAnalysisRun.terminalWidth() ?? environment["COLUMNS"].flatMap { Int($0) } ?? 100
        let color = !self.noColor && isatty(STDOUT_FILENO) != 0 && environment["NO_COLOR"] == nil
        return LadderTextRenderer(width: width, ascii: self.ascii, color: color, raw: self.raw, time: self.time)
    }
}

extension LadderTextRenderer.TimeColumns: ExpressibleByArgument {}
