import ArgumentParser

@main
struct SipCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sipctl", abstract: "SIPProxy control")
}
