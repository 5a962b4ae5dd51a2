// sipctl: the one executable of SIPProxy. `sipctl serve` runs the proxy.

import ArgumentParser
import SIPProxy

@main
struct SipCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sipctl",
        abstract: "SIPProxy: a SIP proxy and registrar with a built-in trace recorder.",
        version: SIPProxyVersion.current,
        subcommands: [Serve.self, Registrations.self, Status.self, Calls.self, Media.self, Conference.self, Trace.self, Phrases.self, Forward.self]
    )
}

/// A runtime failure: printed as one line (`Error: ...`) with exit status 1, without the usage text that
/// ArgumentParser adds to `ValidationError`s (those stay for malformed command lines).
struct SipCtlError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
