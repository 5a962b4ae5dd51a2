// `sipctl media`: the running proxy's relayed calls (`--media relay|nat`).

import ArgumentParser
import SIPProxy

struct Media: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the calls whose RTP goes through the proxy, with their ports, addresses and packet counts.",
        discussion: """
            CALLER and CALLEE are where each phone's media goes: the address its packets come from (latched), or \
            its SDP address, marked (sdp), until it has sent something. The two PORT columns are the relay's ports \
            facing the caller and the callee (RTP; RTCP is the next port).

            EXAMPLES:
              sipctl media
              sipctl media --json
            """
    )

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let response = try await ControlCommand.send("media.list", self.options)
        guard let media = response.media else { throw SipCtlError("the proxy sent no media status (an older version?)") }
        if self.options.json {
            print(try ControlCoding.encode(media))
        } else {
            print(media.render(), terminator: "")
        }
    }
}
