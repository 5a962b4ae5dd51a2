// PhraseTable: reason phrases of one language, and the built-in English and Slovak tables.
//
// The status code is for machines, the reason phrase for people (RFC 3261 §7.2: "the Reason-Phrase is intended
// to give a short textual description of the Status-Code ... A client is not required to examine or display
// the Reason-Phrase"). So the proxy may change it freely, and the switchboard's users read it in their language.

/// Code -> phrase for one language.
public struct PhraseTable: Sendable, Equatable, Codable {
    /// A BCP 47 language tag in lower case (`en`, `sk`, `cs`, `de-at`).
    public var language: String
    public var phrases: [Int: String]

    public init(language: String, phrases: [Int: String]) {
        self.language = language.lowercased()
        self.phrases = phrases
    }

    public subscript(code: Int) -> String? { self.phrases[code] }

    /// The RFC phrases (RFC 3261 §21, RFC 3262, RFC 3265, RFC 3515, RFC 4028, RFC 6026).
    public static let english = PhraseTable(language: "en", phrases: SIPStatus.phrases)

    /// Slovak phrases for every code the proxy generates or commonly relays.
    public static let slovak = PhraseTable(
        language: "sk",
        phrases: [
            100: "Skúšam spojiť", 180: "Druhá strana vyzváňa", 181: "Hovor je presmerovaný", 182: "Vo fronte",
            183: "Prebieha spájanie", 199: "Skorý dialóg ukončený",
            200: "OK", 202: "Prijaté", 204: "Bez oznámenia",
            300: "Viacero možností", 301: "Trvalo presunuté", 302: "Dočasne presunuté", 305: "Použite proxy",
            380: "Alternatívna služba",
            400: "Chybná požiadavka", 401: "Neautorizované", 402: "Vyžaduje sa platba", 403: "Zakázané",
            404: "Nenájdené", 405: "Metóda nie je povolená", 406: "Neprijateľné",
            407: "Vyžaduje sa overenie na proxy", 408: "Vypršal čas požiadavky", 410: "Už neexistuje",
            413: "Príliš veľká požiadavka", 414: "Príliš dlhá adresa Request-URI", 415: "Nepodporovaný typ média",
            416: "Nepodporovaná schéma URI", 420: "Chybné rozšírenie", 421: "Vyžaduje sa rozšírenie",
            422: "Príliš krátky interval relácie", 423: "Príliš krátky interval", 480: "Dočasne nedostupný",
            481: "Hovor alebo transakcia neexistuje", 482: "Zistená slučka", 483: "Príliš veľa skokov",
            484: "Neúplná adresa", 485: "Nejednoznačná adresa", 486: "Obsadené", 487: "Požiadavka zrušená",
            488: "Tu neprijateľné", 489: "Chybná udalosť", 491: "Požiadavka čaká", 493: "Nedešifrovateľné",
            500: "Vnútorná chyba servera", 501: "Neimplementované", 502: "Chybná brána",
            503: "Služba nedostupná", 504: "Vypršal čas servera", 505: "Nepodporovaná verzia",
            513: "Príliš veľká správa",
            600: "Všade obsadené", 603: "Odmietnuté", 604: "Nikde neexistuje", 606: "Neprijateľné",
        ]
    )

    /// The tables shipped with the proxy, by language.
    public static let builtIn: [String: PhraseTable] = ["en": .english, "sk": .slovak]

    /// Whether `text` may be a Reason-Phrase: UTF-8 (any Swift string is), no CR, LF or other control character
    /// except HTAB (RFC 3261 §25.1 Reason-Phrase), not empty, at most 200 characters.
    public static func validate(_ text: String) -> String? {
        if text.isEmpty { return "the phrase is empty" }
        if text.unicodeScalars.count > 200 { return "the phrase is longer than 200 characters" }
        for scalar in text.unicodeScalars where (scalar.value < 0x20 && scalar != "\t") || scalar.value == 0x7F {
            return "the phrase contains a control character (U+\(String(scalar.value, radix: 16, uppercase: true)))"
        }
        return nil
    }
}
