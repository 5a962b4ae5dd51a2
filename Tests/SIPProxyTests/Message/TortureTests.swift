// RFC 4475 and RFC 5118 torture messages, read from ../shared/testdata/sip-torture (never copied here).
//
// Valid messages must parse and yield the right values; invalid ones must fail with the kind and status the RFCs
// ask for. Messages the RFCs reject only at a higher layer (unknown scheme 416, registrar 400, 420, 483) must
// parse here: those checks belong to the proxy core.

import Testing

@testable import SIPProxy

extension MessageTests {
    @Suite("Torture messages (RFC 4475, RFC 5118)")
    struct TortureTests {
        static let validNames = [
            "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq", "semiuri", "transports",
            "mpart01", "unreason", "noreason", "badbranch", "unkscm", "novelsc", "unksm2", "bext01", "invut",
            "regaut01", "bcast", "zeromf", "cparam01", "cparam02", "regescrt", "sdp01", "inv2543",
            "rfc5118/ipv6-good", "rfc5118/port-ambiguous", "rfc5118/port-unambiguous",
            "rfc5118/via-received-param-with-delim", "rfc5118/via-received-param-no-delim", "rfc5118/ipv6-in-sdp",
            "rfc5118/mult-ip-in-header", "rfc5118/mult-ip-in-sdp", "rfc5118/ipv4-mapped-ipv6",
            "rfc5118/ipv6-bug-abnf-3-colons", "rfc5118/ipv6-correct-abnf-2-colons",
        ]

        typealias Kind = SIPParseError.Kind
        static let invalidCases: [(name: String, kind: Kind, status: Int)] = [
            ("badinv01", .malformedHeader("via"), 400),
            ("clerr", .truncatedBody, 400),
            ("ncl", .invalidContentLength, 400),
            ("scalar02", .malformedHeader("cseq"), 400),
            ("scalarlg", .malformedHeader("cseq"), 400),
            ("quotbal", .malformedHeader("to"), 400),
            ("ltgtruri", .malformedRequestURI, 400),
            ("lwsruri", .malformedStartLine, 400),
            ("lwsstart", .malformedStartLine, 400),
            ("trws", .malformedStartLine, 400),
            ("escruri", .malformedRequestURI, 400),
            ("baddate", .malformedHeader("date"), 400),
            ("regbadct", .malformedHeader("contact"), 400),
            ("badaspec", .malformedHeader("to"), 400),
            // The unquoted comma splits From into two values (RFC 3261 §7.3.1), so it is seen as two From headers.
            ("baddn", .duplicateHeader("from"), 400),
            ("badvers", .unsupportedVersion, 505),
            ("mismatch01", .cseqMethodMismatch, 400),
            ("mismatch02", .cseqMethodMismatch, 501),
            ("bigcode", .invalidStatusCode, 400),
            ("insuf", .missingHeader("from"), 400),
            ("multi01", .duplicateHeader("call-id"), 400),
            ("mcl01", .invalidContentLength, 400),
            ("rfc5118/ipv6-bad", .malformedRequestURI, 400),
        ]

        /// Responses the RFC says to drop rather than answer: the error must say so.
        static let malformedResponses: Set<String> = ["scalarlg", "bigcode"]

        @Test("every manifest entry is covered with its class")
        func manifestCovered() {
            guard TortureCorpus.isPresent else { return TortureCorpus.noteMissing() }
            let manifest = TortureCorpus.manifest()
            #expect(manifest.count == 61)
            let valid = Set(Self.validNames)
            let invalid = Set(Self.invalidCases.map(\.name))
            for entry in manifest {
                if entry.valid {
                    #expect(valid.contains(entry.name), "valid \(entry.name) not tested")
                } else {
                    #expect(invalid.contains(entry.name), "invalid \(entry.name) not tested")
                }
            }
            #expect(valid.count + invalid.count == manifest.count)
        }

        @Test("valid messages parse with the right values", arguments: validNames)
        func valid(_ name: String) throws {
            guard let bytes = TortureCorpus.wireBytes(name) else { return TortureCorpus.noteMissing() }
            let message: SIPMessage
            do {
                message = try SIPParser().parse(bytes, framing: .datagram)
            } catch {
                Issue.record("\(name) failed: \(error)")
                return
            }
            try Self.check(name, message, bytes)
            // Serialize -> parse gives the same message (the proxy relays what it parsed).
            let again = try SIPParser().parse(message.bytes, framing: .datagram)
            #expect(again.callID == message.callID)
            #expect(again.cseq == message.cseq)
            #expect(again.body == message.body)
            #expect(again.headers.fields.filter { $0.key != "content-length" }
                == message.headers.fields.filter { $0.key != "content-length" })
            // And over a stream: frame finds exactly the serialized message.
            let wire = message.bytes
            let frame = try wire.withUnsafeBytes { raw throws(SIPParseError) in try SIPParser().frame(raw) }
            #expect(frame == .message(length: wire.count))
        }

        @Test("invalid messages fail with the right kind and status", arguments: invalidCases)
        func invalid(_ name: String, _ kind: Kind, _ status: Int) {
            guard let bytes = TortureCorpus.wireBytes(name) else { return TortureCorpus.noteMissing() }
            do {
                let message = try SIPParser().parse(bytes, framing: .datagram)
                Issue.record("\(name) parsed but must fail: \(message.summary)")
            } catch {
                #expect(error.kind == kind, "\(name): \(error)")
                #expect(error.status == status, "\(name): \(error)")
                #expect(!error.reason.isEmpty)
                if Self.malformedResponses.contains(name) {
                    #expect(error.isRequest == false, "\(name) is a response: drop it, never answer")
                } else {
                    #expect(error.isRequest == true, "\(name) is a request: answer it")
                }
            }
        }

        // MARK: - Per-message values

        static func req(_ m: SIPMessage) throws -> SIPRequest { try #require(m.request) }
        static func resp(_ m: SIPMessage) throws -> SIPResponse { try #require(m.response) }

        /// The body bytes after the first CRLFCRLF of the archive file.
        static func rawBody(_ bytes: [UInt8]) -> [UInt8] {
            guard bytes.count >= 4 else { return [] }
            for i in 0..<(bytes.count - 3)
            where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
                return Array(bytes[(i + 4)...])
            }
            return []
        }

        // swiftlint:disable:next cyclomatic_complexity function_body_length
        static func check(_ name: String, _ m: SIPMessage, _ bytes: [UInt8]) throws {
            switch name {
            case "wsinv":
                let r = try req(m)
                #expect(r.method == .invite)
                #expect(r.uri.user == "vivekg")
                #expect(r.uri.host == "chair-dnrc.example.com")
                #expect(r.uri.parameters.contains("unknownparam"))
                #expect(r.callID == "wsinv.ndaksdj@192.0.2.1")
                #expect(r.cseq == CSeq(9, .invite))
                #expect(r.maxForwards == 68)
                #expect(r.to.tag == "1918181833n")
                #expect(r.to.uri.user == "vivekg")
                #expect(r.from.tag == "98asjd8")
                #expect(r.from.displayName == #""J Rosenberg \\\"""#)
                #expect(r.from.displayText == #"J Rosenberg \""#)
                let vias = r.vias
                #expect(vias.count == 3)
                #expect(vias.map(\.transport) == ["UDP", "TCP", "UDP"])
                #expect(vias.map(\.host) == ["192.0.2.2", "spindle.example.com", "192.168.255.111"])
                #expect(vias.map(\.branch) == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"])
                #expect(r.headers["subject"] == "")
                #expect(r.headers["NewFangledHeader"] == "newfangled value continued newfangled value")
                #expect(r.headers["UnknownHeaderWithUnusualValue"] == ";;,,;;,;")
                // Unknown headers stay verbatim and in order.
                let names = r.headers.fields.map(\.name)
                let a = try #require(names.firstIndex(of: "NewFangledHeader"))
                let b = try #require(names.firstIndex(of: "UnknownHeaderWithUnusualValue"))
                #expect(a + 1 == b)
                #expect(names.first == "TO")
                #expect(r.routes.count == 1)
                #expect(r.routes.first?.uri.isLooseRouter == true)
                let contact = try #require(r.contacts.first)
                #expect(r.contacts.count == 1)
                #expect(contact.displayName == #""Quoted string \"\"""#)
                #expect(contact.parameters["newparam"] == "newvalue")
                #expect(contact.parameters.contains("secondparam"))
                #expect(contact.parameters["q"] == "0.33")
                #expect(r.body.count == 150)
            case "intmeth":
                let r = try req(m)
                #expect(r.method.rawValue == "!interesting-Method0123456789_*+`.%indeed'~")
                #expect(!r.method.isKnown)
                #expect(r.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
                #expect(r.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
                #expect(r.uri.host == "example.com")
                #expect(r.callID == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
                #expect(r.cseq.number == 139_122_385)
                #expect(r.topVia?.branch == "z9hG4bK-.!%66*_+`'~")
                #expect(r.to.displayName?.utf8.contains(0) == true)
                #expect(r.from.displayName == "token1~` token2'+_ token3*%!.-")
                #expect(r.headers["extensionHeader-!.%*+_`'~"] == "\u{FEFF}大停電")
                #expect(r.maxForwards == 255)
                #expect(r.body.isEmpty)
            case "esc01":
                let r = try req(m)
                #expect(r.uri.user == "sips%3Auser%40example.com")
                #expect(r.uri.host == "example.net")
                #expect(r.to.uri.aorKey == "sip:user@example.com")
                #expect(r.from.uri.user == "I%20have%20spaces")
                #expect(r.callID == "esc01.239409asdfakjkn23onasd0-3234")
                #expect(r.contacts.first?.uri.parameters["n%61me"] == "v%61lue%25%34%31")
                #expect(r.headers["content-type"] == "application/sdp")
                #expect(r.body.count == 150)
            case "escnull":
                let r = try req(m)
                #expect(r.method == .register)
                #expect(r.to.uri.user == "null-%00-null")
                let contacts = r.contacts
                #expect(contacts.count == 2)
                #expect(contacts.map(\.uri.user) == ["%00", "%00%00"])
                #expect(contacts[0].uri.aorKey != contacts[1].uri.aorKey)
                #expect(r.body.isEmpty)
            case "esc02":
                let r = try req(m)
                #expect(r.method.rawValue == "RE%47IST%45R")
                #expect(r.cseq.method.rawValue == "RE%47IST%45R")
                #expect(r.to.displayName == "\"%Z%45\"")
                // C%6Fntact is an unknown header, not a Contact.
                #expect(r.contacts.map(\.uri.host) == ["host1.example.com", "host3.example.com"])
                #expect(r.headers["C%6Fntact"] == "<sip:alias2@host2.example.com>")
                #expect(r.topVia?.branch == "z9hG4bK209%fzsnel234")
            case "lwsdisp":
                let r = try req(m)
                #expect(r.from.displayName == "caller")
                #expect(r.from.uri.user == "caller")
                #expect(r.from.tag == "323")
            case "longreq":
                let r = try req(m)
                #expect(r.vias.count == 34)
                #expect(r.to.displayName?.hasPrefix("\"I have a user name of extremeextreme") == true)
                #expect(r.to.uri.port == 6000)
                #expect((r.from.tag?.utf8.count ?? 0) > 100)
                #expect(r.callID.utf8.count > 100)
                #expect(r.body.count == 150)
            case "dblreq":
                let r = try req(m)
                #expect(r.method == .register)
                #expect(r.callID == "dblreq.0ha0isndaksdj99sdfafnl3lk233412")
                #expect(r.cseq == CSeq(8, .register))
                #expect(r.body.isEmpty)
                #expect(r.contacts.first?.uri.user == "j.user")
            case "semiuri":
                let r = try req(m)
                #expect(r.method == .options)
                #expect(r.uri.user == "user;par=u%40example.net")
                #expect(r.uri.host == "example.com")
                #expect(r.uri.parameters.isEmpty)
                #expect(r.headers.values("accept").count == 6)
                #expect(r.maxForwards == 3)
            case "transports":
                let r = try req(m)
                #expect(r.vias.map(\.transport) == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"])
                #expect(r.callID == "transports.kijh4akdnaqjkwendsasfdj")
            case "mpart01":
                let r = try req(m)
                #expect(r.method == .message)
                #expect(r.body.count == 553)
                let expected = Array(Self.rawBody(bytes).prefix(553))
                #expect(r.body == expected)
                #expect(r.body.contains(0))
                let bareLF = r.body.indices.contains { r.body[$0] == 10 && ($0 == 0 || r.body[$0 - 1] != 13) }
                #expect(bareLF)
                #expect(r.topVia?.rport == "")
                #expect(r.topVia?.port == 5070)
                #expect(r.headers["content-type"] == "multipart/mixed;boundary=7a9cbec02ceef655")
            case "unreason":
                let r = try resp(m)
                #expect(r.statusCode == 200)
                #expect(r.reason.hasPrefix("= 2**3 * 5**2 \u{43D}\u{43E} \u{441}\u{442}\u{43E}"))
                #expect(r.reason.unicodeScalars.contains { $0.value > 0x7F })
                #expect(r.cseq == CSeq(35, .invite))
                #expect(r.to.tag == "2229")
                #expect(r.body.count == 154)
            case "noreason":
                let r = try resp(m)
                #expect(r.statusCode == 100)
                #expect(r.reason == "")
                #expect(r.isProvisional)
            case "badbranch":
                let r = try req(m)
                #expect(r.topVia?.branch == "z9hG4bK")
                #expect(r.topVia?.hasRFC3261Branch == false)
            case "unkscm":
                let r = try req(m)
                #expect(r.uri.scheme == "nobodyknowsthisscheme")
                #expect(r.uri.opaque == "totallyopaquecontent")
                #expect(!r.uri.isSIP)
            case "novelsc":
                let r = try req(m)
                #expect(r.uri.scheme == "soap.beep")
                #expect(r.uri.opaque == "//192.0.2.103:3002")
                #expect(!r.uri.isSIP)
            case "unksm2":
                let r = try req(m)
                #expect(r.to.uri.scheme == "isbn")
                #expect(r.from.uri.scheme == "http")
                #expect(r.contacts.first?.uri.scheme == "name")
                #expect(r.from.tag == "3234233")
            case "bext01":
                let r = try req(m)
                #expect(r.headers.values("require") == ["nothingSupportsThis", "nothingSupportsThisEither"])
                #expect(r.headers.values("proxy-require").count == 2)
                #expect(r.topVia?.transport == "TLS")
            case "invut":
                let r = try req(m)
                #expect(r.headers["content-type"] == "application/unknownformat")
                #expect(r.body.count == 40)
            case "regaut01":
                let r = try req(m)
                #expect(r.headers["authorization"] == "NoOneKnowsThisScheme opaque-data=here")
                #expect(r.body.isEmpty)
            case "bcast":
                let r = try resp(m)
                #expect(r.statusCode == 200)
                #expect(r.reason == "OK")
                #expect(r.vias.map(\.host) == ["192.0.2.198", "255.255.255.255"])
                #expect(r.body.count == 154)
            case "zeromf":
                let r = try req(m)
                #expect(r.maxForwards == 0)
            case "cparam01":
                let r = try req(m)
                let contact = try #require(r.contacts.first)
                #expect(contact.bracketed == false)
                #expect(contact.uri.serialized == "sip:+19725552222@gw1.example.net")
                #expect(contact.uri.parameters.isEmpty)
                #expect(contact.parameters.contains("unknownparam"))
            case "cparam02":
                let r = try req(m)
                let contact = try #require(r.contacts.first)
                #expect(contact.bracketed)
                #expect(contact.uri.parameters.contains("unknownparam"))
                #expect(contact.parameters.isEmpty)
            case "regescrt":
                let r = try req(m)
                let contact = try #require(r.contacts.first)
                #expect(contact.uri.headers == "Route=%3Csip:sip.example.com%3E")
                #expect(r.headers.fields.contains { $0.name == "M" })
            case "sdp01":
                let r = try req(m)
                #expect(r.headers["accept"] == "text/nobodyKnowsThis")
                #expect(r.body.count == 150)
            case "inv2543":
                let r = try req(m)
                #expect(r.maxForwards == nil)
                #expect(r.topVia?.branch == nil)
                #expect(r.headers["content-length"] == nil)
                // No Content-Length over UDP: the body is the rest of the datagram (RFC 3261 §18.3).
                #expect(r.body == Self.rawBody(bytes))
                #expect(!r.body.isEmpty)
                // Without <>, ";user=phone" belongs to the header, not the URI (RFC 3261 §20.10).
                #expect(r.to.parameters["user"] == "phone")
                #expect(r.from.uri.parameters["user"] == "phone")
            case "rfc5118/ipv6-good":
                let r = try req(m)
                #expect(r.uri.host == "[2001:db8::10]")
                #expect(r.topVia?.host.hasPrefix("[2001:db8::") == true)
                #expect(r.contacts.first?.uri.host.hasPrefix("[2001:db8::") == true)
            case "rfc5118/port-ambiguous":
                let r = try req(m)
                #expect(r.uri.host == "[2001:db8::10:5070]")
                #expect(r.uri.port == nil)
            case "rfc5118/port-unambiguous":
                let r = try req(m)
                #expect(r.uri.host == "[2001:db8::10]")
                #expect(r.uri.port == 5070)
            case "rfc5118/via-received-param-with-delim":
                let r = try req(m)
                #expect(r.topVia?.received == "[2001:db8::9:255]")
            case "rfc5118/via-received-param-no-delim":
                let r = try req(m)
                #expect(r.topVia?.received == "2001:db8::9:255")
            case "rfc5118/ipv6-in-sdp", "rfc5118/mult-ip-in-sdp":
                let r = try req(m)
                #expect(r.method == .invite)
                #expect(!r.body.isEmpty)
                #expect(String(decoding: r.body, as: UTF8.self).contains("IP6"))
            case "rfc5118/mult-ip-in-header":
                let r = try req(m)
                #expect(r.method == .bye)
                #expect(r.vias.count >= 2)
                #expect(r.vias.contains { $0.host.hasPrefix("[") })
            case "rfc5118/ipv4-mapped-ipv6":
                let r = try req(m)
                #expect(r.vias.contains { $0.host.lowercased().contains("::ffff:") })
            case "rfc5118/ipv6-bug-abnf-3-colons":
                let r = try req(m)
                #expect(r.uri.host == "[2001:db8:::192.0.2.1]")
            case "rfc5118/ipv6-correct-abnf-2-colons":
                let r = try req(m)
                #expect(r.uri.host == "[2001:db8::192.0.2.1]")
            default:
                Issue.record("no expectations for \(name)")
            }
        }
    }
}
