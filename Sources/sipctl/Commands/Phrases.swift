// `sipctl phrases`: show, check and reload reason-phrase tables.

import ArgumentParser
import Foundation
import SIPProxy

struct Phrases: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show, check or reload the reason phrases the proxy writes on responses.",
        subcommands: [Show.self, Check.self, Reload.self],
        defaultSubcommand: Show.self
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the running proxy's active phrase table (or a built-in one when none runs)."
        )

        @OptionGroup var options: GlobalOptions

        @Option(name: .long, help: "Language of the table to show (default: the proxy's default language).")
        var lang: String?

        func run() async throws {
            let info: PhrasesInfo
            do {
                let response = try await ControlClient.send(
                    ControlRequest(command: "phrases.show", language: self.lang),
                    socket: self.options.socketPath
                )
                guard response.ok, let phrases = response.phrases else {
                    throw SipCtlError(response.error ?? "the proxy sent no phrases")
                }
                info = phrases
            } catch let error as ControlClientError {
                // No proxy: the built-in tables are still worth showing.
                let language = (self.lang ?? "en").lowercased()
                guard PhraseTable.builtIn[language] != nil else { throw SipCtlError(error.message) }
                FileHandle.standardError.write(Data("note: \(error.message); showing the built-in table\n".utf8))
                info = PhrasesInfo(book: .standard, language: language)
            }
            if self.options.json {
                print(try ControlCoding.encode(info))
            } else {
                print(info.render(), terminator: "")
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a phrase file (YAML) without a proxy.")

        @Argument(help: "The phrase file.")
        var file: String

        func run() throws {
            do throws(PhraseError) {
                let book = try PhraseFile.load(self.file) { try String(contentsOfFile: $0, encoding: .utf8) }
                let languages = book.tables.keys.sorted().joined(separator: ", ")
                print("\(self.file): ok (tables: \(languages); default \(book.defaultLanguage))")
            } catch {
                throw SipCtlError(error.description)
            }
        }
    }

    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the running proxy re-read its phrase file (like SIGHUP); an invalid file is refused."
        )

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let response = try await ControlCommand.send("phrases.reload", self.options)
            print("reloaded: \(response.phrases?.source ?? "?") (default \(response.phrases?.defaultLanguage ?? "?"))")
        }
    }
}
