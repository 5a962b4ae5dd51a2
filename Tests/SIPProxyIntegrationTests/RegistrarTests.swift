import Foundation
import Testing

/// REGISTER flows against a fresh `sipctl serve`: bindings listed back, refresh,
/// removal with Expires: 0 and with `Contact: *`.
@Suite("Registrar over SIPp", .serialized)
struct SIPpRegistrarTests {
    @Test("REGISTER lists the contact back with ;expires", arguments: SIPTransport.allCases)
    func register(transport: SIPTransport) async throws {
        let bed = try await TestBed("register-\(transport)")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: transport)

        let r = try await bed.register(bob, expires: 300)
        let ok = try #require(r.receivedResponses(200).last, "no 200 OK\n\(bed.diagnostics(r))")
        let contacts = headers("Contact", in: ok)
        #expect(contacts.contains { $0.contains("sip:bob@\(bob.address)") && $0.contains("expires=") },
                "200 OK does not list \(bob.address): \(contacts)\n\(bed.diagnostics(r))")
    }

    @Test("re-REGISTER (same Call-ID, CSeq 2) refreshes the binding")
    func reregister() async throws {
        let bed = try await TestBed("reregister")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")

        let r = try await bed.run("reregister.xml", as: bob, keys: ["expires": "300"])
        #expect(r.passed, "\(bed.diagnostics(r))")
        let oks = r.receivedResponses(200)
        #expect(oks.count == 2, "expected two 200 OK\n\(bed.diagnostics(r))")
        // Still a single binding for this contact after the refresh.
        if let last = oks.last {
            let mine = headers("Contact", in: last).flatMap { $0.split(separator: ",") }
                .filter { $0.contains("sip:bob@\(bob.address)") }
            #expect(mine.count == 1, "refresh duplicated the binding: \(mine)\n\(bed.diagnostics(r))")
        }
    }

    @Test("Expires: 0 removes the binding")
    func unregister() async throws {
        let bed = try await TestBed("unregister")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)

        let r = try await bed.run("register-remove.xml", as: bob)
        #expect(r.passed, "\(bed.diagnostics(r))")
        if let ok = r.receivedResponses(200).last {
            #expect(!headers("Contact", in: ok).contains { $0.contains("sip:bob@\(bob.address)") },
                    "removed contact still listed\n\(bed.diagnostics(r))")
        }
    }

    @Test("Contact: * with Expires: 0 removes the sender's bindings only; once both phones sent it the user gets 480")
    func wildcard() async throws {
        let bed = try await TestBed("wildcard")
        defer { bed.shutdown() }
        let bob1 = Phone("bob", ip: "127.0.0.12")
        let bob2 = Phone("bob", ip: "127.0.0.14")
        try await bed.register(bob1)
        let second = try await bed.register(bob2)
        if let ok = second.receivedResponses(200).last {
            let contacts = headers("Contact", in: ok).joined(separator: ",")
            #expect(contacts.contains(bob1.address) && contacts.contains(bob2.address),
                    "both contacts should be listed: \(contacts)\n\(bed.diagnostics(second))")
        }

        // Without authentication a REGISTER may only remove bindings its own address made: bob1's wildcard
        // leaves bob2's binding, which the 200 still lists.
        let other = try await bed.run("register-wildcard.xml", as: Phone("bob", ip: "127.0.0.13"))
        #expect(!other.passed, "a stranger's Contact: * must not empty the AOR\n\(bed.diagnostics(other))")
        let registrations = try await sipctl(["registrations", "--json"], cwd: bed.directory)
        #expect(registrations.stdout.contains(bob1.address) && registrations.stdout.contains(bob2.address),
                "both bindings survive a stranger's Contact: *\n\(registrations)")
        let r1 = try await bed.run("register-wildcard.xml", as: bob1)
        #expect(!r1.passed, "bob2's binding is still listed after bob1's Contact: *\n\(bed.diagnostics(r1))")
        let after = try await sipctl(["registrations", "--json"], cwd: bed.directory)
        #expect(!after.stdout.contains(bob1.address) && after.stdout.contains(bob2.address),
                "bob1's own Contact: * removes bob1's binding only\n\(after)")
        let r = try await bed.run("register-wildcard.xml", as: bob2)
        #expect(r.passed, "\(bed.diagnostics(r))")

        let alice = Phone("alice", ip: "127.0.0.11")
        let call = try await bed.run("uac-expect-final.xml", as: alice, service: "bob", sets: ["code": "480"])
        #expect(call.passed, "call after Contact:* should get 480\n\(bed.diagnostics(call))")
    }

    @Test("too short Expires gets 423 with Min-Expires, and no binding is made")
    func intervalTooBrief() async throws {
        let bed = try await TestBed("423")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12")
        let r = try await bed.run("register-expect-final.xml", as: bob, keys: ["expires": "10"], sets: ["code": "423"])
        #expect(r.passed, "\(bed.diagnostics(r))")
        if let brief = r.receivedResponses(423).first {
            #expect(!headers("Min-Expires", in: brief).isEmpty, "423 without Min-Expires\n\(brief)")
        }
        let alice = Phone("alice", ip: "127.0.0.11")
        let call = try await bed.run("uac-expect-final.xml", as: alice, service: "bob", sets: ["code": "404"])
        #expect(call.passed, "a refused REGISTER must not create the user (expected 404)\n\(bed.diagnostics(call))")
    }
}
