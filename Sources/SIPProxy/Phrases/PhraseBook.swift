// PhraseBook: which phrase the proxy writes on the responses it makes and on those it relays.

/// The active phrase policy. A value: reload swaps the whole book (the old one stays when a new file is invalid).
public struct PhraseBook: Sendable, Equatable {
    /// Tables by language; English is always present as the fallback.
    public var tables: [String: PhraseTable]
    /// The language used when the request asks for none the proxy has.
    public var defaultLanguage: String
    /// Rewrite the phrase of responses relayed from phones (off: relayed phrases pass untouched).
    public var rewriteRelayed: Bool
    /// When set, only these codes are rewritten on relayed responses.
    public var rewriteCodes: Set<Int>?
    /// Choose the language from the request's Accept-Language (RFC 3261 §20.3) when a table for it exists.
    public var useAcceptLanguage: Bool
    /// Where the tables came from, for `sipctl phrases`.
    public var source: String

    /// English only, relayed phrases untouched: the behaviour when no phrases are configured.
    public static let standard = PhraseBook(
        tables: PhraseTable.builtIn,
        defaultLanguage: "en",
        rewriteRelayed: false,
        rewriteCodes: nil,
        useAcceptLanguage: true,
        source: "built-in"
    )

    public init(
        tables: [String: PhraseTable],
        defaultLanguage: String,
        rewriteRelayed: Bool,
        rewriteCodes: Set<Int>?,
        useAcceptLanguage: Bool,
        source: String
    ) {
        var tables = tables
        if tables["en"] == nil { tables["en"] = .english }
        self.tables = tables
        self.defaultLanguage = defaultLanguage.lowercased()
        self.rewriteRelayed = rewriteRelayed
        self.rewriteCodes = rewriteCodes
        self.useAcceptLanguage = useAcceptLanguage
        self.source = source
    }

    /// The phrase for a response the proxy makes itself to `request`.
    public func generated(_ code: Int, for request: SIPRequest?) -> String {
        let language = self.language(for: request)
        return self.tables[language]?[code] ?? self.tables["en"]?[code] ?? SIPStatus.defaultReason(code)
    }

    /// The phrase for a response the proxy makes, keeping a more specific English `detail` (e.g. "Bad Via
    /// Header") when the chosen language is the unmodified English table.
    public func generated(_ code: Int, for request: SIPRequest?, detail: String?) -> String {
        if let detail, self.language(for: request) == "en", self.tables["en"] == .english { return detail }
        return self.generated(code, for: request)
    }

    /// The phrase for a relayed response: the phone's own unless rewriting applies to the code and the chosen
    /// language has a phrase for it. Only the phrase changes; code, headers and body are untouched.
    public func relayed(_ code: Int, original: String, for request: SIPRequest?) -> String {
        guard self.rewriteRelayed, self.rewriteCodes?.contains(code) ?? true else { return original }
        let language = self.language(for: request)
        return self.tables[language]?[code] ?? original
    }

    /// The language for a request: the best Accept-Language range with a table, else the default.
    public func language(for request: SIPRequest?) -> String {
        guard self.useAcceptLanguage, let request else { return self.defaultLanguage }
        let values = request.headers.values("accept-language")
        guard !values.isEmpty else { return self.defaultLanguage }
        return Self.negotiate(values, available: Set(self.tables.keys)) ?? self.defaultLanguage
    }

    /// RFC 3261 §20.3 / RFC 2616 §14.4: `da, en-gb;q=0.8, en;q=0.7`. Highest q first (ties keep their order);
    /// a range matches a table of the same tag or of its primary subtag; q=0 means "not this one".
    static func negotiate(_ values: [String], available: Set<String>) -> String? {
        var ranges: [(tag: String, q: Double, order: Int)] = []
        for (order, value) in values.flatMap({ SIPHeaders.splitCommaList($0) }).enumerated() {
            let parts = value.split(separator: ";")
            guard let first = parts.first else { continue }
            let tag = first.trimmingSIPWhitespace().lowercased()
            var q = 1.0
            for p in parts.dropFirst() {
                let kv = p.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0].trimmingSIPWhitespace().lowercased() == "q",
                    let v = Double(kv[1].trimmingSIPWhitespace())
                {
                    q = v
                }
            }
            if q > 0 && !tag.isEmpty { ranges.append((tag, q, order)) }
        }
        ranges.sort { $0.q != $1.q ? $0.q > $1.q : $0.order < $1.order }
        for range in ranges {
            if available.contains(range.tag) { return range.tag }
            if let primary = range.tag.split(separator: "-").first.map(String.init), available.contains(primary) {
                return primary
            }
        }
        return nil
    }
}
