// DurationText: durations as users write them (`1h`, `30m`, `90s`, `3600`), for `--duration` and `trace.duration`.

/// Parses a positive number of seconds. Values too large for `Int` saturate to `Int.max` instead of trapping
/// (`9300000000000h` once overflowed), so the settings' validation answers "duration too long".
public enum DurationText {
    /// nil for text that is not a positive duration.
    public static func parse(_ text: String) -> Int? {
        let t = text.trimmingSIPWhitespace().lowercased()
        let units: [(String, Int)] = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            guard let n = Self.positiveInteger(String(t.dropLast(suffix.count))) else { return nil }
            return Saturating.multiply(n, factor)
        }
        return Self.positiveInteger(t)
    }

    /// A positive decimal integer (ASCII digits only), `Int.max` when it has too many digits; nil otherwise.
    static func positiveInteger(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        let value = Int(text) ?? Int.max
        return value > 0 ? value : nil
    }
}
