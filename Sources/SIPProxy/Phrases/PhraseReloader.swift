// PhraseReloader: re-reads the phrase selection (SIGHUP or `sipctl phrases reload`) off the event loop and
// installs the new book only when it is valid, so a broken edit never takes the old phrases away.

import Dispatch
import Foundation
import Logging

/// Reloads the phrase file named by `--phrases`.
final class PhraseReloader: Sendable {
    let selection: String?
    /// Puts a new book in force (every shard's core); the reloader knows nothing else of the proxy.
    private let install: @Sendable (PhraseBook) -> Void
    private let logger: Logger
    private let queue = DispatchQueue(label: "sipproxy.phrases")

    init(selection: String?, logger: Logger, install: @escaping @Sendable (PhraseBook) -> Void) {
        self.selection = selection
        self.install = install
        self.logger = logger
    }

    /// Reads and validates on a background queue; calls `done` with the outcome.
    func reload(_ done: @escaping @Sendable (Result<PhraseBook, PhraseError>) -> Void) {
        self.queue.async {
            guard let selection = self.selection else {
                done(.failure(PhraseError(file: "-", line: nil, message: "no --phrases file to reload")))
                return
            }
            let result: Result<PhraseBook, PhraseError>
            do throws(PhraseError) {
                result = .success(try PhraseFile.load(selection) { try String(contentsOfFile: $0, encoding: .utf8) })
            } catch {
                result = .failure(error)
            }
            switch result {
            case .success(let book):
                self.install(book)
                self.logger.notice("reason phrases reloaded from \(book.source)")
            case .failure(let error):
                self.logger.error("phrase reload failed, keeping the current phrases: \(error)")
            }
            done(result)
        }
    }
}
