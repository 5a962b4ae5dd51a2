// Real-world captures from ../shared/testdata/pcaps: every Call-ID's messages, as tshark lists them.

import Foundation
import Testing

@testable import SIPProxy

@Suite("Analysis: shared real-world captures")
struct AnalysisSharedCaptureTests {
    /// `../shared/testdata/pcaps` beside the package root, or nil (with a note) when absent.
    static let folder: URL? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.deletingLastPathComponent().appendingPathComponent("shared/testdata/pcaps")
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("expected.tsv").path) else {
            print("note: \(folder.path) is absent; skipping the shared real-world capture tests")
            return nil
        }
        return folder
    }()

    /// expected.tsv: file -> [(Call-ID, labels)] in order of first appearance.
    static func expected(_ folder: URL) throws -> [(file: String, calls: [(String, [String])])] {
        let text = try String(contentsOf: folder.appendingPathComponent("expected.tsv"), encoding: .utf8)
        var result: [(file: String, calls: [(String, [String])])] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard columns.count == 3 else { continue }
            let labels = columns[2].split(separator: ",").map(String.init)
            if result.last?.file == columns[0] {
                result[result.count - 1].calls.append((columns[1], labels))
            } else {
                result.append((columns[0], [(columns[1], labels)]))
            }
        }
        return result
    }

    @Test("every file and Call-ID in expected.tsv gives exactly tshark's labels")
    func labelsMatchTshark() throws {
        guard let folder = Self.folder else { return }
        let expected = try Self.expected(folder)
        #expect(expected.count == 10)
        for (file, calls) in expected {
            let path = folder.appendingPathComponent(file).path
            var byCall: [String: [String]] = [:]
            var order: [String] = []
            try TraceTimeline(paths: [path]).forEachMessage { message in
                if byCall[message.info.callID] == nil { order.append(message.info.callID) }
                byCall[message.info.callID, default: []].append(message.info.shortLabel)
            }
            #expect(order == calls.map(\.0), "\(file): Call-IDs")
            for (callID, labels) in calls {
                #expect(byCall[callID] == labels, "\(file) \(callID)")
            }
        }
    }

    @Test("every dialog of every capture, ours and the shared ones, draws within 80 and 120 columns with a title and named lifelines")
    func everyLadderFits() throws {
        var paths = AnalysisFixtures.captures.map(AnalysisFixtures.path)
        if let folder = Self.folder {
            paths += try Self.expected(folder).map { folder.appendingPathComponent($0.file).path }
        }
        var drawn = 0
        for path in paths {
            let (calls, _) = try CallCollector.collect([path])
            for call in calls {
                let (chosen, messages, _, names) = try CallSelection.loadWithNames(.callID(call.callID), group: false, paths: [path])
                var ladder = Ladder(callIDs: [call.callID], messages: messages, options: LadderOptions(names: names))
                ladder.titles = Ladder.titles(of: chosen)
                #expect(ladder.titles.count == 1 && ladder.titles[0].contains(" → "), "\(path) \(call.callID)")
                #expect(!ladder.columns.isEmpty && ladder.columns.allSatisfy { !$0.isEmpty })
                for width in [80, 120] where LadderTextRenderer.minimumWidth(columns: ladder.columns.count) <= width {
                    for ascii in [false, true] {
                        let text = LadderTextRenderer(width: width, ascii: ascii).render(ladder)
                        let lines = text.split(separator: Character("\n"))
                        let long = lines.dropFirst(ladder.titles.count + 1).filter { $0.count > width }
                        #expect(long.isEmpty, "\(path) \(call.callID) at \(width): \(long)")
                        drawn += 1
                    }
                }
            }
        }
        #expect(drawn >= 40)
    }
}
