// MediaSession: the actions offer, answer and re-INVITE call for.

import Testing

@testable import SIPProxy

@Suite("Media: offer/answer state")
struct MediaSessionTests {
    @Test("offer, answer, re-INVITE with video, hold, and a stream removed: the actions the relay must take")
    func session() throws {
        func sdp(_ lines: String) throws -> SDPDocument { try #require(SDPDocument(Array(("v=0\r\n" + lines).utf8))) }
        var session = MediaSession(callID: "c1", callerTag: "a")
        #expect(session.side(ofRequestFromTag: "a") == .caller && session.side(ofRequestFromTag: "b") == .callee)
        let offer = try sdp("c=IN IP4 10.0.0.7\r\nm=audio 4000 RTP/AVP 0\r\n")
        let actions = session.receive(offer, from: .caller)
        #expect(actions.first == .open(index: 0))
        #expect(actions.contains(.target(index: 0, side: .caller, MediaTarget(address: "10.0.0.7", rtpPort: 4000, rtcpPort: 4001))))
        session.opened(index: 0, ports: [.caller: 20000, .callee: 20002])
        let toCallee = String(decoding: session.relayed(offer, from: .caller, address: "192.0.2.1").bytes, as: UTF8.self)
        #expect(toCallee.contains("m=audio 20002 "), "the callee is sent the port facing it")

        let answer = try sdp("c=IN IP4 10.0.0.9\r\nm=audio 5000 RTP/AVP 0\r\n")
        #expect(session.receive(answer, from: .callee) == [.target(index: 0, side: .callee, MediaTarget(address: "10.0.0.9", rtpPort: 5000, rtcpPort: 5001))])
        let toCaller = String(decoding: session.relayed(answer, from: .callee, address: "192.0.2.1").bytes, as: UTF8.self)
        #expect(toCaller.contains("m=audio 20000 "))
        #expect(session.receive(answer, from: .callee).isEmpty, "the same answer again changes nothing")

        let video = try sdp("c=IN IP4 10.0.0.7\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\nm=video 4002 RTP/AVP 96\r\n")
        let reinvite = session.receive(video, from: .caller)
        #expect(reinvite.contains(.open(index: 1)) && !reinvite.contains(.open(index: 0)))
        #expect(session.streams[0].directions[.caller] == "sendonly")
        session.opened(index: 1, ports: [.caller: 20004, .callee: 20006])
        let removed = try sdp("c=IN IP4 10.0.0.7\r\nm=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n")
        #expect(session.receive(removed, from: .caller) == [.close(index: 1, ports: [.caller: 20004, .callee: 20006])])
        #expect(session.allPorts.count == 1)
        let toCallee2 = String(decoding: session.relayed(removed, from: .caller, address: "192.0.2.1").bytes, as: UTF8.self)
        #expect(toCallee2.contains("m=video 0 RTP/AVP 96"))
    }
}
