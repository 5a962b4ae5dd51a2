// YAMLDocument: the one place YAML text becomes a node tree with line numbers, for the files users write by hand
// (phrase files, the auth file), so every error can name its line.

import Yams

enum YAMLDocument {
    /// A syntax error: the line (1-based, when Yams knows it) and what is wrong.
    struct SyntaxError: Error {
        var line: Int?
        var message: String
    }

    /// The root node, nil for an empty document.
    static func compose(_ text: String) throws(SyntaxError) -> Node? {
        do {
            return try Yams.compose(yaml: text)
        } catch let error as YamlError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
                throw SyntaxError(line: mark.line, message: "not valid YAML: \(problem)")
            default:
                throw SyntaxError(line: nil, message: "not valid YAML: \(error)")
            }
        } catch {
            throw SyntaxError(line: nil, message: "not valid YAML: \(error)")
        }
    }
}
