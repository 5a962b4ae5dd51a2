// Options shared by the subcommands that talk to a running proxy.

import ArgumentParser
import Foundation
import SIPProxy

struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Control socket of the running proxy (default: $SIPPROXY_SOCKET, else sipproxy.sock in $SIPPROXY_DIR, the directory the proxy runs in, else ./sipproxy.sock).")
    var socket: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    /// `--socket`, else `SIPPROXY_SOCKET`, else `sipproxy.sock` in `SIPPROXY_DIR`, else in the current directory.
    var socketPath: String { Self.socketPath(self.socket) }

    static func socketPath(_ given: String?) -> String {
        if let given { return given }
        let environment = ProcessInfo.processInfo.environment
        if let env = environment["SIPPROXY_SOCKET"], !env.isEmpty { return env }
        if let dir = environment["SIPPROXY_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir).appendingPathComponent(ControlServer.defaultPath).path
        }
        return ControlServer.defaultPath
    }
}
