import Foundation

/// A phone in a room, speaking SIP over its own socket: joins, REFERs, answers NOTIFYs, hangs up.
final class RoomParticipant {
    let user: String
    let socket: RawSocket
    let proxy: (ip: String, port: Int)
    let callID = "\(UUID().uuidString)@room-participant-test"
    private var vias = 0
    private var cseq = 0
    /// The room's To (with its tag) and Contact (the dialog's remote target), from its 2xx.
    private(set) var toValue = ""
    private(set) var roomTarget = ""
    /// Messages read but not yet asked for.
    private var inbox: [String] = []

    init(_ user: String, ip: String, proxy: (ip: String, port: Int)) throws {
        self.user = user
        self.socket = try RawSocket(udpOn: ip)
        self.proxy = proxy
    }

    private var me: String { "\(self.socket.localIP):\(self.socket.localPort)" }

    func send(_ method: String, uri: String, to: String, extra: [String] = [], body: String = "", contentType: String? = nil) throws {
        self.vias += 1
        self.cseq += 1
        var lines = [
            "\(method) \(uri) SIP/2.0",
            "Via: SIP/2.0/UDP \(self.me);branch=z9hG4bK-\(self.user)-\(self.vias);rport",
            "Max-Forwards: 70", "From: <sip:\(self.user)@\(self.proxy.ip)>;tag=\(self.user)-tag", "To: \(to)",
            "Call-ID: \(self.callID)", "CSeq: \(method == "ACK" ? 1 : self.cseq) \(method)", "Contact: <sip:\(self.user)@\(self.me)>",
        ] + extra
        if let contentType { lines.append("Content-Type: \(contentType)") }
        lines.append("Content-Length: \(body.utf8.count)")
        try self.socket.send(lines.joined(separator: "\r\n") + "\r\n\r\n" + body, to: self.proxy.ip, port: self.proxy.port)
    }

    /// The first message (already read or arriving within `timeout` s) that `matches`; the others are kept.
    func next(timeout: Double = 10, _ matches: (String) -> Bool) -> String? {
        if let index = self.inbox.firstIndex(where: matches) { return self.inbox.remove(at: index) }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let got = self.socket.receive(timeout: deadline.timeIntervalSinceNow) { $0.contains(where: matches) }.messages
            self.inbox += got
            if let index = self.inbox.firstIndex(where: matches) { return self.inbox.remove(at: index) }
        }
        return nil
    }

    /// INVITE to the room (PCMU, telephone-event), its 2xx, ACK to the room's Contact.
    func join(_ room: String) throws {
        let ip = self.socket.localIP
        let sdp = ["v=0", "o=\(self.user) 1 1 IN IP4 \(ip)", "s=-", "c=IN IP4 \(ip)", "t=0 0", "m=audio 4000 RTP/AVP 0 101",
                   "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", ""].joined(separator: "\r\n")
        try self.send("INVITE", uri: "sip:\(room)@\(self.proxy.ip):\(self.proxy.port)", to: "<sip:\(room)@\(self.proxy.ip)>",
                      body: sdp, contentType: "application/sdp")
        guard let answer = self.next({ $0.hasPrefix("SIP/2.0 200") && $0.contains(" INVITE") }),
            let to = headerValue(answer, "To"), let contact = headerValue(answer, "Contact"),
            let open = contact.firstIndex(of: "<"), let close = contact.firstIndex(of: ">")
        else { throw TestSupportError("\(self.user): no 200 to the INVITE to \(room)") }
        self.toValue = to
        self.roomTarget = String(contact[contact.index(after: open)..<close])
        try self.send("ACK", uri: self.roomTarget, to: self.toValue)
    }

    /// REFER in the dialog with the room (RFC 3515): the response to it.
    func refer(_ target: String, extra: [String] = []) throws -> String? {
        try self.send("REFER", uri: self.roomTarget, to: self.toValue,
                      extra: ["Refer-To: <\(target)>", "Referred-By: <sip:\(self.user)@\(self.proxy.ip)>"] + extra)
        return self.next { $0.hasPrefix("SIP/2.0 ") && $0.contains(" REFER") }
    }

    /// REFER outside any dialog, to the room's URI (RFC 4579 §5.5 allows it): the response to it.
    func refer(room: String, _ target: String) throws -> String? {
        try self.send("REFER", uri: "sip:\(room)@\(self.proxy.ip):\(self.proxy.port)", to: "<sip:\(room)@\(self.proxy.ip)>",
                      extra: ["Refer-To: <\(target)>"])
        return self.next { $0.hasPrefix("SIP/2.0 ") && $0.contains(" REFER") }
    }

    /// The next NOTIFY from the room, answered 200 (RFC 6665 §4.1.3).
    func notify(timeout: Double = 15) throws -> String? {
        guard let notify = self.next(timeout: timeout, { $0.hasPrefix("NOTIFY ") }) else { return nil }
        var lines = ["SIP/2.0 200 OK"]
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for value in headers(name, in: notify) { lines.append("\(name): \(value)") }
        }
        lines.append("Content-Length: 0")
        try self.socket.send(lines.joined(separator: "\r\n") + "\r\n\r\n", to: self.proxy.ip, port: self.proxy.port)
        return notify
    }

    /// BYE, and its 200.
    func hangUp() throws -> Bool {
        try self.send("BYE", uri: self.roomTarget, to: self.toValue)
        return self.next { $0.hasPrefix("SIP/2.0 200") && $0.contains(" BYE") } != nil
    }
}
