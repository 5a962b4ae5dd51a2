// RoomReferral: one REFER to a room (RFC 4579 §5.5, a phone's "merge"/"add to conference" button), from the 202
// Accepted to the last NOTIFY, as a pure state machine. The core feeds it what happened to the INVITE the room
// sent to the referred party and performs the actions it returns; it never sees a socket or a clock.
//
// RFC 3515 §2.4.4-§2.4.5: the REFER's recipient reports the referral's progress in NOTIFYs (Event: refer) whose
// body is a message/sipfrag (RFC 3420) of the status line of the response to its INVITE: `SIP/2.0 100 Trying`
// first, then the final one, with Subscription-State `terminated` on that last NOTIFY.

import Foundation
import NIOCore

struct RoomReferral: Sendable, Equatable {
    enum Phase: Sendable, Equatable {
        /// The INVITE is out, no final response yet.
        case inviting
        /// No answer within `noAnswerLimit`: the INVITE was CANCELled (RFC 3261 §9.1), its 487 is awaited.
        case cancelling
        /// A 2xx came and was ACKed; the room is taking its answer.
        case seating
        /// Over: the final status the referrer was told.
        case ended(status: Int)
    }

    enum Event: Sendable, Equatable {
        /// A 1xx to the INVITE: the party exists and is alerted (a CANCEL may now be sent, §9.1).
        case provisional
        /// A 2xx to the INVITE (the first, or a retransmission: each is ACKed, §13.2.2.4).
        case answered
        /// The room took the answer and seated the party.
        case seated
        /// The answer cannot be used (no codec in common, RFC 3264 §6): the status told to the referrer.
        case seatRefused(status: Int, reason: String)
        /// A final non-2xx, or a timeout (408) or transport error (503) of the client transaction (§17.1.1.2).
        case failed(status: Int, reason: String)
        /// `noAnswerLimit` passed without a final response.
        case noAnswer
        /// 64*T1 passed since the CANCEL without a final response (§9.1): the INVITE is given up.
        case cancelGuardExpired
    }

    enum Action: Sendable, Equatable {
        /// A NOTIFY in the REFER's dialog with `SIP/2.0 <status> <reason>`; `final` ends the implicit subscription.
        case notify(status: Int, reason: String, final: Bool)
        /// ACK the 2xx (§13.2.2.4: the UAC core, not the transaction, acknowledges every 2xx).
        case acknowledge
        /// Hand the 2xx's SDP answer to the room.
        case seat
        /// End the call just answered: a BYE (§15.1.1), because the CANCEL came too late or the answer was unusable.
        case hangUp
        /// CANCEL the INVITE (§9.1), and start the 64*T1 guard whose expiry is `.cancelGuardExpired`.
        case cancel
        /// Give up the INVITE's client transaction: its final response will not come (§9.1).
        case abandon
        /// Give the port the room reserved for its offer back.
        case withdraw
    }

    /// A ringing party that does not answer in this long is given up (the referrer is told 487): without it a
    /// phone left ringing would keep the referral, its reserved port and the referrer's subscription forever.
    static let noAnswerLimit = TimeAmount.seconds(60)
    /// How long the referrer's implicit subscription lasts (RFC 6665 §4.1.3 `expires`): past the no-answer
    /// limit and Timer B, so the final NOTIFY always comes while it is active.
    static let subscriptionSeconds = 120

    private(set) var phase = Phase.inviting
    /// Whether a provisional response came (a CANCEL before one is not sent, §9.1).
    private(set) var alerted = false
    /// The no-answer limit passed before any provisional: the CANCEL goes with the first one.
    private(set) var cancelWhenAlerted = false

    /// The first NOTIFY, sent with the 202 (RFC 3515 §2.4.4: the subscription's initial state).
    func start() -> [Action] { [.notify(status: 100, reason: "Trying", final: false)] }

    var isOver: Bool {
        if case .ended = self.phase { return true }
        return false
    }

    mutating func handle(_ event: Event) -> [Action] {
        switch (self.phase, event) {
        case (.inviting, .provisional):
            self.alerted = true
            guard self.cancelWhenAlerted else { return [] }
            self.phase = .cancelling
            return [.cancel]
        case (.cancelling, .provisional):
            self.alerted = true
            return []
        case (.inviting, .answered):
            self.phase = .seating
            return [.acknowledge, .seat]
        case (.cancelling, .answered):
            // The 2xx crossed our CANCEL (§9.1): the call exists and must be acknowledged, then ended.
            self.phase = .ended(status: 487)
            return [.acknowledge, .hangUp, .withdraw, .notify(status: 487, reason: "Request Terminated", final: true)]
        case (.seating, .answered), (.ended, .answered):
            return [.acknowledge]
        case (.seating, .seated):
            self.phase = .ended(status: 200)
            return [.notify(status: 200, reason: "OK", final: true)]
        case (.seating, .seatRefused(let status, let reason)):
            self.phase = .ended(status: status)
            return [.hangUp, .notify(status: status, reason: reason, final: true)]
        case (.inviting, .failed(let status, let reason)), (.cancelling, .failed(let status, let reason)):
            self.phase = .ended(status: status)
            return [.withdraw, .notify(status: status, reason: reason, final: true)]
        case (.inviting, .noAnswer):
            guard self.alerted else {
                // §9.1: no CANCEL before a provisional. Timer B ends the INVITE with a 408 unless a 1xx comes
                // first (with a long T1, Timer B outlasts the limit): then the CANCEL goes with it.
                self.cancelWhenAlerted = true
                return []
            }
            self.phase = .cancelling
            return [.cancel]
        case (.cancelling, .cancelGuardExpired):
            // A phone that took the CANCEL (or lost it) and never sent its 487: nothing more will come.
            self.phase = .ended(status: 487)
            return [.abandon, .withdraw, .notify(status: 487, reason: "Request Terminated", final: true)]
        default:
            return []
        }
    }

    /// The sipfrag body of a NOTIFY (RFC 3420 §2: a status line alone is a complete fragment).
    static func sipfrag(status: Int, reason: String) -> [UInt8] {
        Array("SIP/2.0 \(status) \(reason)\r\n".utf8)
    }

    /// Subscription-State of a NOTIFY (RFC 6665 §4.1.3; RFC 3515 §2.4.5: `terminated` with the final status).
    static func subscriptionState(final: Bool) -> String {
        final ? "terminated;reason=noresource" : "active;expires=\(Self.subscriptionSeconds)"
    }
}

extension RoomReferral {
    /// Whom a REFER names (RFC 3515 §2.1): the Refer-To URI without its headers, and the Replaces header among
    /// them (RFC 3891 §3: the INVITE must carry it, so the party's phone swaps an existing call for the room's).
    /// Other URI headers are not passed on: the room makes its INVITE itself.
    struct Target: Sendable, Equatable {
        var uri: SIPURI
        var replaces: String?
    }

    /// The target of a REFER's Refer-To values, or the status refusing the REFER: 400 for none, several or a
    /// malformed one (RFC 3515 §2.4.1), 416 for a scheme other than sip/sips (RFC 3261 §8.2.2.1).
    static func target(referTo values: [String]) -> Result<Target, ReferRefusal> {
        guard values.count == 1, let address = NameAddress.parseList(values)?.first else { return .failure(ReferRefusal(status: 400, reason: "exactly one Refer-To is needed")) }
        var uri = address.uri
        guard uri.isSIP else { return .failure(ReferRefusal(status: 416, reason: "Refer-To must be a SIP URI")) }
        guard uri.user != nil else { return .failure(ReferRefusal(status: 400, reason: "Refer-To names no user")) }
        var replaces: String?
        for field in (uri.headers ?? "").split(separator: "&") {
            let parts = field.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "replaces" else { continue }
            guard let value = String(parts[1]).removingPercentEncoding, Self.isReplaces(value) else {
                return .failure(ReferRefusal(status: 400, reason: "malformed Replaces in Refer-To"))
            }
            replaces = value
        }
        uri.headers = nil
        // RFC 3261 §19.1.1: `method` in a Refer-To names the request to send; the room only INVITEs.
        if let method = uri.parameters["method"], method.uppercased() != "INVITE" {
            return .failure(ReferRefusal(status: 403, reason: "the room only sends INVITE"))
        }
        uri.parameters.remove("method")
        return .success(Target(uri: uri, replaces: replaces))
    }

    /// RFC 3891 §6.1: `callid *(SEMI replaces-param)` with exactly one to-tag and one from-tag (§3). Only visible
    /// ASCII is accepted: the value comes percent-decoded from a URI, and a CR or LF in it would add headers (or a
    /// whole message) to the INVITE the room sends to a third party.
    static func isReplaces(_ value: String) -> Bool {
        guard !value.isEmpty, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return false }
        let parts = value.split(separator: ";", omittingEmptySubsequences: false)
        guard let callID = parts.first, !callID.isEmpty else { return false }
        var toTags = 0
        var fromTags = 0
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = pair.first, !name.isEmpty else { return false }
            switch name.lowercased() {
            case "to-tag": toTags += 1
            case "from-tag": fromTags += 1
            default: break
            }
            if pair.count == 2 && pair[1].isEmpty { return false }
        }
        return toTags == 1 && fromTags == 1
    }

    struct ReferRefusal: Error, Sendable, Equatable {
        var status: Int
        var reason: String
    }
}
