import Foundation
import SIPProxy
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Localized reason phrases as the caller sees them: the exact status lines (byte for byte, UTF-8) in SIPp's
/// message log, for responses the proxy makes (100, 404, 480, 483) and those it relays (180, 486, 603, 487),
/// the language chosen by Accept-Language, custom phrase files, the pcap trace, `sipctl phrases check` and
/// `sipctl phrases reload` (also under load).
@Suite("Reason phrases over SIPp", .serialized)
struct SIPpPhraseTests {
    // MARK: Helpers

    /// The status lines (first lines) of the responses with `code` that `result` received.
    static func statusLines(_ result: SIPpResult, _ code: Int) -> [String] {
        result.receivedResponses(code).map { String($0.prefix { $0 != "\n" && $0 != "\r" }) }
    }

    /// Every received response with `code` has exactly the status line `SIP/2.0 code phrase` (compared as UTF-8
    /// bytes: no Unicode normalization; invalid bytes in the log would have become U+FFFD and differ), and there
    /// is at least one.
    static func expectStatus(
        _ result: SIPpResult, _ code: Int, _ phrase: String, _ context: @autoclosure () -> String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let expected = "SIP/2.0 \(code) \(phrase)"
        let lines = statusLines(result, code)
        #expect(!lines.isEmpty, "no \(code) received; expected '\(expected)'\n\(context())", sourceLocation: sourceLocation)
        for line in lines {
            #expect(Array(line.utf8) == Array(expected.utf8),
                    "status line '\(line)' (\(Array(line.utf8).count) bytes), expected '\(expected)' (\(Array(expected.utf8).count) bytes)\n\(context())",
                    sourceLocation: sourceLocation)
        }
    }

    /// Phones for one test: bob's single contact, fresh caller ports per call.
    struct Phones {
        let transport: SIPTransport
        let bob: Phone
        init(_ transport: SIPTransport) {
            self.transport = transport
            self.bob = Phone("bob", ip: "127.0.0.12", transport: transport)
        }
        func alice() -> Phone { Phone("alice", ip: "127.0.0.11", transport: self.transport) }
    }

    /// bob answers with `uas`, alice runs `uac`.
    static func call(_ bed: TestBed, _ phones: Phones, uac: String, uas: String,
                     sets: [String: String] = [:], keys: [String: String] = [:]) async throws -> (SIPpResult, SIPpResult) {
        let server = try await bed.startUAS(uas, as: phones.bob)
        let a = try await bed.run(uac, as: phones.alice(), service: "bob", keys: keys, sets: sets)
        let b = await server.wait()
        return (a, b)
    }

    static func writeFile(_ url: URL, _ text: String) throws {
        try Data(text.utf8).write(to: url, options: .atomic)
    }

    // MARK: Generated and relayed, --phrases sk

    @Test("--phrases sk: the proxy's own responses (100, 404, 480, 483) are Slovak", arguments: SIPTransport.allCases)
    func generatedSlovak(transport: SIPTransport) async throws {
        let bed = try await TestBed("phr-gen-\(transport)", proxyArguments: ["--phrases", "sk"])
        defer { bed.shutdown() }
        let phones = Phones(transport)
        let r404 = try await bed.run("uac-expect-final.xml", as: phones.alice(), service: "nobody", sets: ["code": "404"])
        #expect(r404.passed, "\(bed.diagnostics(r404))")
        Self.expectStatus(r404, 404, "Nenájdené", bed.diagnostics(r404))
        // An INVITE the proxy answers itself at once gets its final response alone (no 100 to amplify).
        #expect(Self.statusLines(r404, 100).isEmpty, "\(bed.diagnostics(r404))")

        try await bed.register(phones.bob)
        // 100 Trying goes out when the INVITE is forwarded.
        let (busy, bobBusy) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: "uas-busy.xml",
                                                  sets: ["code": "486"])
        #expect(busy.passed && bobBusy.passed, "\(bed.diagnostics(busy, bobBusy))")
        Self.expectStatus(busy, 100, "Skúšam spojiť", bed.diagnostics(busy))
        let unreg = try await bed.run("register-remove.xml", as: phones.bob)
        #expect(unreg.passed, "\(bed.diagnostics(unreg))")
        let r480 = try await bed.run("uac-expect-final.xml", as: phones.alice(), service: "bob", sets: ["code": "480"])
        #expect(r480.passed, "\(bed.diagnostics(r480))")
        Self.expectStatus(r480, 480, "Dočasne nedostupný", bed.diagnostics(r480))

        let r483 = try await bed.run("uac-expect-final.xml", as: phones.alice(), service: "bob",
                                     sets: ["code": "483", "maxfwd": "0"])
        #expect(r483.passed, "\(bed.diagnostics(r483))")
        Self.expectStatus(r483, 483, "Príliš veľa skokov", bed.diagnostics(r483))
        let options = try await bed.run("options-maxforwards0.xml", as: phones.alice(), service: "bob")
        #expect(options.passed, "\(bed.diagnostics(options))")
        Self.expectStatus(options, 483, "Príliš veľa skokov", bed.diagnostics(options))
    }

    @Test("--phrases sk: relayed responses (180, 486, 603, 487 after CANCEL) are rewritten to Slovak",
          arguments: SIPTransport.allCases)
    func relayedSlovak(transport: SIPTransport) async throws {
        let bed = try await TestBed("phr-rel-\(transport)", proxyArguments: ["--phrases", "sk"])
        defer { bed.shutdown() }
        let phones = Phones(transport)
        try await bed.register(phones.bob)
        let (a1, b1) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: "uas-busy.xml", sets: ["code": "486"])
        #expect(a1.passed && b1.passed, "\(bed.diagnostics(a1, b1))")
        Self.expectStatus(a1, 180, "Druhá strana vyzváňa", bed.diagnostics(a1, b1))
        Self.expectStatus(a1, 486, "Obsadené", bed.diagnostics(a1, b1))
        // The callee sent its own phrase; only the caller's copy is localized.
        #expect(b1.sent.contains { $0.hasPrefix("SIP/2.0 486 Busy Here") }, "\(b1)")

        let (a2, b2) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: "uas-decline.xml", sets: ["code": "603"])
        #expect(a2.passed && b2.passed, "\(bed.diagnostics(a2, b2))")
        Self.expectStatus(a2, 603, "Odmietnuté", bed.diagnostics(a2, b2))

        let (a3, b3) = try await Self.call(bed, phones, uac: "uac-cancel.xml", uas: "uas-ring-cancel.xml")
        #expect(a3.passed && b3.passed, "\(bed.diagnostics(a3, b3))")
        Self.expectStatus(a3, 487, "Požiadavka zrušená", bed.diagnostics(a3, b3))
        Self.expectStatus(a3, 200, "OK", bed.diagnostics(a3, b3))  // the proxy's 200 for the CANCEL
    }

    @Test("--phrases sk --keep-relayed-phrases: relayed phrases stay SIPp's, generated ones are Slovak",
          arguments: SIPTransport.allCases)
    func keepRelayed(transport: SIPTransport) async throws {
        let bed = try await TestBed("phr-keep-\(transport)", proxyArguments: ["--phrases", "sk", "--keep-relayed-phrases"])
        defer { bed.shutdown() }
        let phones = Phones(transport)
        try await bed.register(phones.bob)
        let (a1, b1) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: "uas-busy.xml", sets: ["code": "486"])
        #expect(a1.passed && b1.passed, "\(bed.diagnostics(a1, b1))")
        Self.expectStatus(a1, 180, "Ringing", bed.diagnostics(a1, b1))
        Self.expectStatus(a1, 486, "Busy Here", bed.diagnostics(a1, b1))
        Self.expectStatus(a1, 100, "Skúšam spojiť", bed.diagnostics(a1, b1))
        let (a2, b2) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: "uas-decline.xml", sets: ["code": "603"])
        #expect(a2.passed && b2.passed, "\(bed.diagnostics(a2, b2))")
        Self.expectStatus(a2, 603, "Decline", bed.diagnostics(a2, b2))
        let (a3, b3) = try await Self.call(bed, phones, uac: "uac-cancel.xml", uas: "uas-ring-cancel.xml")
        #expect(a3.passed && b3.passed, "\(bed.diagnostics(a3, b3))")
        Self.expectStatus(a3, 487, "Request Terminated", bed.diagnostics(a3, b3))
        let r404 = try await bed.run("uac-expect-final.xml", as: phones.alice(), service: "nobody", sets: ["code": "404"])
        #expect(r404.passed, "\(bed.diagnostics(r404))")
        Self.expectStatus(r404, 404, "Nenájdené", bed.diagnostics(r404))
    }

    @Test("--phrases sk: a phone's 480 and 600 are relayed in Slovak; its 503 becomes the proxy's own 500 (Slovak)")
    func otherPhoneCodes() async throws {
        let bed = try await TestBed("phr-other", proxyArguments: ["--phrases", "sk"])
        defer { bed.shutdown() }
        let phones = Phones(.udp)
        try await bed.register(phones.bob)
        for (code, reason, callerGets, phrase) in [
            (480, "Temporarily Unavailable", 480, "Dočasne nedostupný"),
            (600, "Busy Everywhere", 600, "Všade obsadené"),
            (503, "Service Unavailable", 500, "Vnútorná chyba servera"),
        ] {
            let scenario = try TestEnvironment.scenarioCopy(
                "uas-reject.xml", in: bed.directory, label: "reject-\(code)",
                replacing: [("SIP/2.0 480 Temporarily Unavailable", "SIP/2.0 \(code) \(reason)")])
            let (a, b) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: scenario,
                                             sets: ["code": String(callerGets)])
            #expect(a.passed && b.passed, "phone \(code)\n\(bed.diagnostics(a, b))")
            Self.expectStatus(a, callerGets, phrase, "phone sent \(code) \(reason)\n\(bed.diagnostics(a, b))")
        }
    }

    @Test("the journal and sipctl calls show the phrase the caller got (UTF-8)")
    func journalShowsLocalizedPhrase() async throws {
        let bed = try await TestBed("phr-journal", proxyArguments: ["--phrases", "sk"])
        defer { bed.shutdown() }
        let phones = Phones(.udp)
        try await bed.register(phones.bob)
        let (a1, b1) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: "uas-busy.xml", sets: ["code": "486"])
        #expect(a1.passed && b1.passed, "\(bed.diagnostics(a1, b1))")
        let (a2, b2) = try await Self.call(bed, phones, uac: "uac-cancel.xml", uas: "uas-ring-cancel.xml")
        #expect(a2.passed && b2.passed, "\(bed.diagnostics(a2, b2))")
        let r404 = try await bed.run("uac-expect-final.xml", as: phones.alice(), service: "nobody", sets: ["code": "404"])
        #expect(r404.passed, "\(bed.diagnostics(r404))")
        let journal = bed.directory.appendingPathComponent("calls.jsonl")
        _ = await waitUntil(timeout: .seconds(3)) { readText(journal).split(separator: "\n").count >= 3 }
        let records = readText(journal).split(separator: "\n").compactMap { try? CallRecord.decode(jsonLine: String($0)) }
        #expect(records.map(\.finalReason) == ["Obsadené", "Požiadavka zrušená", "Nenájdené"],
                "finalReason is the phrase as sent to the caller\n\(readText(journal))")
        let csv = try await ToolRunner.sipctl(["calls", "--csv"], in: bed.directory)
        #expect(csv.stdout.contains(",busy,486,Obsadené,") && csv.stdout.contains(",cancelled,487,Požiadavka zrušená,"),
                "\(csv)")
        let log = readText(bed.directory.appendingPathComponent("calls.log"))
        #expect(log.contains("alice called bob: busy (486 Obsadené)"), "calls.log\n\(log)")
    }

    // MARK: Accept-Language

    @Test("Accept-Language picks the language of generated phrases",
          arguments: [
            ([String](), "sk", "Nenájdené", "Skúšam spojiť"),
            ([], "de, sk-SK;q=0.8", "Nenájdené", "Skúšam spojiť"),
            (["--phrases", "sk"], "en", "Not Found", "Trying"),
            (["--phrases", "sk"], "fr", "Nenájdené", "Skúšam spojiť"),  // no French table: the proxy's default
          ])
    func acceptLanguage(setup: (proxy: [String], header: String, phrase404: String, phrase100: String)) async throws {
        let bed = try await TestBed("phr-lang", proxyArguments: setup.proxy)
        defer { bed.shutdown() }
        let alice = Phone("alice", ip: "127.0.0.11")
        let r = try await bed.run("uac-expect-final-lang.xml", as: alice, service: "nobody",
                                  keys: ["lang": setup.header], sets: ["code": "404"])
        #expect(r.passed, "\(bed.diagnostics(r))")
        #expect(r.sentRequests("INVITE").first.map { headers("Accept-Language", in: $0) } == [setup.header], "\(r)")
        Self.expectStatus(r, 404, setup.phrase404, "proxy \(setup.proxy), Accept-Language: \(setup.header)\n\(bed.diagnostics(r))")
        // The 100 Trying of a forwarded INVITE follows Accept-Language too.
        let bob = Phone("bob", ip: "127.0.0.12")
        try await bed.register(bob)
        let server = try await bed.startUAS("uas-busy.xml", as: bob)
        let call = try await bed.run("uac-expect-final-lang.xml", as: alice, service: "bob",
                                     keys: ["lang": setup.header], sets: ["code": "486"])
        let b = await server.wait()
        #expect(call.passed && b.passed, "\(bed.diagnostics(call, b))")
        Self.expectStatus(call, 100, setup.phrase100, "proxy \(setup.proxy), Accept-Language: \(setup.header)\n\(bed.diagnostics(call))")
    }

    // MARK: Phrase files

    @Test("a custom YAML file overrides 486 (rewrite_codes limits rewriting); other codes keep the built-in table")
    func customFile() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("phrases-file")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("phrases.yaml")
        try Self.writeFile(file, """
            # Slovak overrides
            sk:
              486: "Účastník má obsadené"
              180: Zvoní
            options:
              default: sk
              rewrite_codes: [486]
            """)
        let check = try await ToolRunner.sipctl(["phrases", "check", file.path], in: dir)
        #expect(check.succeeded && check.stdout.contains("ok"), "\(check)")
        let bed = try await TestBed("phr-custom", proxyArguments: ["--phrases", file.path])
        defer { bed.shutdown() }
        let phones = Phones(.udp)
        try await bed.register(phones.bob)
        let (a, b) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: "uas-busy.xml", sets: ["code": "486"])
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        Self.expectStatus(a, 486, "Účastník má obsadené", bed.diagnostics(a, b))
        Self.expectStatus(a, 180, "Ringing", "180 is not in rewrite_codes\n\(bed.diagnostics(a, b))")
        let r404 = try await bed.run("uac-expect-final.xml", as: phones.alice(), service: "nobody", sets: ["code": "404"])
        #expect(r404.passed, "\(bed.diagnostics(r404))")
        Self.expectStatus(r404, 404, "Nenájdené", bed.diagnostics(r404))
        let show = try await ToolRunner.sipctl(["phrases", "--json", "--lang", "sk"], in: bed.directory)
        #expect(show.succeeded, "\(show)")
        let info = try? JSONDecoder().decode(PhrasesInfo.self, from: Data(show.stdout.utf8))
        #expect(info?.table["486"] == "Účastník má obsadené" && info?.table["180"] == "Zvoní"
                && info?.rewriteCodes == [486] && info?.defaultLanguage == "sk", "sipctl phrases --json\n\(show)")
    }

    @Test("Accept-Language also picks the table for relayed phrases (custom en and sk tables)")
    func acceptLanguageRelayed() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("phrases-two")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("phrases.yaml")
        try Self.writeFile(file, "en:\n  486: Line busy\nsk:\n  486: Linka obsadená\noptions:\n  default: sk\n")
        let bed = try await TestBed("phr-two", proxyArguments: ["--phrases", file.path])
        defer { bed.shutdown() }
        let phones = Phones(.udp)
        try await bed.register(phones.bob)
        for (header, phrase) in [("en", "Line busy"), ("sk", "Linka obsadená"), ("en-GB;q=0.9, sk;q=0.1", "Line busy"), ("de", "Linka obsadená")] {
            let (a, b) = try await Self.call(bed, phones, uac: "uac-expect-final-lang.xml", uas: "uas-busy.xml",
                                             sets: ["code": "486"], keys: ["lang": header])
            #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
            Self.expectStatus(a, 486, phrase, "Accept-Language: \(header)\n\(bed.diagnostics(a, b))")
        }
    }

    @Test("a phrase with a comma and quotes: on the wire as written, quoted in sipctl calls --csv")
    func phraseWithCommaInCSV() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("phrases-csv")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("phrases.yaml")
        let phrase = #"Obsadené, skúste "neskôr""#
        try Self.writeFile(file, "sk:\n  486: '\(phrase)'\n")
        let bed = try await TestBed("phr-csv", proxyArguments: ["--phrases", file.path])
        defer { bed.shutdown() }
        let phones = Phones(.udp)
        try await bed.register(phones.bob)
        let (a, b) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: "uas-busy.xml", sets: ["code": "486"])
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        Self.expectStatus(a, 486, phrase, bed.diagnostics(a, b))
        _ = await waitUntil(timeout: .seconds(3)) { readText(bed.directory.appendingPathComponent("calls.jsonl")).contains("busy") }
        let csv = try await ToolRunner.sipctl(["calls", "--csv"], in: bed.directory)
        #expect(csv.stdout.contains(#",busy,486,"Obsadené, skúste ""neskôr""","#), "RFC 4180 quoting\n\(csv)")
    }

    @Test("sipctl phrases reload on a proxy started without --phrases fails with a message")
    func reloadWithoutFile() async throws {
        let bed = try await TestBed("phr-nofile")
        defer { bed.shutdown() }
        let run = try await ToolRunner.sipctl(["phrases", "reload"], in: bed.directory)
        #expect(!run.succeeded && run.stderr.contains("--phrases"), "\(run)")
        let show = try await ToolRunner.sipctl(["phrases", "--json"], in: bed.directory)
        let info = try? JSONDecoder().decode(PhrasesInfo.self, from: Data(show.stdout.utf8))
        #expect(info?.defaultLanguage == "en" && info?.table["486"] == "Busy Here" && info?.rewriteRelayed == false,
                "\(show)")
    }

    @Test("phrases from the file go out byte for byte: a decomposed (NFD) phrase is not normalized")
    func decomposedPhrase() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("phrases-nfd")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("phrases.yaml")
        let nfd = "Obsadene\u{301}"  // e + COMBINING ACUTE ACCENT
        try Self.writeFile(file, "sk:\n  486: \(nfd)\n")
        let bed = try await TestBed("phr-nfd", proxyArguments: ["--phrases", file.path])
        defer { bed.shutdown() }
        let phones = Phones(.udp)
        try await bed.register(phones.bob)
        let (a, b) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: "uas-busy.xml", sets: ["code": "486"])
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        Self.expectStatus(a, 486, nfd, bed.diagnostics(a, b))
    }

    @Test("sipctl serve --phrases with an unknown language (no file of that name) refuses to start")
    func unknownSelection() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("phrases-unknown")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = PortAllocator.block(on: "127.0.0.10")
        let run = try await ToolRunner.sipctl(["serve", "--listen", "127.0.0.10:\(port)", "--phrases", "cs"], in: dir, timeout: 8)
        #expect(!run.timedOut && !run.succeeded, "serve must exit with an error\n\(run)")
        #expect((run.stderr + run.stdout).contains("cs"), "the error should name the selection\n\(run)")
        #expect(!run.stdout.contains("SIPProxy ready"), "\(run)")
    }

    @Test("--phrases sk over TCP: the callee's contact refuses the connection, the caller gets the proxy's 500 in Slovak")
    func refusedContactSlovak() async throws {
        let bed = try await TestBed("phr-refused", proxyArguments: ["--phrases", "sk"])
        defer { bed.shutdown() }
        let phones = Phones(.tcp)
        try await bed.register(phones.bob)
        let r = try await bed.run("uac-expect-final.xml", as: phones.alice(), service: "bob", sets: ["code": "500"])
        #expect(r.passed, "\(bed.diagnostics(r))")
        Self.expectStatus(r, 500, "Vnútorná chyba servera", bed.diagnostics(r))
    }

    @Test("the proxy's pcap trace decodes in tshark with the localized phrase")
    func pcapTrace() async throws {
        guard let tshark = ToolRunner.which("tshark") else {
            Issue.record("tshark is not installed")
            return
        }
        let bed = try await TestBed("phr-pcap", proxyArguments: ["--phrases", "sk", "--trace-flush-ms", "0"])
        defer { bed.shutdown() }
        let phones = Phones(.udp)
        try await bed.register(phones.bob)
        let (a, b) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: "uas-busy.xml", sets: ["code": "486"])
        #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))")
        #expect(bed.proxy.stop() == 0, "\(bed.proxy.logTail())")
        let traces = bed.directory.appendingPathComponent("traces")
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: traces.path)) ?? []).filter { $0.hasSuffix(".pcap") }.sorted()
        try #require(!files.isEmpty, "no traces/*.pcap in \(bed.directory.path)")
        var lines: [String] = []
        for name in files {
            let run = try await ToolRunner.run(tshark, [
                "-n", "-r", traces.appendingPathComponent(name).path,
                "-d", "udp.port==\(bed.proxy.port),sip", "-Y", "sip.Status-Line",
                "-T", "fields", "-e", "sip.Status-Line",
            ], in: bed.directory, timeout: 30)
            #expect(run.succeeded, "\(run)")
            lines += run.lines
        }
        // The 486 the proxy sent to alice, and the one bob sent to the proxy.
        #expect(lines.contains { Array($0.utf8) == Array("SIP/2.0 486 Obsadené".utf8) }, "tshark status lines: \(lines)")
        #expect(lines.contains("SIP/2.0 486 Busy Here"), "tshark status lines: \(lines)")
        #expect(lines.contains { Array($0.utf8) == Array("SIP/2.0 180 Druhá strana vyzváňa".utf8) }, "tshark status lines: \(lines)")
    }

    @Test("sipctl phrases check rejects an invalid file naming the line, exit status non-zero",
          arguments: [
            ("sk:\n  486: Obsadené\n  abc: Nie\n", 3, "not a status code"),
            ("sk:\n  486: Obsadené\n  999: Nie\n", 3, "not a status code"),
            ("sk:\n  486: Obsadené\noptions:\n  colour: red\n", 4, "unknown option"),
            ("sk:\n  486: [Obsadené\n", 3, "not valid YAML"),
            ("sk:\n  486: \"Ob\\u0007sadené\"\n", 2, "control character"),
            ("sk:\n  180: Zvoní\n  486: \"\"\n", 3, "empty"),
            ("sk:\n  486: Obsadené\noptions:\n  default: cs\n", 4, "has no table"),
            ("sk:\n  486:\n    - Obsadené\n", 3, "must be text"),
          ])
    func checkInvalid(bad: (text: String, line: Int, message: String)) async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("phrases-check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.yaml")
        try Self.writeFile(file, bad.text)
        let run = try await ToolRunner.sipctl(["phrases", "check", file.path], in: dir)
        #expect(!run.succeeded, "an invalid file must fail\n\(bad.text)\n\(run)")
        #expect(run.stderr.contains("\(file.path):\(bad.line):"), "the error must name line \(bad.line)\n\(bad.text)\n\(run)")
        #expect(run.stderr.contains(bad.message), "\(run)")
    }

    // MARK: Reload

    @Test("sipctl phrases reload: a broken file keeps the old table, a fixed one (and SIGHUP) applies the new phrase")
    func reload() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("phrases-reload")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("phrases.yaml")
        try Self.writeFile(file, "sk:\n  486: Obsadené A\n")
        let bed = try await TestBed("phr-reload", proxyArguments: ["--phrases", file.path])
        defer { bed.shutdown() }
        let phones = Phones(.udp)
        try await bed.register(phones.bob)
        func busyCall(_ phrase: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let (a, b) = try await Self.call(bed, phones, uac: "uac-expect-final.xml", uas: "uas-busy.xml", sets: ["code": "486"])
            #expect(a.passed && b.passed, "\(bed.diagnostics(a, b))", sourceLocation: sourceLocation)
            Self.expectStatus(a, 486, phrase, "\(what)\n\(bed.diagnostics(a, b))", sourceLocation: sourceLocation)
        }
        try await busyCall("Obsadené A", "initial file")

        try Self.writeFile(file, "sk:\n  486: Obsadené B\n  xyz: broken\n")
        let broken = try await ToolRunner.sipctl(["phrases", "reload"], in: bed.directory)
        #expect(!broken.succeeded, "reloading a broken file must fail\n\(broken)")
        #expect(broken.stderr.contains("3:") && broken.stderr.contains("not a status code"),
                "the failure should name the file's line\n\(broken)")
        #expect(bed.proxy.isRunning, "\(bed.proxy.logTail())")
        try await busyCall("Obsadené A", "after a failed reload the old table stays")

        try Self.writeFile(file, "sk:\n  486: Obsadené C\n")
        let fixed = try await ToolRunner.sipctl(["phrases", "reload"], in: bed.directory)
        #expect(fixed.succeeded && fixed.stdout.contains("reloaded"), "\(fixed)")
        try await busyCall("Obsadené C", "after a good reload")

        // SIGHUP does the same.
        try Self.writeFile(file, "sk:\n  486: Obsadené D\n")
        kill(bed.proxy.processIdentifier, SIGHUP)
        let applied = await waitUntil(timeout: .seconds(3)) {
            readText(bed.proxy.stderrURL).contains("reason phrases reloaded from") &&
                readText(bed.proxy.stderrURL).components(separatedBy: "reason phrases reloaded from").count >= 3
        }
        #expect(applied, "SIGHUP did not log a reload\n\(bed.proxy.logTail())")
        try await busyCall("Obsadené D", "after SIGHUP")

        // SIGHUP with a broken file: refused (logged), the table stays.
        try Self.writeFile(file, "sk:\n  486: [Obsadené E\n")
        kill(bed.proxy.processIdentifier, SIGHUP)
        let refused = await waitUntil(timeout: .seconds(3)) {
            readText(bed.proxy.stderrURL).contains("phrase reload failed")
        }
        #expect(refused, "SIGHUP with a broken file should log the refusal\n\(bed.proxy.logTail())")
        try await busyCall("Obsadené D", "after SIGHUP with a broken file")
        #expect(bed.proxy.isRunning, "\(bed.proxy.logTail())")
    }

    @Test("reload under load: 50 calls while the phrases are reloaded several times; every call succeeds",
          arguments: SIPTransport.allCases)
    func reloadUnderLoad(transport: SIPTransport) async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("phrases-load")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("phrases.yaml")
        try Self.writeFile(file, "sk:\n  180: Zvoní A\n")
        let bed = try await TestBed("phr-load-\(transport)", proxyArguments: ["--phrases", file.path], logLevel: "info")
        defer { bed.shutdown() }
        let bob = Phone("bob", ip: "127.0.0.12", transport: transport)
        try await bed.register(bob)
        let uas = try await bed.startUAS("uas-answer.xml", as: bob, calls: 50, timeout: 30)
        let alice = Phone("alice", ip: "127.0.0.11", transport: transport)
        let caller = try bed.start("uac-call-bye.xml", as: alice, client: true, service: "bob", calls: 50, timeout: 30,
                                   extraArguments: ["-r", "10", "-rp", "1000", "-l", "50"])
        var reloads: [ToolRun] = []
        for i in 0..<8 {
            try await Task.sleep(for: .milliseconds(500))
            // Alternate two good tables, with a broken file in between (refused, the old table stays).
            let text = i % 3 == 2 ? "sk:\n  180: [broken\n" : "sk:\n  180: Zvoní \(i % 2 == 0 ? "B" : "A")\n"
            try Self.writeFile(file, text)
            reloads.append(try await ToolRunner.sipctl(["phrases", "reload"], in: bed.directory))
        }
        let a = await caller.wait()
        let b = await uas.wait()
        #expect(a.passed, "caller: every call must succeed\n\(bed.diagnostics(a, b))")
        #expect(b.passed, "callee\n\(bed.diagnostics(a, b))")
        #expect(b.receivedRequests("INVITE").count == 50, "callee saw \(b.receivedRequests("INVITE").count) INVITEs")
        #expect(a.receivedResponses(200).count >= 100, "50 answers + 50 BYE answers; got \(a.receivedResponses(200).count)")
        for (i, run) in reloads.enumerated() {
            #expect(run.succeeded == (i % 3 != 2), "reload \(i)\n\(run)")
        }
        let ringing = Self.statusLines(a, 180)
        #expect(ringing.count >= 50, "one 180 per call: \(ringing.count)")
        let allowed = Set(["SIP/2.0 180 Zvoní A", "SIP/2.0 180 Zvoní B"].map { Array($0.utf8) })
        let odd = ringing.filter { !allowed.contains(Array($0.utf8)) }
        #expect(odd.isEmpty, "180 status lines from neither table: \(Set(odd))")
        #expect(Set(ringing.map { Array($0.utf8) }).count == 2, "both tables should have been in use: \(Set(ringing))")
        #expect(bed.proxy.isRunning, "\(bed.proxy.logTail())")
    }
}
