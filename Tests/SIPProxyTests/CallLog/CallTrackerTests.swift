// CallTracker: synthetic message sequences, both directions as the proxy sees them.

import Foundation
import Testing

@testable import SIPProxy

extension CallLogTests {
    @Suite("CallTracker")
    struct TrackerTests {
        let call = TestCall(callID: "c1@192.0.2.10", fromTag: "a1")
        let alice = CallFixtures.alice
        let bob = CallFixtures.bob

        /// INVITE, 100 (proxy), 180, 200 at 6 s, ACK.
        func answered(_ script: inout TrackerScript, body: String = "") {
            script.relay(self.call.invite(body: body), from: self.alice, to: self.bob, at: 0)
            script.send(self.call.response(100, "Trying", toTag: nil), to: self.alice, at: 0.01)
            script.relay(self.call.response(180, "Ringing", toTag: "b1"), from: self.bob, to: self.alice, at: 1)
            script.relay(
                self.call.response(200, "OK", toTag: "b1", contact: "sip:bob@192.0.2.20:5060", body: body),
                from: self.bob, to: self.alice, at: 6
            )
            script.relay(
                self.call.inDialog("ACK", fromCaller: true, toTag: "b1", cseq: 1), from: self.alice, to: self.bob,
                at: 6.05
            )
        }

        @Test func answeredThenCallerHangsUp() throws {
            var script = TrackerScript()
            self.answered(&script)
            script.relay(
                self.call.inDialog("BYE", fromCaller: true, toTag: "b1", cseq: 2), from: self.alice, to: self.bob,
                at: 15.02
            )
            script.relay(
                self.call.inDialogResponse(200, method: "BYE", fromCaller: true, toTag: "b1", cseq: 2),
                from: self.bob, to: self.alice, at: 15.05
            )
            #expect(script.names == ["started", "ringing", "answered", "ended"])
            let record = try #require(script.ended.first)
            #expect(record.outcome == .completed)
            #expect(record.hungUpBy == .caller)
            #expect(record.caller == "sip:alice@example.com")
            #expect(record.callerName == "Alice")
            #expect(record.callee == "sip:bob@example.com")
            #expect(record.source == "192.0.2.10:5060")
            #expect(record.answeredFrom == "192.0.2.20:5060")
            #expect(record.answeringContact == "sip:bob@192.0.2.20:5060")
            #expect(record.ringingAt == CallFixtures.at(1))
            #expect(record.ringSeconds == 6)
            #expect(record.talkSeconds == 9.02)
            #expect(record.finalCode == 200)
            #expect(record.finalReason == "OK")
            #expect(script.tracker.count == 0)
        }

        @Test func answeredThenCalleeHangsUp() throws {
            var script = TrackerScript()
            self.answered(&script)
            script.relay(
                self.call.inDialog("BYE", fromCaller: false, toTag: "b1", cseq: 1), from: self.bob, to: self.alice,
                at: 66.5
            )
            let record = try #require(script.ended.first)
            #expect(record.outcome == .completed)
            #expect(record.hungUpBy == .callee)
            #expect(record.talkSeconds == 60.5)
            #expect(script.ended.count == 1)
        }

        @Test func cancelledByCaller() throws {
            var script = TrackerScript()
            script.relay(self.call.invite(), from: self.alice, to: self.bob, at: 0)
            script.relay(self.call.response(180, "Ringing", toTag: "b1"), from: self.bob, to: self.alice, at: 1)
            script.relay(self.call.cancel(), from: self.alice, to: self.bob, at: 4)
            script.relay(
                self.call.response(487, "Request Terminated", toTag: "b1"), from: self.bob, to: self.alice, at: 4.1
            )
            let record = try #require(script.ended.first)
            #expect(record.outcome == .cancelled)
            #expect(record.finalCode == 487)
            #expect(record.hungUpBy == nil)
            #expect(record.talkSeconds == nil)
            #expect(record.ringSeconds == 4.1)
        }

        @Test(arguments: [
            (603, "Decline", CallOutcome.declined), (486, "Busy Here", .busy), (600, "Busy Everywhere", .busy),
            (480, "Temporarily Unavailable", .noAnswer), (408, "Request Timeout", .noAnswer),
            (487, "Request Terminated", .noAnswer), (500, "Server Internal Error", .failed),
        ])
        func rejectedByThePhone(code: Int, reason: String, outcome: CallOutcome) throws {
            var script = TrackerScript()
            script.relay(self.call.invite(), from: self.alice, to: self.bob, at: 0)
            script.relay(self.call.response(code, reason, toTag: "b1"), from: self.bob, to: self.alice, at: 2)
            let record = try #require(script.ended.first)
            #expect(record.outcome == outcome)
            #expect(record.finalCode == code)
            #expect(record.finalReason == reason)
        }

        @Test func phraseAsSentToTheCaller() throws {
            var script = TrackerScript()
            script.relay(self.call.invite(), from: self.alice, to: self.bob, at: 0)
            script.receive(self.call.response(486, "Occupato", toTag: "b1"), from: self.bob, at: 2)
            script.send(self.call.response(486, "Busy Here", toTag: "b1"), to: self.alice, at: 2)
            #expect(script.ended.first?.finalReason == "Busy Here")
        }

        @Test func unknownUserIsUnreachable() throws {
            var script = TrackerScript()
            script.receive(self.call.invite(), from: self.alice, at: 0)
            script.send(self.call.response(404, "Not Found", toTag: "sp1x"), to: self.alice, at: 0.01)
            let record = try #require(script.ended.first)
            #expect(record.outcome == .unreachable)
            #expect(record.source == "192.0.2.10:5060")
        }

        @Test func unregisteredUserIsUnreachableButAPhones480IsNoAnswer() throws {
            var script = TrackerScript()
            script.receive(self.call.invite(), from: self.alice, at: 0)
            script.send(self.call.response(480, "Temporarily Unavailable", toTag: "spq"), to: self.alice, at: 0.01)
            #expect(script.ended.first?.outcome == .unreachable)
        }

        @Test func forkedAnswerIsOneRecordWithTheAnsweringContact() throws {
            var script = TrackerScript()
            let bob2 = CallFixtures.bob2
            script.receive(self.call.invite(), from: self.alice, at: 0)
            script.send(self.call.invite(), to: self.bob, at: 0)
            script.send(self.call.invite(), to: bob2, at: 0)
            script.relay(self.call.response(180, "Ringing", toTag: "b1"), from: self.bob, to: self.alice, at: 1)
            script.relay(self.call.response(180, "Ringing", toTag: "b2"), from: bob2, to: self.alice, at: 1.2)
            script.relay(
                self.call.response(200, "OK", toTag: "b2", contact: "sip:bob@192.0.2.21:5070"), from: bob2,
                to: self.alice, at: 5
            )
            // The proxy cancels the other branch; its 487 is absorbed (§16.7 step 10).
            script.receive(self.call.response(487, "Request Terminated", toTag: "b1"), from: self.bob, at: 5.1)
            script.relay(
                self.call.inDialog("BYE", fromCaller: false, toTag: "b2", cseq: 1), from: bob2, to: self.alice,
                at: 20
            )
            #expect(script.names == ["started", "ringing", "answered", "ended"])
            let record = try #require(script.ended.first)
            #expect(record.outcome == .completed)
            #expect(record.answeredFrom == "192.0.2.21:5060")
            #expect(record.answeringContact == "sip:bob@192.0.2.21:5070")
            #expect(record.hungUpBy == .callee)
            #expect(record.talkSeconds == 15)
        }

        @Test func twoConcurrentCallsBetweenTheSameUsers() throws {
            var script = TrackerScript()
            let second = TestCall(callID: "c2@192.0.2.10", fromTag: "a2")
            script.relay(self.call.invite(), from: self.alice, to: self.bob, at: 0)
            script.relay(second.invite(), from: self.alice, to: self.bob, at: 1)
            #expect(script.tracker.count == 2)
            script.relay(self.call.response(200, "OK", toTag: "b1"), from: self.bob, to: self.alice, at: 2)
            script.relay(second.response(486, "Busy Here", toTag: "b9"), from: self.bob, to: self.alice, at: 3)
            script.relay(
                self.call.inDialog("BYE", fromCaller: true, toTag: "b1", cseq: 2), from: self.alice, to: self.bob,
                at: 10
            )
            #expect(script.ended.map(\.callID) == ["c2@192.0.2.10", "c1@192.0.2.10"])
            #expect(script.ended.map(\.outcome) == [.busy, .completed])
        }

        @Test func sameCallIDDifferentFromTagIsAnotherCall() {
            var script = TrackerScript()
            let other = TestCall(callID: self.call.callID, fromTag: "zz")
            script.relay(self.call.invite(), from: self.alice, to: self.bob, at: 0)
            script.relay(other.invite(), from: self.alice, to: self.bob, at: 0)
            #expect(script.tracker.count == 2)
        }

        @Test func retransmittedInviteAfterTheEndStartsNothing() {
            var script = TrackerScript()
            script.relay(self.call.invite(), from: self.alice, to: self.bob, at: 0)
            script.relay(self.call.response(486, "Busy Here", toTag: "b1"), from: self.bob, to: self.alice, at: 1)
            script.receive(self.call.invite(), from: self.alice, at: 1.5)
            #expect(script.names == ["started", "ended"])
            #expect(script.tracker.count == 0)
        }

        @Test func authenticationRetryStaysOneCall() throws {
            var script = TrackerScript()
            script.relay(self.call.invite(), from: self.alice, to: self.bob, at: 0)
            script.relay(
                self.call.response(407, "Proxy Authentication Required", toTag: "x"), from: self.bob,
                to: self.alice, at: 0.1
            )
            script.relay(self.call.invite(cseq: 2), from: self.alice, to: self.bob, at: 0.5)
            script.relay(self.call.response(200, "OK", toTag: "b1", cseq: 2), from: self.bob, to: self.alice, at: 3)
            #expect(script.names == ["started", "answered"])
        }

        @Test func transferLinksTheNewCall() throws {
            var script = TrackerScript()
            self.answered(&script)
            // Bob (callee) refers Alice to Carol (RFC 3515): Alice is the transferee.
            script.relay(
                self.call.inDialog(
                    "REFER", fromCaller: false, toTag: "b1", cseq: 1,
                    extra: ["Refer-To: <sip:carol@example.com>", "Referred-By: <sip:bob@example.com>"]
                ),
                from: self.bob, to: self.alice, at: 10
            )
            let transfer = TestCall(callID: "c3@192.0.2.10", fromTag: "a3", caller: "alice", callee: "carol")
            script.relay(
                transfer.invite(extra: ["Referred-By: <sip:bob@example.com>"]), from: self.alice,
                to: CallFixtures.carol, at: 11
            )
            script.relay(
                self.call.inDialog("BYE", fromCaller: false, toTag: "b1", cseq: 2), from: self.bob, to: self.alice,
                at: 12
            )
            let old = try #require(script.ended.first)
            #expect(old.transferredTo == "sip:carol@example.com")
            let started = script.events.compactMap { event -> CallRecord? in
                if case .started(let r) = event, r.callID == "c3@192.0.2.10" { return r }
                return nil
            }
            #expect(started.first?.transferredFrom == "c1@192.0.2.10")
        }

        @Test("two shards' trackers: the REFER seen by one, the transferee's INVITE by the other, still linked")
        func transferAcrossShards() throws {
            var first = TrackerScript()
            var second = TrackerScript()
            second.tracker = CallTracker(configuration: first.tracker.configuration, transfers: first.tracker.transfers)
            self.answered(&first)
            first.relay(
                self.call.inDialog("REFER", fromCaller: false, toTag: "b1", cseq: 1,
                                   extra: ["Refer-To: <sip:carol@example.com>"]),
                from: self.bob, to: self.alice, at: 10
            )
            let transfer = TestCall(callID: "c5@192.0.2.10", fromTag: "a5", caller: "alice", callee: "carol")
            second.relay(transfer.invite(), from: self.alice, to: CallFixtures.carol, at: 11)
            let record = try #require(second.tracker.inProgress.first { $0.callID == "c5@192.0.2.10" })
            #expect(record.transferredFrom == "c1@192.0.2.10")
            #expect(first.tracker.transfers.count == 0, "claimed once")
        }

        @Test func transferWindowIsThirtySeconds() {
            var script = TrackerScript()
            self.answered(&script)
            script.relay(
                self.call.inDialog("REFER", fromCaller: false, toTag: "b1", cseq: 1,
                                   extra: ["Refer-To: <sip:carol@example.com>"]),
                from: self.bob, to: self.alice, at: 10
            )
            let late = TestCall(callID: "c4@192.0.2.10", fromTag: "a4", caller: "alice", callee: "carol")
            script.relay(late.invite(), from: self.alice, to: CallFixtures.carol, at: 41)
            let record = script.tracker.inProgress.first { $0.callID == "c4@192.0.2.10" }
            #expect(record != nil)
            #expect(record?.transferredFrom == nil)
        }

        @Test func videoReinviteIsNoted() throws {
            var script = TrackerScript()
            self.answered(&script, body: CallFixtures.sdp())
            #expect(script.tracker.inProgress.first?.media == [
                CallMedia(type: "audio", port: 49170, codecs: ["PCMU", "PCMA", "telephone-event"])
            ])
            let video = CallFixtures.sdp(videoPort: 51372)
            script.relay(
                self.call.inDialog("INVITE", fromCaller: true, toTag: "b1", cseq: 2, body: video), from: self.alice,
                to: self.bob, at: 20
            )
            script.relay(
                self.call.inDialogResponse(200, method: "INVITE", fromCaller: true, toTag: "b1", cseq: 2, body: video),
                from: self.bob, to: self.alice, at: 20.2
            )
            #expect(script.names == ["started", "ringing", "answered", "mediaChanged"])
            let record = try #require(script.events.last?.record)
            #expect(record.videoAdded)
            #expect(record.media.map(\.type) == ["audio", "video"])
            #expect(record.media.last?.codecs == ["H264"])
            // Video removed again (port 0, RFC 3264 §8.2): another change, videoAdded stays.
            let audioOnly = CallFixtures.sdp(videoPort: 0)
            script.relay(
                self.call.inDialog("INVITE", fromCaller: false, toTag: "b1", cseq: 1, body: audioOnly),
                from: self.bob, to: self.alice, at: 30
            )
            script.relay(
                self.call.inDialogResponse(200, method: "INVITE", fromCaller: false, toTag: "b1", cseq: 1,
                                           body: audioOnly),
                from: self.alice, to: self.bob, at: 30.1
            )
            #expect(script.names.filter { $0 == "mediaChanged" }.count == 2)
            #expect(script.events.last?.record.media.last?.port == 0)
        }

        @Test func idleCallsExpire() throws {
            var script = TrackerScript()
            self.answered(&script)
            let unanswered = TestCall(callID: "c5@192.0.2.10", fromTag: "a5")
            script.relay(unanswered.invite(), from: self.alice, to: self.bob, at: 100)
            #expect(script.tracker.expire(now: CallFixtures.at(200)).isEmpty)
            let first = script.tracker.expire(now: CallFixtures.at(281))
            #expect(first.map(\.record.callID) == ["c5@192.0.2.10"])
            #expect(first.first?.record.outcome == .timedOut)
            #expect(first.first?.record.endedAt == CallFixtures.at(100))
            let second = script.tracker.expire(now: CallFixtures.at(6.05 + 4 * 3600 + 1))
            let record = try #require(second.first?.record)
            #expect(record.outcome == .timedOut)
            #expect(record.talkSeconds == 0.05)
            #expect(script.tracker.count == 0)
        }

        @Test func memoryBoundExpiresTheOldestUnansweredAttempt() {
            var script = TrackerScript { $0.maxCalls = 3 }
            self.answered(&script)  // c1, answered at 6 s: stays
            for i in 2...3 {
                let c = TestCall(callID: "m\(i)", fromTag: "t\(i)")
                script.relay(c.invite(), from: self.alice, to: self.bob, at: Double(10 + i))
            }
            #expect(script.tracker.count == 3)
            script.relay(TestCall(callID: "m4", fromTag: "t4").invite(), from: self.alice, to: self.bob, at: 20)
            #expect(script.tracker.count == 3)
            #expect(script.ended.map(\.callID) == ["m2"])
            #expect(script.ended.first?.outcome == .timedOut)
            #expect(Set(script.tracker.inProgress.map(\.callID)) == ["c1@192.0.2.10", "m3", "m4"])
        }

        @Test func stateFunction() {
            var facts = CallFacts()
            #expect(CallState.derive(facts) == .calling)
            facts.rang = true
            #expect(CallState.derive(facts) == .ringing)
            facts.finalCode = 407
            #expect(CallState.derive(facts) == .ringing)
            facts.idleExpired = true
            #expect(CallState.derive(facts) == .ended(.failed))
            facts = CallFacts()
            facts.finalCode = 480
            #expect(CallState.derive(facts) == .ended(.noAnswer))
            facts.finalFromProxy = true
            #expect(CallState.derive(facts) == .ended(.unreachable))
            facts = CallFacts()
            facts.answered = true
            #expect(CallState.derive(facts) == .answered)
            facts.byeSeen = true
            #expect(CallState.derive(facts) == .ended(.completed))
            facts.interrupted = true
            #expect(CallState.derive(facts) == .ended(.interrupted))
        }
    }
}
