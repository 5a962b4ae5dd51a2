// Reason phrases: tables, file validation with line numbers, Accept-Language negotiation.

import Testing

@testable import SIPProxy

@Suite struct PhraseTests {
    func request(acceptLanguage: String?) -> SIPRequest {
        var lines = [
            "INVITE sip:bob@127.0.0.10 SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.11;branch=z9hG4bKa",
            "From: <sip:alice@127.0.0.10>;tag=1", "To: <sip:bob@127.0.0.10>", "Call-ID: c1", "CSeq: 1 INVITE",
        ]
        if let acceptLanguage { lines.append("Accept-Language: \(acceptLanguage)") }
        lines.append("Content-Length: 0")
        guard case .request(let r) = try! SIPParser().parse(Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8))
        else { fatalError() }
        return r
    }

    @Test func slovakTableCoversEveryCodeTheIssueNames() {
        let required = [
            100, 180, 181, 182, 183, 200, 202, 300, 301, 302, 305, 380, 400, 403, 404, 405, 408, 423, 480, 481, 482,
            483, 484, 486, 487, 488, 500, 503, 600, 603, 604, 606,
        ]
        for code in required { #expect(PhraseTable.slovak[code] != nil, "missing \(code)") }
        #expect(PhraseTable.slovak[486] == "Obsadené")
        for (_, phrase) in PhraseTable.slovak.phrases { #expect(PhraseTable.validate(phrase) == nil) }
    }

    @Test func standardBookKeepsRelayedPhrasesAndUsesEnglish() {
        let book = PhraseBook.standard
        #expect(book.generated(404, for: self.request(acceptLanguage: nil)) == "Not Found")
        #expect(book.relayed(486, original: "Busy Here Now", for: nil) == "Busy Here Now")
        // Accept-Language still picks a built-in table for the proxy's own responses.
        #expect(book.generated(404, for: self.request(acceptLanguage: "sk, en;q=0.5")) == "Nenájdené")
    }

    @Test func fileOverridesAndOptions() throws {
        let text = """
            sk:
              486: Obsadené
              180: Druhá strana vyzváňa
            cs:
              486: Obsazeno
            options:
              default: sk
              rewrite_codes: [180, 486]
            """
        let book = try PhraseFile.parse(text, name: "t.yaml")
        #expect(book.defaultLanguage == "sk")
        #expect(book.relayed(486, original: "Busy Here", for: nil) == "Obsadené")
        #expect(book.relayed(603, original: "Decline", for: nil) == "Decline")  // not in rewrite_codes
        #expect(book.relayed(486, original: "Busy Here", for: self.request(acceptLanguage: "cs-CZ")) == "Obsazeno")
        #expect(book.relayed(486, original: "Busy Here", for: self.request(acceptLanguage: "de, en;q=0.1")) == "Busy Here")
        // Built-in Slovak entries the file does not override stay.
        #expect(book.generated(404, for: nil) == "Nenájdené")
    }

    @Test(arguments: [
        ("sk:\n  486: Obsadené\n  999: Nope\n", 3, "not a status code"),
        ("sk:\n  486: \"a\\rb\"\n", 2, "control character"),
        ("sk:\n  486: \"\"\n", 2, "empty"),
        ("x y:\n  486: a\n", 1, "not a language tag"),
        ("sk: [1, 2]\n", 1, "must map status codes"),
        ("options:\n  colour: red\n", 2, "unknown option"),
        ("sk:\n  486: [a\n", 3, "not valid YAML"),
    ])
    func invalidFilesNameTheLine(text: String, line: Int, message: String) {
        #expect {
            try PhraseFile.parse(text, name: "bad.yaml")
        } throws: { error in
            guard let error = error as? PhraseError else { return false }
            return error.line == line && error.message.contains(message) && error.description.hasPrefix("bad.yaml:")
        }
    }

    @Test func negotiationHonoursQualityAndPrimaryTags() {
        let available: Set = ["en", "sk", "cs"]
        #expect(PhraseBook.negotiate(["da, en-gb;q=0.8, sk;q=0.9"], available: available) == "sk")
        #expect(PhraseBook.negotiate(["sk;q=0, cs"], available: available) == "cs")
        #expect(PhraseBook.negotiate(["de"], available: available) == nil)
    }
}
