// CallJournalReader: reads the journal and its rotated siblings back, oldest first.

import Foundation

/// Reads call records from journal files.
public enum CallJournalReader {
    /// What reading found: the records in file order and one warning per line that was skipped.
    public struct Result: Sendable {
        public var records: [CallRecord]
        public var warnings: [String]
    }

    /// Reads `path` and its rotated siblings (`calls-YYYYMMDD-HHMMSS[-N].jsonl` beside it), rotated files in the
    /// order they were rotated, then `path`. A line that is not a record (typically the last one, half-written by a
    /// crash) is skipped with a warning. Fails only when there is no journal at all.
    public static func read(path: String) throws(CallLogError) -> Result {
        let files = Self.files(for: path)
        guard !files.isEmpty else {
            throw CallLogError(
                .io,
                "no call journal at \(path) (the proxy writes calls.jsonl in its working directory; pass --file)"
            )
        }
        var result = Result(records: [], warnings: [])
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                result.warnings.append("cannot read \(file)")
                continue
            }
            result.records += Self.parse(data, name: file, warnings: &result.warnings)
        }
        return result
    }

    /// The rotated siblings of `path` in rotation order, then `path` itself; only files that exist.
    public static func files(for path: String) -> [String] {
        let (directory, stem, ext) = CallJournal.split(path)
        let listing = (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
        var rotated: [(stamp: String, n: Int, name: String)] = []
        for name in listing where name.hasPrefix(stem + "-") && name.hasSuffix(ext) {
            let middle = name.dropFirst(stem.count + 1).dropLast(ext.count)
            let parts = middle.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2 || parts.count == 3, parts[0].count == 8, parts[1].count == 6,
                parts[0].allSatisfy(\.isASCIIDigit), parts[1].allSatisfy(\.isASCIIDigit)
            else { continue }
            var n = 0
            if parts.count == 3 {
                guard let value = Int(parts[2]) else { continue }
                n = value
            }
            rotated.append(("\(parts[0])\(parts[1])", n, directory + name))
        }
        var out = rotated.sorted { ($0.stamp, $0.n) < ($1.stamp, $1.n) }.map(\.name)
        if FileManager.default.fileExists(atPath: path) { out.append(path) }
        return out
    }

    /// `calls-20261201-103318.jsonl` for a rotation at that local time; `-1`, `-2`, ... when taken.
    static func rotatedName(for path: String, at time: WallClock, timeZone: TimeZone) -> String {
        let (directory, stem, ext) = CallJournal.split(path)
        let f = time.fields(in: timeZone)
        let stamp = "\(WallClock.pad(f.year, 4))\(WallClock.pad(f.month))\(WallClock.pad(f.day))-"
            + "\(WallClock.pad(f.hour))\(WallClock.pad(f.minute))\(WallClock.pad(f.second))"
        var candidate = "\(directory)\(stem)-\(stamp)\(ext)"
        var n = 1
        while FileManager.default.fileExists(atPath: candidate) {
            candidate = "\(directory)\(stem)-\(stamp)-\(n)\(ext)"
            n += 1
        }
        return candidate
    }

    /// Parses JSON Lines; empty lines are ignored, other unreadable lines are skipped with a warning.
    static func parse(_ data: Data, name: String, warnings: inout [String]) -> [CallRecord] {
        var out: [CallRecord] = []
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            let trimmed = line.drop { $0 == 0x20 || $0 == 0x0D }
            if trimmed.isEmpty { continue }
            do {
                out.append(try JSONDecoder().decode(CallRecord.self, from: Data(trimmed)))
            } catch {
                let last = index == lines.count - 1 || (index == lines.count - 2 && lines[lines.count - 1].isEmpty)
                let why =
                    last ? "an incomplete last line (written during a crash?)" : "a line that is not a call record"
                warnings.append("\(name):\(index + 1): skipped \(why)")
            }
        }
        return out
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { self.isASCII && self.isNumber }
}
