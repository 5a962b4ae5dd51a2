// PhraseFile: user phrase tables in YAML, validated with line numbers.
//
//     # language -> status code -> phrase; entries override the built-in table of that language
//     sk:
//       486: Obsadené
//       180: Druhá strana vyzváňa
//     cs:
//       486: Obsazeno
//     options:                 # optional
//       default: sk            # language when the request asks for none we have
//       rewrite_relayed: true  # rewrite phrases of responses relayed from phones
//       rewrite_codes: [180, 486, 603]   # only these (default: all)
//       accept_language: true  # choose by the request's Accept-Language

import Yams

/// The one error type of the phrases layer: names the file and the line.
public struct PhraseError: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var message: String

    public var description: String {
        if let line { return "\(self.file):\(line): \(self.message)" }
        return "\(self.file): \(self.message)"
    }
}

public enum PhraseFile {
    /// Parses a phrase file's text into a book. `name` is used in error messages.
    public static func parse(_ text: String, name: String) throws(PhraseError) -> PhraseBook {
        func fail(_ message: String, _ node: Node?) -> PhraseError {
            PhraseError(file: name, line: node?.mark?.line, message: message)
        }
        let root: Node?
        do throws(YAMLDocument.SyntaxError) {
            root = try YAMLDocument.compose(text)
        } catch {
            throw PhraseError(file: name, line: error.line, message: error.message)
        }
        guard let root else { throw PhraseError(file: name, line: nil, message: "the file is empty") }
        guard case .mapping(let top) = root else {
            throw fail("expected a mapping of language -> code -> phrase at the top level", root)
        }
        var tables = PhraseTable.builtIn
        var fileLanguages: [String] = []
        var options: Node.Mapping?
        for (keyNode, valueNode) in top {
            guard let key = keyNode.scalar?.string else { throw fail("a key at the top level is not text", keyNode) }
            if key == "options" {
                guard case .mapping(let m) = valueNode else { throw fail("'options' must be a mapping", valueNode) }
                options = m
                continue
            }
            let language = key.lowercased()
            guard Self.isLanguageTag(language) else {
                throw fail("'\(key)' is not a language tag (like sk, cs, de-at)", keyNode)
            }
            guard case .mapping(let entries) = valueNode else {
                throw fail("language '\(key)' must map status codes to phrases", valueNode)
            }
            var table = tables[language] ?? PhraseTable(language: language, phrases: [:])
            for (codeNode, phraseNode) in entries {
                guard let codeText = codeNode.scalar?.string, let code = Int(codeText), (100...699).contains(code)
                else {
                    throw fail("'\(codeNode.scalar?.string ?? "?")' is not a status code (100-699)", codeNode)
                }
                guard let phrase = phraseNode.scalar?.string else {
                    throw fail("the phrase for \(code) must be text", phraseNode)
                }
                if let problem = PhraseTable.validate(phrase) {
                    throw fail("phrase for \(code): \(problem)", phraseNode)
                }
                table.phrases[code] = phrase
            }
            tables[language] = table
            fileLanguages.append(language)
        }
        var book = PhraseBook(
            tables: tables,
            defaultLanguage: fileLanguages.count == 1 ? fileLanguages[0] : "en",
            rewriteRelayed: true,
            rewriteCodes: nil,
            useAcceptLanguage: true,
            source: name
        )
        if let options {
            for (keyNode, valueNode) in options {
                let key = keyNode.scalar?.string ?? ""
                switch key {
                case "default":
                    guard let value = valueNode.scalar?.string.lowercased(), book.tables[value] != nil else {
                        throw fail("default language '\(valueNode.scalar?.string ?? "?")' has no table", valueNode)
                    }
                    book.defaultLanguage = value
                case "rewrite_relayed":
                    guard let value = valueNode.bool else { throw fail("rewrite_relayed must be true or false", valueNode) }
                    book.rewriteRelayed = value
                case "accept_language":
                    guard let value = valueNode.bool else { throw fail("accept_language must be true or false", valueNode) }
                    book.useAcceptLanguage = value
                case "rewrite_codes":
                    guard case .sequence(let seq) = valueNode else {
                        throw fail("rewrite_codes must be a list of status codes", valueNode)
                    }
                    var codes = Set<Int>()
                    for item in seq {
                        guard let c = item.int, (100...699).contains(c) else {
                            throw fail("'\(item.scalar?.string ?? "?")' is not a status code (100-699)", item)
                        }
                        codes.insert(c)
                    }
                    book.rewriteCodes = codes
                default:
                    throw fail("unknown option '\(key)' (default, rewrite_relayed, rewrite_codes, accept_language)", keyNode)
                }
            }
        }
        return book
    }

    /// `sk` selects a built-in table; anything else is a file path.
    public static func load(_ selection: String, read: (String) throws -> String) throws(PhraseError) -> PhraseBook {
        let lower = selection.lowercased()
        if PhraseTable.builtIn[lower] != nil {
            return PhraseBook(
                tables: PhraseTable.builtIn,
                defaultLanguage: lower,
                rewriteRelayed: true,
                rewriteCodes: nil,
                useAcceptLanguage: true,
                source: "built-in:\(lower)"
            )
        }
        let text: String
        do {
            text = try read(selection)
        } catch {
            throw PhraseError(
                file: selection,
                line: nil,
                message: "cannot read phrase file (and it is not a built-in table: \(PhraseTable.builtIn.keys.sorted().joined(separator: ", ")))"
            )
        }
        return try self.parse(text, name: selection)
    }

    static func isLanguageTag(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard let first = parts.first, (1...8).contains(first.count), first.allSatisfy({ $0.isLetter && $0.isASCII })
        else { return false }
        return parts.dropFirst().allSatisfy { p in
            (1...8).contains(p.count) && p.allSatisfy { ($0.isLetter || $0.isNumber) && $0.isASCII }
        }
    }
}
