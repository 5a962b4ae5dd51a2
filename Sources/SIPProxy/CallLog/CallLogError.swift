// CallLogError: the one error type of the call journal layer (tracker, journal, query).

/// A failure of the call journal: a file that cannot be written or read, or a filter that cannot be parsed.
public struct CallLogError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A journal or snapshot file could not be opened, written, synced or renamed.
        case io
        /// A `--since`/`--until`/`--outcome`/`--limit` value is not understood.
        case badFilter
        /// A journal line is not a call record.
        case corruptRecord
        /// The journal's database (`--journal-db`) cannot be reached, written or read.
        case database
    }

    public var kind: Kind
    /// One line, ready to print after `Error: `.
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
