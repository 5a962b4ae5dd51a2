import Foundation

/// A strict reader of the Prometheus text exposition format (0.0.4): `# HELP` and `# TYPE` lines, samples with
/// escaped label values, one family's lines together, histograms whole (cumulative buckets ending in `+Inf` equal to
/// `_count`). Anything else is an error naming the line, so a test fails on output a Prometheus server would refuse.
struct PrometheusText {
    struct Sample: CustomStringConvertible {
        var name: String
        var labels: [String: String]
        var value: Double
        var description: String {
            "\(self.name){\(self.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ","))} \(self.value)"
        }
    }

    private(set) var samples: [Sample] = []
    private(set) var types: [String: String] = [:]
    private(set) var help: [String: String] = [:]

    init(_ text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else { throw TestSupportError("the exposition does not end with a newline") }
        var finished = Set<String>()  // families whose lines are over
        var current: String?
        var seen = Set<String>()
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let line = String(raw)
            func fail(_ why: String) -> TestSupportError { TestSupportError("line \(n + 1): \(why): \(line)") }
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
                guard parts.count >= 3, parts[0] == "#", parts[1] == "HELP" || parts[1] == "TYPE" else { continue }
                let name = parts[2]
                guard Self.isMetricName(name) else { throw fail("bad metric name") }
                if current != name {
                    if let current { finished.insert(current) }
                    guard !finished.contains(name) else { throw fail("\(name) appears in two places") }
                    current = name
                }
                if parts[1] == "TYPE" {
                    guard self.types[name] == nil else { throw fail("second TYPE for \(name)") }
                    let type = parts.count > 3 ? parts[3] : ""
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(type) else { throw fail("bad type") }
                    self.types[name] = type
                } else {
                    guard self.help[name] == nil else { throw fail("second HELP for \(name)") }
                    self.help[name] = try Self.unescape(parts.count > 3 ? parts[3] : "", quotes: false)
                }
                continue
            }
            let sample = try Self.sample(line, fail)
            let family = Self.family(of: sample.name, types: self.types)
            if current != family {
                if let current { finished.insert(current) }
                guard !finished.contains(family) else { throw fail("\(family) appears in two places") }
                current = family
            }
            guard seen.insert(sample.description).inserted else { throw fail("duplicate series") }
            self.samples.append(sample)
        }
        try self.checkHistograms()
    }

    /// The value of the one sample named `name` with exactly these labels, nil when absent.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        self.samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// Samples named `name` whatever their labels.
    func all(_ name: String) -> [Sample] { self.samples.filter { $0.name == name } }

    private static func family(of name: String, types: [String: String]) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" || types[base] == "summary" { return base }
        }
        return name
    }

    private func checkHistograms() throws {
        for (name, type) in self.types where type == "histogram" {
            var series: [String: [(Double, Double)]] = [:]
            for s in self.all(name + "_bucket") {
                guard let le = s.labels["le"] else { throw TestSupportError("\(name)_bucket without le") }
                var key = s.labels
                key["le"] = nil
                series[key.sorted { $0.key < $1.key }.description, default: []].append((le == "+Inf" ? .infinity : Double(le) ?? .nan, s.value))
            }
            for (key, buckets) in series {
                guard buckets.map(\.0) == buckets.map(\.0).sorted(), buckets.last?.0 == .infinity else {
                    throw TestSupportError("\(name)\(key): buckets out of order or no +Inf")
                }
                guard buckets.map(\.1) == buckets.map(\.1).sorted() else { throw TestSupportError("\(name)\(key): not cumulative") }
                let count = self.all(name + "_count").first { $0.labels.sorted { $0.key < $1.key }.description == key }?.value
                guard count == buckets.last?.1 else { throw TestSupportError("\(name)\(key): +Inf bucket != _count") }
            }
        }
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    static func isMetricName(_ s: String) -> Bool {
        func letter(_ c: UInt8) -> Bool { (65...90).contains(c) || (97...122).contains(c) || c == 95 || c == 58 }
        let bytes = Array(s.utf8)
        guard let first = bytes.first, letter(first) else { return false }
        return bytes.allSatisfy { letter($0) || (48...57).contains($0) }
    }

    private static func sample(_ line: String, _ fail: (String) -> TestSupportError) throws -> Sample {
        var chars = Substring(line)
        let nameEnd = chars.firstIndex { $0 == "{" || $0 == " " } ?? chars.endIndex
        let name = String(chars[..<nameEnd])
        guard isMetricName(name) else { throw fail("bad metric name") }
        chars = chars[nameEnd...]
        var labels: [String: String] = [:]
        if chars.first == "{" {
            chars = chars.dropFirst()
            while chars.first != "}" {
                guard let eq = chars.firstIndex(of: "=") else { throw fail("label without =") }
                let label = String(chars[..<eq])
                guard isMetricName(label), !label.contains(":") else { throw fail("bad label name '\(label)'") }
                chars = chars[chars.index(after: eq)...]
                guard chars.first == "\"" else { throw fail("label value not quoted") }
                chars = chars.dropFirst()
                var value = ""
                while true {
                    guard let c = chars.first else { throw fail("unterminated label value") }
                    chars = chars.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        guard let e = chars.first else { throw fail("dangling escape") }
                        chars = chars.dropFirst()
                        switch e {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw fail("bad escape \\\(e)")
                        }
                    } else {
                        value.append(c)
                    }
                }
                guard labels.updateValue(value, forKey: label) == nil else { throw fail("label \(label) twice") }
                if chars.first == "," { chars = chars.dropFirst() } else if chars.first != "}" { throw fail("expected , or }") }
            }
            chars = chars.dropFirst()
        }
        guard chars.first == " " else { throw fail("no space before the value") }
        let fields = chars.dropFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard (1...2).contains(fields.count), fields.count == 1 || Int64(fields[1]) != nil else { throw fail("bad value/timestamp") }
        let text = String(fields[0])
        let value: Double
        switch text {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let v = Double(text) else { throw fail("bad value '\(text)'") }
            value = v
        }
        return Sample(name: name, labels: labels, value: value)
    }

    private static func unescape(_ s: String, quotes: Bool) throws -> String {
        var out = ""
        var escaped = false
        for c in s {
            if escaped {
                switch c {
                case "\\": out.append("\\")
                case "n": out.append("\n")
                case "\"" where quotes: out.append("\"")
                default: throw TestSupportError("bad escape in HELP: \\\(c)")
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }
}

/// A minimal HTTP/1.1 GET over a plain TCP socket (Connection: close): status code and body.
func httpGet(_ ip: String, _ port: Int, _ path: String, from source: String = "127.0.0.11") throws -> (status: Int, headers: String, body: String) {
    let socket = try RawSocket(tcpFrom: source, to: ip, port: port)
    guard socket.write(Array("GET \(path) HTTP/1.1\r\nHost: \(ip):\(port)\r\nConnection: close\r\n\r\n".utf8)) else {
        throw TestSupportError("cannot send the request to \(ip):\(port)")
    }
    let (messages, _) = socket.receive(timeout: 10) { !$0.isEmpty }
    guard let response = messages.first, let end = response.range(of: "\r\n\r\n") else {
        throw TestSupportError("no HTTP response from \(ip):\(port)\(path)")
    }
    let head = String(response[..<end.lowerBound])
    let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    return (status, head, String(response[end.upperBound...]))
}
