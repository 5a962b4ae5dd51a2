// Shared helpers for the message-layer tests: locating the torture corpus and building messages.

import Foundation
import Testing

@testable import SIPProxy

/// Namespace of the message-layer suites, so `swift test --filter Message` selects exactly them.
enum MessageTests {}

enum TortureCorpus {
    /// `../shared/testdata/sip-torture` beside the package root. The corpus is public test data from outside the
    /// project (RFC 4475, RFC 5118) and is never copied into the repository.
    static let directory: URL = {
        var url = URL(fileURLWithPath: #filePath)
        // Tests/SIPProxyTests/Message/MessageTestSupport.swift -> package root.
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.deletingLastPathComponent().appendingPathComponent("shared/testdata/sip-torture")
    }()

    static var isPresent: Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent("manifest.tsv").path)
    }

    /// Prints why a corpus test did nothing; the test passes, so CI without the folder stays green.
    static func noteMissing(_ test: String = #function) {
        print("note: \(test) skipped: torture corpus not found at \(directory.path)")
    }

    /// The raw archive bytes of a message (`name` as in manifest.tsv, without `.dat`).
    static func rawBytes(_ name: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name + ".dat").path)
        else { return nil }
        return Array(data)
    }

    /// The wire form of a message. RFC 4475 files are already byte-exact CRLF messages; RFC 5118 archive copies
    /// use bare LF, may lack the closing empty line and carry stale Content-Lengths, so they are converted as the
    /// corpus README says: CRLF line ends, closing empty line, Content-Length recomputed.
    static func wireBytes(_ name: String) -> [UInt8]? {
        guard let raw = rawBytes(name) else { return nil }
        guard name.hasPrefix("rfc5118/") else { return raw }
        let lines = String(decoding: raw, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        let blank = lines.firstIndex(of: "") ?? lines.count
        var headerLines = Array(lines[..<blank])
        let bodyLines = blank < lines.count ? Array(lines[(blank + 1)...]) : []
        var body = bodyLines.joined(separator: "\r\n")
        // The archive's final LF becomes CRLF; drop trailing empty lines beyond that.
        while body.hasSuffix("\r\n\r\n") { body.removeLast(2) }
        if body == "\r\n" { body = "" }
        let length = body.utf8.count
        var sawLength = false
        for i in headerLines.indices where headerLines[i].lowercased().hasPrefix("content-length") {
            headerLines[i] = "Content-Length: \(length)"
            sawLength = true
        }
        if !sawLength { headerLines.append("Content-Length: \(length)") }
        return Array((headerLines.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8)
    }

    /// manifest.tsv rows: name and class (`valid` / `invalid`).
    static func manifest() -> [(name: String, valid: Bool)] {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("manifest.tsv").path)
        else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#") else { return nil }
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard cols.count >= 2 else { return nil }
            return (String(cols[0]), cols[1] == "valid")
        }
    }
}

/// Joins lines with CRLF and ends the header section; `body` follows the empty line.
func sipMessage(_ lines: [String], body: String = "") -> [UInt8] {
    Array((lines.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8)
}

extension SIPMessage {
    var request: SIPRequest? {
        if case .request(let r) = self { return r }
        return nil
    }

    var response: SIPResponse? {
        if case .response(let r) = self { return r }
        return nil
    }

    var body: [UInt8] {
        switch self {
        case .request(let r): return r.body
        case .response(let r): return r.body
        }
    }
}
