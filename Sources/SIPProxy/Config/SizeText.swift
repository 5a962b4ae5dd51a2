// SizeText: sizes as users write them (`10MB`, `500k`, `2G`, `1048576`), for `--max-size` and `trace.max_size`.

/// Parses a positive size in octets. Values too large for `Int` saturate to `Int.max` instead of trapping, so the
/// settings' validation can answer "too large" (see `TraceSettings.validate`) rather than the process crashing.
public enum SizeText {
    /// nil for text that is not a positive size (`0`, `-1k`, `ten`, `nanmb`).
    public static func parse(_ text: String) -> Int? {
        let t = text.trimmingSIPWhitespace().lowercased()
        let units: [(String, Int)] = [
            ("gb", 1 << 30), ("g", 1 << 30), ("mb", 1_000_000), ("m", 1_000_000), ("kb", 1000), ("k", 1000),
            ("b", 1),
        ]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            // Double accepts `inf`, `nan` and exponents: only finite positive numbers count.
            guard let n = Double(t.dropLast(suffix.count)), n.isFinite, n > 0 else { return nil }
            let octets = Saturating.int64(n * Double(factor))
            return octets < 1 ? nil : Int(octets)
        }
        return DurationText.positiveInteger(t)
    }
}
