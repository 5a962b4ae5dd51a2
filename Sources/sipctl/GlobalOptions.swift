// Options shared by the subcommands that talk to a running proxy.

import ArgumentParser
import Foundation
import SIPProxy

struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Control socket of the running proxy (default: $SIPPROXY_SOCKET or ./sipproxy.sock).")
    var socket: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    /// `--socket`, else `SIPPROXY_SOCKET`, else the default in the current directory.
    var socketPath: String {
        if let socket { return socket }
        if let env = ProcessInfo.processInfo.environment["SIPPROXY_SOCKET"], !env.isEmpty { return env }
        return ControlServer.defaultPath
    }
}
