// `sipctl trace follow`: the ladder of calls in progress, drawn in the terminal as they happen (over SSH too).
//
// Polls the running proxy's control socket (`trace.follow`) four times a second; the drawing is LiveLadder's.

import ArgumentParser
import Foundation
import SIPProxy
import Synchronization

struct TraceFollow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow",
        abstract: "Draw the ladder of calls through the running proxy as they happen; Ctrl-C ends it.",
        discussion: """
            Needs no trace recording: the proxy keeps the last few thousand messages for a follower while one is \
            connected. Each call gets a line [n] caller → callee when it starts and [n] how it ended when it is \
            over; its arrows are marked [n]. Registrations and OPTIONS are left out unless --all is given. When all \
            calls have been over for 10 s, the next call starts a fresh picture.

            EXAMPLES:
              sipctl trace follow
              sipctl trace follow --user alice --time delta
              sipctl trace follow --all --raw --duration 60
            """
    )

    @Option(help: "Control socket of the proxy (default: $SIPPROXY_SOCKET, $SIPPROXY_DIR/sipproxy.sock or ./sipproxy.sock).")
    var socket: String?

    @Option(help: "Only calls whose From, To or Request-URI contains this text.")
    var user: String?

    @Flag(help: "Also registrations and OPTIONS keepalives.")
    var all = false

    @OptionGroup var drawing: LadderTextOptions

    @Option(help: "Stop after this many seconds (default: until Ctrl-C).")
    var duration: Int?

    func run() async throws {
        if let duration = self.duration, duration < 1 { throw SipCtlError("--duration must be at least 1 second") }
        var live = LiveLadder(
            user: self.user, everything: self.all, renderer: try self.drawing.renderer(),
            options: try self.drawing.ladderOptions(), learnNames: !self.drawing.addresses
        )
        let socket = GlobalOptions.socketPath(self.socket)

        // Ctrl-C (and SIGTERM) end the follow between two polls, so the last lines are whole.
        let stop = Atomic<Bool>(false)
        let sources = [SIGINT, SIGTERM].map { signo -> DispatchSourceSignal in
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo)
            source.setEventHandler { stop.store(true, ordering: .relaxed) }
            source.resume()
            return source
        }
        defer { for source in sources { source.cancel() } }

        let deadline = self.duration.map { ContinuousClock.now + .seconds($0) }
        var after: UInt64? = nil
        var first = true
        while !stop.load(ordering: .relaxed) {
            if let deadline, ContinuousClock.now >= deadline { break }
            let batch = try await Self.poll(after: after, socket: socket)
            if first {
                FileHandle.standardError.write(Data("following \(socket); Ctrl-C to stop\n".utf8))
                first = false
            }
            if batch.missed > 0 {
                FileHandle.standardError.write(Data("warning: \(batch.missed) messages went by too fast to draw\n".utf8))
            }
            for line in live.add(batch.messages, proxyAddresses: batch.proxyAddresses) { print(line) }
            fflush(nil)  // every stream: lines reach a pipe at once
            after = batch.next
            if !batch.more { try? await Task.sleep(for: .milliseconds(250)) }
        }
    }

    private static func poll(after: UInt64?, socket: String) async throws -> FollowBatch {
        let response: ControlResponse
        do {
            response = try await ControlClient.send(ControlRequest(command: "trace.follow", after: after), socket: socket)
        } catch let error as ControlClientError {
            throw SipCtlError(error.message)
        }
        guard response.ok, let batch = response.follow else {
            throw SipCtlError(response.error ?? "the proxy does not support 'trace.follow' (an older version?)")
        }
        return batch
    }
}
