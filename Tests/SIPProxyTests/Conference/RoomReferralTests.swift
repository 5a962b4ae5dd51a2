// The REFER-to-the-room machine (RFC 4579 §5.5, RFC 3515): what the room does for each turn of its INVITE, and
// what a Refer-To may name.

import Testing

@testable import SIPProxy

@Suite("Conference: REFER to the room")
struct RoomReferralTests {
    @Test("answered: 100 Trying first, the 2xx ACKed and seated, 200 OK last; a retransmitted 2xx is ACKed again")
    func answered() {
        var machine = RoomReferral()
        #expect(machine.start() == [.notify(status: 100, reason: "Trying", final: false)])
        #expect(machine.handle(.provisional).isEmpty)
        #expect(machine.handle(.answered) == [.acknowledge, .seat])
        #expect(machine.phase == .seating)
        #expect(machine.handle(.seated) == [.notify(status: 200, reason: "OK", final: true)])
        #expect(machine.isOver && machine.phase == .ended(status: 200))
        #expect(machine.handle(.answered) == [.acknowledge], "§13.2.2.4: every 2xx retransmission is ACKed")
        #expect(machine.handle(.failed(status: 408, reason: "Request Timeout")).isEmpty)
    }

    @Test("refused or timed out: the port goes back and the referrer hears the status; nothing is seated")
    func failed() {
        for (status, reason) in [(486, "Busy Here"), (404, "Not Found"), (408, "Request Timeout")] {
            var machine = RoomReferral()
            #expect(machine.handle(.failed(status: status, reason: reason))
                == [.withdraw, .notify(status: status, reason: reason, final: true)])
            #expect(machine.phase == .ended(status: status))
            #expect(machine.handle(.seated).isEmpty)
        }
    }

    @Test("an answer the room cannot use is ACKed, then ended with a BYE; the referrer hears 488")
    func unusableAnswer() {
        var machine = RoomReferral()
        _ = machine.handle(.answered)
        #expect(machine.handle(.seatRefused(status: 488, reason: "Not Acceptable Here"))
            == [.hangUp, .notify(status: 488, reason: "Not Acceptable Here", final: true)])
    }

    @Test("no answer: CANCEL only once the party rings (§9.1); a 2xx crossing the CANCEL is ACKed and hung up")
    func noAnswer() {
        var silent = RoomReferral()
        #expect(silent.handle(.noAnswer).isEmpty, "no 1xx: Timer B ends it with 408")
        #expect(silent.phase == .inviting)

        var ringing = RoomReferral()
        _ = ringing.handle(.provisional)
        #expect(ringing.handle(.noAnswer) == [.cancel])
        #expect(ringing.handle(.noAnswer).isEmpty)
        var crossed = ringing
        #expect(ringing.handle(.failed(status: 487, reason: "Request Terminated"))
            == [.withdraw, .notify(status: 487, reason: "Request Terminated", final: true)])
        #expect(crossed.handle(.answered)
            == [.acknowledge, .hangUp, .withdraw, .notify(status: 487, reason: "Request Terminated", final: true)])
    }

    @Test("NOTIFY body and subscription state")
    func notifyParts() {
        #expect(String(decoding: RoomReferral.sipfrag(status: 100, reason: "Trying"), as: UTF8.self) == "SIP/2.0 100 Trying\r\n")
        #expect(RoomReferral.subscriptionState(final: false) == "active;expires=\(RoomReferral.subscriptionSeconds)")
        #expect(RoomReferral.subscriptionState(final: true) == "terminated;reason=noresource")
    }

    @Test("Refer-To: the URI without headers, Replaces decoded; none, two, tel: or method=BYE refused")
    func referTo() throws {
        let plain = try RoomReferral.target(referTo: ["<sip:bob@127.0.0.10>"]).get()
        #expect(plain.uri.serialized == "sip:bob@127.0.0.10" && plain.replaces == nil)
        let replacing = try RoomReferral.target(
            referTo: ["\"Bob\" <sip:bob@lab.test?Replaces=abc%40host%3Bto-tag%3D12%3Bfrom-tag%3D34&Subject=x>"]
        ).get()
        #expect(replacing.uri.serialized == "sip:bob@lab.test")
        #expect(replacing.replaces == "abc@host;to-tag=12;from-tag=34")
        #expect(try RoomReferral.target(referTo: ["sip:carol@127.0.0.10;method=INVITE"]).get().uri.serialized == "sip:carol@127.0.0.10")
        func status(_ values: [String]) -> Int? {
            if case .failure(let refusal) = RoomReferral.target(referTo: values) { return refusal.status }
            return nil
        }
        #expect(status([]) == 400)
        #expect(status(["<sip:bob@a>", "<sip:carol@a>"]) == 400)
        #expect(status(["<tel:+15551234>"]) == 416)
        #expect(status(["<sip:127.0.0.10>"]) == 400, "no user to call")
        #expect(status(["<sip:bob@a;method=BYE>"]) == 403)
        // A Replaces that would add lines to the room's INVITE (CR LF decoded from %0D%0A), or one without both
        // tags (RFC 3891 §3), is refused.
        #expect(status(["<sip:bob@a?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2%0D%0ACall-Info%3A%20x>"]) == 400)
        #expect(status(["<sip:bob@a?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2%00>"]) == 400)
        #expect(status(["<sip:bob@a?Replaces=abc%3Bto-tag%3D1>"]) == 400)
        #expect(status(["<sip:bob@a?Replaces=%3Bto-tag%3D1%3Bfrom-tag%3D2>"]) == 400)
        #expect(status(["<sip:bob@a?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2%3Bto-tag%3D3>"]) == 400)
        #expect(RoomReferral.isReplaces("a@b;to-tag=1;from-tag=2;early-only"))
    }

    @Test("a CANCEL nobody answers: 64*T1 later the INVITE is given up and the referrer hears 487 (§9.1)")
    func cancelIgnored() {
        var machine = RoomReferral()
        _ = machine.handle(.provisional)
        #expect(machine.handle(.noAnswer) == [.cancel])
        #expect(machine.handle(.cancelGuardExpired)
            == [.abandon, .withdraw, .notify(status: 487, reason: "Request Terminated", final: true)])
        #expect(machine.isOver)
        #expect(machine.handle(.cancelGuardExpired).isEmpty)
    }

    @Test("the no-answer limit passes before any 1xx: the CANCEL goes with the first 1xx (§9.1)")
    func noAnswerBeforeRinging() {
        var machine = RoomReferral()
        #expect(machine.handle(.noAnswer).isEmpty)
        #expect(machine.handle(.provisional) == [.cancel])
        #expect(machine.phase == .cancelling)
        #expect(machine.handle(.provisional).isEmpty, "a second 1xx sends no second CANCEL")
    }
}
