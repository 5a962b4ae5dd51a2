// Which capture files `sipctl trace calls|ladder|export` read when none are named: the running proxy's recording
// directory (asked over the control socket), else ./traces, as `trace open --last` does.

import ArgumentParser
import Foundation
import SIPProxy

/// The capture files of `sipctl trace calls|ladder|export`: named, or the running proxy's recordings.
struct TraceSourceOptions: ParsableArguments {
    @Argument(help: "Capture files (pcap or pcapng), e.g. traces/sip-*.pcap (default: the running proxy's recordings, else ./traces).")
    var files: [String] = []

    @Option(help: "Read the recordings in this directory when no files are named.")
    var dir: String?

    @Option(help: "Control socket of the proxy whose recordings to read (default: $SIPPROXY_SOCKET, $SIPPROXY_DIR/sipproxy.sock or ./sipproxy.sock).")
    var socket: String?

    func resolve() async throws -> [String] {
        try await TraceSources.files(self.files, dir: self.dir, socket: self.socket)
    }
}

enum TraceSources {
    /// The running proxy's recording directory, asked over its control socket; a relative one is taken from the
    /// socket's directory (the proxy's working directory), so `SIPPROXY_DIR` works from anywhere. Nil when no
    /// proxy answers.
    static func recordingDirectory(socket: String?) async -> String? {
        let path = GlobalOptions.socketPath(socket)
        guard let status = try? await ControlClient.send(ControlRequest(command: "trace.status"), socket: path),
            let directory = status.trace?.settings.directory
        else { return nil }
        if directory.hasPrefix("/") { return directory }
        return URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(directory).path
    }

    /// `given` when not empty; else every recording of `dir`, of the proxy at `socket`, or of ./traces, oldest first.
    static func files(_ given: [String], dir: String?, socket: String?) async throws -> [String] {
        if !given.isEmpty { return given }
        var directory = dir
        if directory == nil { directory = await Self.recordingDirectory(socket: socket) }
        let folder = directory ?? "traces"
        let files: [TraceFileInfo]
        do throws(TraceError) {
            files = try TraceFiles.list(directory: folder)
        } catch {
            throw SipCtlError("no capture files named, and cannot list \(folder): \(error)")
        }
        let paths = files.filter { $0.records > 0 }.map(\.path)
        guard !paths.isEmpty else {
            throw SipCtlError("no capture files named, and no recordings in \(folder) (name files, or use --dir)")
        }
        return paths
    }
}
