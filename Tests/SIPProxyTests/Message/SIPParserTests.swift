// SIPParser, SIPHeaders and the header grammars on hand-written messages (RFC 3261 §7, §18.3, §20, §25).

import Testing

@testable import SIPProxy

extension MessageTests {
    @Suite("SIP parser")
    struct SIPParserTests {
        static let register = sipMessage([
            "REGISTER sip:registrar.example.com SIP/2.0",
            "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport",
            "Max-Forwards: 70",
            "To: Bob <sip:bob@example.com>",
            "From: Bob <sip:bob@example.com>;tag=456248",
            "Call-ID: 843817637684230@998sdasdh09",
            "CSeq: 1826 REGISTER",
            "Contact: <sip:bob@192.0.2.10:5060;transport=udp>;expires=3600",
            "Content-Length: 0",
        ])

        static let inviteBody = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
        static let invite = sipMessage([
            "INVITE sip:bob@example.com;transport=tcp SIP/2.0",
            "Via: SIP/2.0/TCP pc33.example.com;branch=z9hG4bK776asdhds",
            "Max-Forwards: 70",
            "To: Bob <sip:bob@example.com>",
            "From: \"Alice Ünïcødé\" <sip:alice@example.com>;tag=1928301774",
            "Call-ID: a84b4c76e66710@pc33.example.com",
            "CSeq: 314159 INVITE",
            "Contact: <sip:alice@pc33.example.com;transport=tcp>",
            "X-Custom-B: second",
            "X-Custom-A: first, with comma",
            "Content-Type: application/sdp",
            "Content-Length: \(inviteBody.utf8.count)",
        ], body: inviteBody)

        static let ringing = sipMessage([
            "SIP/2.0 180 Ringing",
            "Via: SIP/2.0/UDP server10.example.com;branch=z9hG4bKnashds8;received=192.0.2.3",
            "Via: SIP/2.0/UDP bigbox3.site3.example.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2",
            "To: Bob <sip:bob@example.com>;tag=a6c85cf",
            "From: Alice <sip:alice@example.com>;tag=1928301774",
            "Call-ID: a84b4c76e66710",
            "CSeq: 314159 INVITE",
            "Content-Length: 0",
        ])

        func parse(_ bytes: [UInt8], _ framing: SIPParser.Framing = .datagram) throws -> SIPMessage {
            try SIPParser().parse(bytes, framing: framing)
        }

        func frame(_ bytes: [UInt8], max: Int = 65_535) throws -> SIPParser.FrameResult {
            try bytes.withUnsafeBytes { raw throws(SIPParseError) in try SIPParser(maxMessageSize: max).frame(raw) }
        }

        // MARK: - Round trips

        @Test func registerRoundTrip() throws {
            let m = try parse(Self.register)
            let r = try #require(m.request)
            #expect(r.method == .register)
            #expect(r.uri.host == "registrar.example.com")
            #expect(r.callID == "843817637684230@998sdasdh09")
            #expect(r.cseq == CSeq(1826, .register))
            #expect(r.from.tag == "456248")
            #expect(r.to.tag == nil)
            #expect(r.contacts.first?.parameters["expires"] == "3600")
            #expect(r.contacts.first?.uri.transport == "udp")
            #expect(m.bytes == Self.register)
            #expect(try parse(m.bytes) == m)
        }

        @Test func inviteRoundTrip() throws {
            let m = try parse(Self.invite)
            let r = try #require(m.request)
            #expect(r.method == .invite)
            #expect(r.uri.parameters["transport"] == "tcp")
            #expect(r.from.displayText == "Alice Ünïcødé")
            #expect(r.body == Array(Self.inviteBody.utf8))
            #expect(m.bytes == Self.invite)
            #expect(try parse(m.bytes) == m)
        }

        @Test func responseRoundTrip() throws {
            let m = try parse(Self.ringing)
            let r = try #require(m.response)
            #expect(r.statusCode == 180)
            #expect(r.reason == "Ringing")
            #expect(r.vias.count == 2)
            #expect(r.vias.map(\.received) == ["192.0.2.3", "192.0.2.2"])
            #expect(r.to.tag == "a6c85cf")
            #expect(m.bytes == Self.ringing)
            #expect(try parse(m.bytes) == m)
        }

        // MARK: - Header names and values

        @Test func compactForms() throws {
            let bytes = sipMessage([
                "OPTIONS sip:bob@example.com SIP/2.0",
                "v: SIP/2.0/UDP host.example.com;branch=z9hG4bK1",
                "f: <sip:alice@example.com>;tag=1",
                "t: <sip:bob@example.com>",
                "i: compact@host",
                "m: <sip:alice@host.example.com>",
                "c: text/plain",
                "k: 100rel, timer",
                "CSeq: 1 OPTIONS",
                "l: 5",
            ], body: "hello")
            let r = try #require(try parse(bytes).request)
            #expect(r.callID == "compact@host")
            #expect(r.from.tag == "1")
            #expect(r.to.uri.user == "bob")
            #expect(r.topVia?.branch == "z9hG4bK1")
            #expect(r.contacts.count == 1)
            #expect(r.headers["content-type"] == "text/plain")
            #expect(r.headers.values("supported") == ["100rel", "timer"])
            #expect(r.body == Array("hello".utf8))
            // Names stay as written.
            #expect(r.headers.fields.map(\.name).prefix(3) == ["v", "f", "t"])
        }

        @Test func caseInsensitiveNames() throws {
            let bytes = sipMessage([
                "OPTIONS sip:bob@example.com SIP/2.0",
                "VIA: SIP/2.0/UDP host.example.com;BRANCH=z9hG4bK1",
                "fRoM: <sip:alice@example.com>;TAG=1",
                "to: <sip:bob@example.com>",
                "CALL-ID: ci@host",
                "cSeQ: 1 OPTIONS",
                "CONTENT-length: 0",
            ])
            let r = try #require(try parse(bytes).request)
            #expect(r.callID == "ci@host")
            #expect(r.from.tag == "1")
            #expect(r.topVia?.branch == "z9hG4bK1")
            #expect(r.headers["Call-Id"] == "ci@host")
            #expect(r.headers.contains("content-length"))
        }

        @Test func valuesAcrossLines() throws {
            let bytes = sipMessage([
                "SIP/2.0 200 OK",
                "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b.example.com;branch=z9hG4bK2",
                "Via: SIP/2.0/UDP c.example.com;branch=z9hG4bK3",
                "To: <sip:bob@example.com>;tag=2",
                "From: <sip:alice@example.com>;tag=1",
                "Call-ID: ci",
                "CSeq: 1 INVITE",
                "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
                "Record-Route: <sip:p3.example.com;lr>",
                "Contact: \"A, B\" <sip:a@a.example.com>, <sip:b@b.example.com>",
            ])
            let r = try #require(try parse(bytes).response)
            #expect(r.vias.map(\.host) == ["a.example.com", "b.example.com", "c.example.com"])
            #expect(r.headers.lines("via").count == 2)
            #expect(r.headers.values("record-route").count == 3)
            #expect(r.contacts.map(\.displayName) == ["\"A, B\"", nil])
        }

        @Test func foldedLines() throws {
            let bytes = sipMessage([
                "OPTIONS sip:bob@example.com SIP/2.0",
                "Via: SIP/2.0/UDP host.example.com",
                "\t;branch=z9hG4bK1",
                "To:",
                "   <sip:bob@example.com>",
                "From: <sip:alice@example.com>;tag=1",
                "Call-ID: ci",
                "CSeq: 1",
                "  OPTIONS",
                "Subject: one   ",
                "   two",
                "    three",
            ])
            let r = try #require(try parse(bytes).request)
            #expect(r.topVia?.branch == "z9hG4bK1")
            #expect(r.to.uri.user == "bob")
            #expect(r.cseq == CSeq(1, .options))
            #expect(r.headers["subject"] == "one two three")
        }

        @Test func quotedUTF8DisplayName() throws {
            let bytes = sipMessage([
                "MESSAGE sip:bob@example.com SIP/2.0",
                "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bK1",
                "To: \"Jérôme \\\"Jé\\\" Ñoño 日本\" <sip:bob@example.com>",
                // A combining mark right after the quote must not hide it (scalars, not Characters).
                "From: \"e\u{301}\" <sip:alice@example.com>;tag=1",
                "Call-ID: ci",
                "CSeq: 1 MESSAGE",
                "Subject:\u{301}combining after the colon",
            ])
            let r = try #require(try parse(bytes).request)
            #expect(r.to.displayText == "Jérôme \"Jé\" Ñoño 日本")
            #expect(r.from.displayText == "e\u{301}")
            #expect(r.headers["subject"] == "\u{301}combining after the colon")
        }

        @Test func viaParameters() throws {
            let text =
                "SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKabc;received=198.51.100.7;rport=4000;maddr=224.2.0.1;ttl=16"
            let via = try #require(Via.parse(text))
            #expect(via.transport == "UDP")
            #expect(via.host == "192.0.2.1")
            #expect(via.port == 5062)
            #expect(via.branch == "z9hG4bKabc")
            #expect(via.hasRFC3261Branch)
            #expect(via.received == "198.51.100.7")
            #expect(via.rport == "4000")
            #expect(via.maddr == "224.2.0.1")
            #expect(via.sentBy == "192.0.2.1:5062")
            let flag = try #require(Via.parse("SIP / 2.0 / tcp host.example.com ; rport ; branch = z9hG4bK1"))
            #expect(flag.transport == "TCP")
            #expect(flag.rport == "")
            #expect(flag.branch == "z9hG4bK1")
            let v6 = try #require(Via.parse("SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK2;received=[2001:db8::9]"))
            #expect(v6.host == "[2001:db8::1]")
            #expect(v6.port == 5061)
            #expect(v6.received == "[2001:db8::9]")
            #expect(Via.parse("SIP/2.0/UDP") == nil)
            #expect(Via.parse("SIP/2.0/UDP host:0") == nil)
            #expect(Via.parse("SIP/2.0/UDP host:70000") == nil)
            #expect(Via.parse("SIP/2.0/UDP host;;branch=x") == nil)
        }

        @Test func uris() throws {
            let sipText = "sip:alice:secret@Example.COM:5070;transport=TCP;lr;maddr=239.1.1.1?subject=hi"
            let sip = try #require(SIPURI.parse(sipText))
            #expect(sip.scheme == "sip")
            #expect(sip.user == "alice")
            #expect(sip.password == "secret")
            #expect(sip.host == "Example.COM")
            #expect(sip.bareHost == "example.com")
            #expect(sip.port == 5070)
            #expect(sip.transport == "tcp")
            #expect(sip.isLooseRouter)
            #expect(sip.parameters["maddr"] == "239.1.1.1")
            #expect(sip.headers == "subject=hi")
            #expect(SIPURI.parse(sip.serialized) == sip)
            let sips = try #require(SIPURI.parse("SIPS:bob@[2001:DB8::1]:5061;transport=tls"))
            #expect(sips.scheme == "sips")
            #expect(sips.host == "[2001:DB8::1]")
            #expect(sips.bareHost == "2001:db8::1")
            #expect(sips.port == 5061)
            let v6 = try #require(SIPURI.parse("sip:[::1]"))
            #expect(v6.host == "[::1]")
            #expect(v6.port == nil)
            let tel = try #require(SIPURI.parse("tel:+1-201-555-0123;phone-context=example.com;ext=22"))
            #expect(tel.scheme == "tel")
            #expect(tel.user == "+1-201-555-0123")
            #expect(tel.parameters["phone-context"] == "example.com")
            #expect(tel.serialized == "tel:+1-201-555-0123;phone-context=example.com;ext=22")
            #expect(SIPURI.parse("sip:2001:db8::1") == nil)
            #expect(SIPURI.parse("sip:host;") == nil)
            #expect(SIPURI.parse("sip:us%4gr@host") == nil)
            #expect(SIPURI.parse("sip:bob@host name") == nil)
            #expect(SIPURI.parse("sip:bøb@host") == nil)
            // "%+1" is not an escape: normalisation must not read it as one.
            #expect(SIPURI.normalizeEscapes("a%+1") == "a%25+1")
            #expect(SIPURI.parse("sip:%61lice@h")?.aorKey == SIPURI.parse("sip:alice@H")?.aorKey)
        }

        @Test func bodyByteExact() throws {
            let body: [UInt8] = [0, 13, 10, 10, 13, 0xFF, 0xFE, 0x80, 10, 10, 13, 10, 13, 10]
            var bytes = sipMessage([
                "MESSAGE sip:bob@example.com SIP/2.0",
                "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bK1",
                "To: <sip:bob@example.com>",
                "From: <sip:alice@example.com>;tag=1",
                "Call-ID: ci",
                "CSeq: 1 MESSAGE",
                "Content-Type: application/octet-stream",
                "Content-Length: \(body.count)",
            ])
            bytes += body
            for framing in [SIPParser.Framing.datagram, .stream] {
                let m = try parse(bytes, framing)
                #expect(m.body == body)
                #expect(m.bytes == bytes)
            }
            // Datagram: octets past Content-Length are discarded (RFC 3261 §18.3).
            #expect(try parse(bytes + Array("garbage".utf8)).body == body)
        }

        @Test func unknownHeadersVerbatimAndInOrder() throws {
            let bytes = sipMessage([
                "OPTIONS sip:bob@example.com SIP/2.0",
                "X-Zeta: 1",
                "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bK1",
                "x-alpha:   spaced   value  ",
                "To: <sip:bob@example.com>",
                "P-Weird-Header: ;;,,;;,; \"quoted, comma\" <x>",
                "From: <sip:alice@example.com>;tag=1",
                "X-Zeta: 2",
                "Call-ID: ci",
                "CSeq: 1 OPTIONS",
                "X-Empty:",
            ])
            let m = try parse(bytes)
            let again = try parse(m.bytes)
            let unknown: (SIPMessage) -> [SIPHeaderField] = { msg in
                msg.headers.fields.filter { $0.name.lowercased().hasPrefix("x-") || $0.name.hasPrefix("P-") }
            }
            let expected = [
                SIPHeaderField(name: "X-Zeta", value: "1"),
                SIPHeaderField(name: "x-alpha", value: "spaced   value"),
                SIPHeaderField(name: "P-Weird-Header", value: ";;,,;;,; \"quoted, comma\" <x>"),
                SIPHeaderField(name: "X-Zeta", value: "2"),
                SIPHeaderField(name: "X-Empty", value: ""),
            ]
            #expect(unknown(m) == expected)
            #expect(unknown(again) == expected)
            #expect(again.headers.fields.filter { $0.key != "content-length" } == m.headers.fields)
            #expect(m.headers.lines("x-zeta") == ["1", "2"])
        }

        @Test func removeFirstValue() {
            var headers = SIPHeaders([("Via", "a, b"), ("To", "x"), ("v", "c")])
            #expect(headers.removeFirstValue("via") == "a")
            #expect(headers.lines("via") == ["b", "c"])
            #expect(headers.removeFirstValue("VIA") == "b")
            #expect(headers.lines("via") == ["c"])
            #expect(headers.fields.map(\.name) == ["To", "v"])
            #expect(headers.removeFirstValue("via") == "c")
            #expect(headers.removeFirstValue("via") == nil)
            #expect(headers.count == 1)
        }

        @Test func headerEditing() {
            var headers = SIPHeaders([("Via", "a"), ("To", "x"), ("Via", "b")])
            headers.prepend("Via", "top")
            #expect(headers.lines("via") == ["top", "a", "b"])
            headers.set("via", "only")
            #expect(headers.lines("via") == ["only"])
            #expect(headers.fields.first?.name == "Via")
            headers.remove("v")
            #expect(headers.fields.map(\.name) == ["To"])
        }

        // MARK: - Start line and syntax errors

        @Test(arguments: [
            ("INVITE  sip:bob@example.com SIP/2.0", SIPParseError.Kind.malformedStartLine),
            ("INVITE sip:bob@example.com SIP/2.0 ", .malformedStartLine),
            ("INVITE sip:bob@example.com SIP/3.0", .unsupportedVersion),
            ("INVITE sip:bob@example.com HTTP/1.1", .malformedStartLine),
            ("INVITE <sip:bob@example.com> SIP/2.0", .malformedRequestURI),
            ("INV\rITE sip:bob@example.com SIP/2.0", .malformedStartLine),
            ("SIP/2.0 20 OK", .invalidStatusCode),
            ("SIP/2.0 099 OK", .invalidStatusCode),
            ("SIP/2.0 700 OK", .invalidStatusCode),
            ("SIP/2.0 99999999999999999999999 OK", .invalidStatusCode),
            ("SIP/1.0 200 OK", .unsupportedVersion),
            ("SIP/2.0", .malformedStartLine),
        ])
        func badStartLines(_ line: String, _ kind: SIPParseError.Kind) {
            let bytes = sipMessage([
                line, "Via: SIP/2.0/UDP h;branch=z9hG4bK1", "To: <sip:b@h>", "From: <sip:a@h>;tag=1", "Call-ID: c",
                "CSeq: 1 INVITE",
            ])
            #expect(throws: SIPParseError.self) { try parse(bytes) }
            do {
                _ = try SIPParser().parse(bytes)
            } catch {
                #expect(error.kind == kind, "\(line): \(error)")
            }
        }

        @Test func badHeaderLines() {
            let base = ["OPTIONS sip:b@h SIP/2.0", "Via: SIP/2.0/UDP h;branch=z9hG4bK1", "To: <sip:b@h>",
                "From: <sip:a@h>;tag=1", "Call-ID: c", "CSeq: 1 OPTIONS"]
            let cases: [(String, SIPParseError.Kind)] = [
                ("No colon here", .malformedHeaderLine),
                ("Bad Name: x", .malformedHeaderLine),
                (": empty name", .malformedHeaderLine),
                ("X-Bare: a\rb", .malformedHeaderLine),
                ("Content-Length: 99999999999999999999", .invalidContentLength),
                ("Content-Length: 1, 2", .invalidContentLength),
            ]
            for (line, kind) in cases {
                do {
                    _ = try SIPParser().parse(sipMessage(base + [line]))
                    Issue.record("\(line) parsed")
                } catch {
                    #expect(error.kind == kind, "\(line): \(error)")
                    #expect(error.isRequest == true)
                }
            }
            do {
                _ = try SIPParser().parse([0x49, 0x4E, 0xFF, 0x0D, 0x0A, 0x0D, 0x0A])
                Issue.record("invalid UTF-8 parsed")
            } catch {
                #expect(error.kind == .invalidEncoding)
            }
            #expect(throws: SIPParseError.self) { try SIPParser().parse([]) }
            #expect(throws: SIPParseError.self) { try SIPParser().parse(Array("\r\n\r\n".utf8)) }
        }

        @Test func byteSearchFindsMarkersAnywhere() {
            #expect(SIPGrammar.containsBytes("z9hG4bK-sp1a2b-3", "-sp1a2b-"))
            #expect(SIPGrammar.containsBytes("abc", "abc") && SIPGrammar.containsBytes("abc", ""))
            #expect(SIPGrammar.containsBytes("aab", "ab") && SIPGrammar.containsBytes("xxab", "ab"))
            #expect(!SIPGrammar.containsBytes("ab", "abc") && !SIPGrammar.containsBytes("", "a"))
            #expect(!SIPGrammar.containsBytes("z9hG4bK-sp1a2c-3", "-sp1a2b-"))
            #expect(SIPGrammar.containsBytes("Grüße-sp1-", "-sp1-") && SIPGrammar.containsBytes("aüb", "ü"))
        }

        @Test func parseNumberNeverOverflows() {
            #expect(SIPGrammar.parseNumber("18446744073709551615", limit: .max) == .max)
            #expect(SIPGrammar.parseNumber("18446744073709551616", limit: .max) == nil)
            #expect(SIPGrammar.parseNumber("99999999999999999999999", limit: .max) == nil)
            #expect(SIPGrammar.parseNumber("0004294967295") == 4_294_967_295)
            #expect(SIPGrammar.parseNumber("4294967296") == nil)
            #expect(SIPGrammar.parseNumber("-1") == nil)
            #expect(SIPGrammar.parseNumber("") == nil)
        }

        // MARK: - Stream framing (RFC 3261 §18.3)

        @Test func twoMessagesBackToBack() throws {
            let buffer = Self.invite + Self.ringing
            #expect(try frame(buffer) == .message(length: Self.invite.count))
            let rest = Array(buffer[Self.invite.count...])
            #expect(try frame(rest) == .message(length: Self.ringing.count))
            #expect(try parse(Array(buffer[..<Self.invite.count]), .stream).request?.method == .invite)
            #expect(try parse(rest, .stream).response?.statusCode == 180)
        }

        @Test func everySplitNeedsMoreData() throws {
            for message in [Self.invite, Self.register, Self.ringing] {
                for split in 1..<message.count {
                    let result = try frame(Array(message[..<split]))
                    #expect(
                        result == .needMoreData || result == .needBody(length: message.count),
                        "split at \(split)"
                    )
                }
                #expect(try frame(message) == .message(length: message.count))
            }
        }

        @Test func keepAlives() throws {
            #expect(try frame(Array("\r\n\r\n".utf8)) == .keepAlive(length: 4))
            #expect(try frame(Array("\r\n".utf8)) == .keepAlive(length: 2))
            #expect(try frame(Array("\r\n\r\n".utf8) + Self.register) == .keepAlive(length: 4))
            #expect(try frame([]) == .needMoreData)
        }

        @Test func missingContentLengthOnStreamIsZero() throws {
            let bytes = sipMessage([
                "OPTIONS sip:b@h SIP/2.0", "Via: SIP/2.0/TCP h;branch=z9hG4bK1", "To: <sip:b@h>",
                "From: <sip:a@h>;tag=1", "Call-ID: c", "CSeq: 1 OPTIONS",
            ])
            #expect(try frame(bytes + Array("next".utf8)) == .message(length: bytes.count))
            #expect(try parse(bytes + Array("next".utf8), .stream).body.isEmpty)
            // Over UDP the rest of the datagram is the body.
            #expect(try parse(bytes + Array("next".utf8), .datagram).body == Array("next".utf8))
        }

        @Test func foldedContentLengthFramesLikeParse() throws {
            let bytes = sipMessage([
                "OPTIONS sip:b@h SIP/2.0", "Via: SIP/2.0/TCP h;branch=z9hG4bK1", "To: <sip:b@h>",
                "From: <sip:a@h>;tag=1", "Call-ID: c", "CSeq: 1 OPTIONS", "Content-Length:", "  3",
            ], body: "abc")
            #expect(try frame(bytes) == .message(length: bytes.count))
            #expect(try parse(bytes, .stream).body == Array("abc".utf8))
        }

        @Test func oversizedMessage() throws {
            #expect(throws: SIPParseError(.messageTooLarge)) { try frame(Self.invite, max: 100) }
            // No header end yet and already over the limit.
            #expect(throws: SIPParseError(.messageTooLarge)) { try frame(Array(repeating: 65, count: 200), max: 100) }
            // Content-Length pointing past the limit.
            let huge = sipMessage(["OPTIONS sip:b@h SIP/2.0", "Content-Length: 2000000"])
            #expect(throws: SIPParseError(.messageTooLarge)) { try frame(huge) }
            #expect(throws: SIPParseError.self) { try SIPParser(maxMessageSize: 100).parse(Self.invite) }
            do {
                _ = try SIPParser(maxMessageSize: 100).parse(Self.invite)
            } catch {
                #expect(error.kind == .messageTooLarge)
                #expect(error.status == 513)
            }
        }

        @Test func badContentLengthOnStream() {
            let bytes = sipMessage(["OPTIONS sip:b@h SIP/2.0", "l: -1"])
            #expect(throws: SIPParseError.self) { try frame(bytes) }
        }

        /// Many continuation lines on one header: unfolding must stay linear (this would take seconds if quadratic).
        @Test func manyFoldedLinesAreLinear() throws {
            var lines = [
                "OPTIONS sip:b@h SIP/2.0", "Via: SIP/2.0/UDP h;branch=z9hG4bK1", "To: <sip:b@h>",
                "From: <sip:a@h>;tag=1", "Call-ID: c", "CSeq: 1 OPTIONS", "X-Long: start",
            ]
            lines += Array(repeating: " x", count: 20_000)
            let m = try SIPParser(maxMessageSize: 1 << 20).parse(sipMessage(lines))
            #expect(m.headers["x-long"]?.utf8.count == 5 + 2 * 20_000)
        }
    }
}
