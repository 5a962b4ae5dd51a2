// sipctl: the one executable of SIPProxy. `sipctl serve` runs the proxy.

import ArgumentParser

@main
struct SipCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sipctl",
        abstract: "SIPProxy: a SIP proxy and registrar with a built-in trace recorder.",
        subcommands: [Serve.self]
    )
}
