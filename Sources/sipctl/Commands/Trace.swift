// `sipctl trace ...`: control the running proxy's trace recorder and open its recordings.

import ArgumentParser
import Foundation
import SIPProxy

struct Trace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record SIP traces (rotating pcap files), draw ladders and list calls from any pcap.",
        discussion: """
            EXAMPLES:
              sipctl trace status
              sipctl trace start --filter 'user=alice' --max-size 1MB
              sipctl trace ladder
              sipctl trace calls --since 10m
              sipctl trace open --last
            """,
        subcommands: [
            Start.self, Stop.self, StatusCommand.self, List.self, Open.self, TraceCalls.self, TraceLadder.self,
            TraceExport.self, TraceFollow.self,
        ]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start (or restart with new settings) recording on the running proxy."
        )

        @OptionGroup var options: GlobalOptions

        @Option(name: .long, help: "Directory for the pcap files (relative to the proxy's working directory).")
        var dir: String?

        @Option(name: .long, help: "Rotate before a file grows past this size (e.g. 10MB, 500k).")
        var maxSize: String?

        @Option(name: .long, help: "Keep at most this many files (the oldest are deleted).")
        var maxFiles: Int?

        @Option(name: .long, help: "Rotate a file after this long (e.g. 1d, 1h, 30m, 90s; at most 365 days).")
        var duration: String?

        @Option(name: .long, help: "Record only matching messages: 'method=INVITE,BYE user=alice callid=X peer=IP[:PORT]'.")
        var filter: String?

        @Option(name: .long, help: "Flush within this many milliseconds (0: after every record).")
        var flushMs: Int?

        func validate() throws {
            if let maxSize, SizeText.parse(maxSize) == nil { throw ValidationError("invalid --max-size '\(maxSize)'") }
            if let duration, DurationText.parse(duration) == nil {
                throw ValidationError("invalid --duration '\(duration)'")
            }
            if let filter {
                do throws(TraceError) { _ = try TraceFilter.parse(filter) } catch {
                    throw ValidationError("invalid --filter: \(error)")
                }
            }
        }

        func run() async throws {
            let start = TraceStartOptions(
                directory: self.dir,
                maxFileSize: self.maxSize.flatMap(SizeText.parse),
                maxFiles: self.maxFiles,
                maxDuration: self.duration.flatMap(DurationText.parse),
                flushInterval: self.flushMs,
                filter: self.filter
            )
            // Out-of-range values are refused here with the proxy's own message (the proxy checks again: the
            // control socket is not only used by sipctl).
            do throws(TraceError) {
                _ = try start.apply(to: TraceSettings())
            } catch {
                throw SipCtlError(error.description)
            }
            let response = try await ControlCommand.send(ControlRequest(command: "trace.start", trace: start), self.options)
            try TraceOutput.printStatus(response.trace, json: self.options.json)
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop recording; the current file is flushed and closed.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let response = try await ControlCommand.send(ControlRequest(command: "trace.stop"), self.options)
            try TraceOutput.printStatus(response.trace, json: self.options.json)
        }
    }

    struct StatusCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show whether recording is on, the current file, bytes, records, drops and files kept."
        )
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let response = try await ControlCommand.send(ControlRequest(command: "trace.status"), self.options)
            try TraceOutput.printStatus(response.trace, json: self.options.json)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the recorded files with their time span and message count."
        )
        @OptionGroup var options: GlobalOptions

        @Option(name: .long, help: "Read this directory instead of asking the running proxy.")
        var dir: String?

        func run() async throws {
            let files: [TraceFileInfo]
            if let dir = self.dir {
                do throws(TraceError) { files = try TraceFiles.list(directory: dir) } catch {
                    throw SipCtlError("cannot list \(dir): \(error)")
                }
            } else {
                files = try await ControlCommand.send(ControlRequest(command: "trace.list"), self.options).traceFiles ?? []
            }
            if self.options.json {
                print(try ControlCoding.encode(files))
            } else {
                print(TraceOutput.table(files), terminator: "")
            }
        }
    }

    struct Open: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open a recording in Wireshark, or print the wireshark, tshark and tcpdump commands for it."
        )
        @OptionGroup var options: GlobalOptions

        @Argument(help: "The pcap file (default with --last: the newest recording).")
        var file: String?

        @Flag(name: .long, help: "Open the newest file of the recording directory.")
        var last = false

        @Option(name: .long, help: "Recording directory for --last (default: ask the running proxy, else ./traces).")
        var dir: String?

        @Flag(name: .long, help: "Only print the commands, even when Wireshark and a display are available.")
        var printOnly = false

        func validate() throws {
            if self.file == nil && !self.last { throw ValidationError("name a FILE or pass --last") }
            if self.file != nil && self.last { throw ValidationError("pass either a FILE or --last, not both") }
        }

        func run() async throws {
            let path: String
            if let file = self.file {
                path = file
            } else {
                var directory = self.dir
                if directory == nil { directory = await TraceSources.recordingDirectory(socket: self.options.socket) }
                let dir = directory ?? "traces"
                let files: [TraceFileInfo]
                do throws(TraceError) { files = try TraceFiles.list(directory: dir) } catch {
                    throw SipCtlError("cannot list \(dir): \(error)")
                }
                guard let newest = files.last else { throw SipCtlError("no recordings in \(dir)") }
                path = newest.path
            }
            guard FileManager.default.fileExists(atPath: path) else { throw SipCtlError("no such file: \(path)") }
            let env = ProcessInfo.processInfo.environment
            let display = !(env["DISPLAY"] ?? "").isEmpty || !(env["WAYLAND_DISPLAY"] ?? "").isEmpty
            if !self.printOnly, !self.options.json, display, let wireshark = TraceOutput.which("wireshark") {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: wireshark)
                process.arguments = ["-r", path]
                try process.run()
                print("opened \(path) in Wireshark (pid \(process.processIdentifier))")
                return
            }
            if self.options.json {
                // The file and the commands that open it, for scripts.
                struct Opening: Encodable {
                    var path: String
                    var wireshark: [String]
                    var tshark: [String]
                    var tcpdump: [String]
                    var ladder: [String]
                }
                let opening = Opening(
                    path: path, wireshark: ["wireshark", "-r", path], tshark: ["tshark", "-r", path, "-Y", "sip"],
                    tcpdump: ["tcpdump", "-nn", "-A", "-r", path, "port", "5060"],
                    ladder: ["sipctl", "trace", "ladder", path, "--last"]
                )
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(opening), as: UTF8.self))
                return
            }
            print(TraceOutput.openCommands(path), terminator: "")
        }
    }
}

/// Formatting shared by the trace commands.
enum TraceOutput {
    static func printStatus(_ status: TraceStatus?, json: Bool) throws {
        guard let status else { throw SipCtlError("the proxy sent no trace status") }
        if json {
            print(try ControlCoding.encode(status))
            return
        }
        print("recording:  \(status.recording ? "on" : "off")")
        print("directory:  \(status.settings.directory)")
        if let file = status.currentFile { print("file:       \(file)") }
        print("bytes:      \(status.bytes)")
        print("records:    \(status.records)")
        print("drops:      \(status.drops)")
        print("files kept: \(status.filesKept) (at most \(status.settings.maxFiles))")
        print("rotation:   \(status.settings.maxFileSize) bytes or \(status.settings.maxDuration) s")
        if let filter = status.settings.filter { print("filter:     \(filter)") }
        if let group = status.settings.group { print("group:      \(group.name) may read the files") }
        if let error = status.lastError { print("last error: \(error)") }
    }

    static func table(_ files: [TraceFileInfo]) -> String {
        if files.isEmpty { return "no recordings\n" }
        let rows = files.map { f in
            [f.path, String(f.size), f.first.map(self.time) ?? "-", f.last.map(self.time) ?? "-", String(f.records)]
        }
        return TextTable(headers: ["FILE", "BYTES", "FIRST", "LAST", "RECORDS"], rows: rows).render()
    }

    static func time(_ t: TraceTimestamp) -> String {
        let date = Date(timeIntervalSince1970: Double(t.microseconds) / 1_000_000)
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
        return f.string(from: date)
    }

    /// The commands a presenter types on a machine without Wireshark's GUI (tcpdump decodes SIP on port 5060
    /// only; tshark and Wireshark on any port and over TCP).
    static func openCommands(_ path: String) -> String {
        let quoted = path.contains(" ") ? "'\(path)'" : path
        return """
            Wireshark is not available here (no wireshark binary or no display). Open the trace with:
              wireshark -r \(quoted)
                  (the GUI; Telephony > SIP Flows draws the ladder)
              tshark -r \(quoted) -Y sip
                  (one line per SIP message; add -O sip for every header)
              tcpdump -nn -A -r \(quoted) port 5060
                  (the raw text of the messages on port 5060)
              sipctl trace ladder \(quoted) --last
                  (a text ladder of the last call)

            """
    }

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
