// Inputs found by the capture-analysis fuzzer (Tests/Fuzz/PcapReaderFuzzer.swift, run by scripts/fuzz.sh) that
// trapped, kept byte for byte so they stay fixed.

import Foundation
import Testing

@testable import SIPProxy

@Suite("Analysis: fuzzer findings")
struct AnalysisFuzzFindingsTests {
    /// Writes a capture to a temporary file and lists its calls in every format, as `sipctl trace calls` does.
    static func listCalls(_ bytes: [UInt8], _ name: String) throws -> [CallSummary] {
        let path = AnalysisFixtures.temporaryPath(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (calls, _) = try CallCollector.collect([path])
        _ = (CallList.table(calls), CallList.csv(calls), CallList.json(calls))
        return calls
    }

    /// A pcap (Linux cooked) whose 200 OK has a microseconds field of 3,907,378 (over a second), which stamps it
    /// after the BYE: the call's duration (BYE minus answer) is negative, and formatting it for the table trapped
    /// (a negative count for the zero padding).
    @Test func negativeDurationIsFormatted() throws {
        let capture = Data(base64Encoded: [
            "1MOyoQIABAAAAAAAAAAAAAAABABxAAAA+mwOa8+ZBQAwAgAAMAIAAAAAAwQABgAAAAAAAAAACABFAAIga+ZAAEARzkN/AABRfwAA",
            "UjrjOuICDADBSU5WSVRFIHNpcDpjYXJvbEAxMjcuMC4wLjgyOjE1MDc0IFNJUC8yLjANClZpYTogU0lQLzIuMC9VRFAgMTI3LjAu",
            "MC44MToxNTA3NTticmFuY2g9ejloRzRiSy0yNzEzNy0xLTANCkZyb206IHNpcHAgPHNpcDpzaXBwQDEyNy4wLjAuODE6MTUwNzU+",
            "O3RhZz0yNzEzN1NJUHBUYWcwMDENClRvOiBjYXJvbCA8c2lwOmNhcm9sQDEyNy4wLjAuODI6MTUwNzQ+DQpDYWxsLUlEOiAxLTI3",
            "MTM3QDEyNy4wLjAuODENCkNTZXE6IDEgSU5WSVRFDQpDb250YWN0OiBzaXA6c2lwcEAxMjcuMC4wLjgxOjE1MDc1DQpNYXgtRm9y",
            "d2FyZHM6IDcwDQpTdWJqZWN0OiD/////////B25jZSBUZXN0DQpDb250ZW50LVR5cGU6IGFwcGxpY2F0aW9uL3NkcA0KQ29udGVu",
            "dC1MZW5ndGg6ICAgMTMxDQoNCnY9MA0Kbz11c2VyMSA1MzY1NTc2NSAyMzUzNjg3NjM3IElOIElQNCAxMjcuMC4wLjgxDQpzPS0N",
            "CmM9SU4gSVA0IDEyNy4wLjAuODENCnQ9MCAwDQptPWF1ZGlvIDYwMDAgUlRQL3Q9VURQPg0KQ29udGVudC1MZW5ndGg6IDANCg0K",
            "+mwOazKfOwAHAgAABwIAAAAAAwQABgAAAAAAAAAACABFAAH32CtAAEARYid/AABSfwAAUTriOuMB4wCYU0lQLzIuMCAyMDAgT0sN",
            "ClZpYTogU0lQLzIuMC9VRFAgMTI3LjAuMC44MToxNTA3NTticmFuY2g9ejloRzRiSy0yNzEzNy0xLTANCkZyb206IHNpU2VxdWVu",
            "Y2VzaXBwQDEyNy4wLjAuODE6MTUwNzU+O3RhZz0yNzEzN1NJUHBUYWcwMDENClRvOiBjYXJvbCA8c2lwOmNhcm9sQDEyNy4wLjAu",
            "ODI6MTUwNzQ+O3RhZz0yNzEzNVNJUHBUYWcwMTENCkNhbGwtSUQ6IDEtMjcxMzdAMTI3LjAuMC44MQ0KQ1NlcTogMSBJTlZJVEUN",
            "CkNvbnRhY3Q6IDxzaXA6MTI3LjAuMC44MjoxNTA3NDt0cmFuc3BvcnQ9VURQPg0KQ29udGVudC1UeXBlOiBhcHBsaWNhdGlvbi9z",
            "ZHANCkNvbnRUANiCXOx7AABhbGwtSUQ6IDEtMjcxMzdAMTI3LjAuMC44MQ0KQ1NlcTogMSBBQ0sNCkNvbnRhY3Q6IHNpcDpzaXBw",
            "QDEyNy4wLjAuODE6MTUwNzUNCk1heC1Gb3J3YXJkczogNzANClN1YmplY3Q6IFBlcmZvcm1hbmNlIFRlc3QNCkNvbnRlbnQtTGVu",
            "Z3RoOiAwDQoNCvpsDmtYuAgAmAEAAJgBAAAAAAMEAAYAAAAAAAAAAAgARQABiGwVQABAEc6sfwAAUX8AAFI64zriAXQAKUJZRSBz",
            "aXA6Y2Fyb2xAMTI3LjAuMC44MjoxNTA3NCBTSVAvMi4wDQpWaWE6IFNJUC8yLjAvVURQIDEyNy4wLjAuODE6MTUwNzU7YnJhbmNo",
            "PXo5aEc0YkstMjcxMzctMS03DQpGcm9tOiBzaXBwIDxzaXA6c2lwcEAxMjcuMC4wLjgxOjE1MDc1Pjt0YWc9MjcxMzdTSVBwVGFn",
            "MDAxDQpUbzogY2Fyb2wgPHNpcDpjYXJvbEAxMjcuMC4wLjgyOjE1MDc0Pjt0YWc9MjcxMzVTSVBwVGFnMDExDQpDYWxsLUlEOiAx",
            "LTI3MTM3QDEyNy4wLjAuODENCkNTZXE6IDIgQllFDQpDb250YWN0OiBzaXA6c2lwcEAxMjcuMC4wLjgxOjE1MDc1DQpNYXgtRm9y",
            "d2FyZHM6IDcwDQpTdWJqZWN0OiBQZXJmb3JtYW5jZSBUZXN0DQpDb250RFA+DQpDb250aDogMA0KDQo=",
        ].joined())!
        let calls = try Self.listCalls(Array(capture), "negative-duration.pcap")
        #expect(calls.count == 1)
        let duration = try #require(calls.first?.duration)
        #expect(duration < 0)
        #expect(CaptureClock.seconds(duration) == "-3.336")
        #expect(CallList.table(calls).contains("  -3.336"))
    }

    @Test func durationFormatting() {
        #expect(CaptureClock.seconds(0) == "0.000")
        #expect(CaptureClock.seconds(12_345_000_000) == "12.345")
        #expect(CaptureClock.seconds(1_999_600) == "0.002")
        #expect(CaptureClock.seconds(-250_000_000) == "-0.250")
        #expect(CaptureClock.seconds(-1_500_000) == "-0.002")
        #expect(CaptureClock.seconds(-400_000) == "0.000")
        // Rounding no longer overflows at the ends of the range.
        #expect(CaptureClock.seconds(.max) == "9223372036.855")
        #expect(CaptureClock.seconds(.min) == "-9223372036.855")
    }
    // The pcapng timestamp the fuzzer found (high word 0xFFFFFFFF) is covered by AnalysisMutationTests.
}
