// CaptureClock: UTC formatting and parsing of capture timestamps (no time zone database, no Foundation).

/// Formats and parses capture times. Always UTC, so output does not depend on the machine that renders it.
public enum CaptureClock {
    /// `2024-05-01 12:00:03.123456`
    public static func dateTime(_ time: CaptureTime) -> String {
        let (days, seconds, micros) = Self.split(time)
        let (y, m, d) = Self.civil(days)
        return "\(y)-\(Self.pad(m))-\(Self.pad(d)) " + Self.clock(seconds, micros)
    }

    /// `12:00:03.123456`
    public static func timeOfDay(_ time: CaptureTime) -> String {
        let (_, seconds, micros) = Self.split(time)
        return Self.clock(seconds, micros)
    }

    /// A duration in seconds with millisecond precision: `12.345`. Negative when the capture's clock went back
    /// (`-0.250`: a BYE stamped before the 200 it ends); computed on the magnitude, so no value can overflow.
    public static func seconds(_ nanoseconds: Int64) -> String {
        let millis = (nanoseconds.magnitude + 500_000) / 1_000_000
        let frac = String(millis % 1000)
        let sign = nanoseconds < 0 && millis > 0 ? "-" : ""
        return sign + "\(millis / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
    }

    /// A delta in the ladder margin: `+0.000123` (seconds, microseconds).
    public static func delta(_ nanoseconds: Int64) -> String {
        let micros = max(0, nanoseconds) / 1000
        let frac = String(micros % 1_000_000)
        return "+\(micros / 1_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
    }

    /// Parses `YYYY-MM-DD[ T]HH:MM[:SS[.frac]][Z]`, or seconds since the epoch (`1700000000.5`). UTC.
    public static func parse(_ text: String) -> CaptureTime? {
        let trimmed = text.hasSuffix("Z") ? String(text.dropLast()) : text
        if let seconds = Double(trimmed), !trimmed.contains("-") {
            return CaptureTime(seconds * 1e9)
        }
        let parts = trimmed.split(whereSeparator: { $0 == " " || $0 == "T" })
        guard parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-").compactMap { Int($0) }
        let clock = parts[1].split(separator: ":")
        guard date.count == 3, clock.count >= 2, let h = Int(clock[0]), let mi = Int(clock[1]) else { return nil }
        let sec = clock.count > 2 ? Double(clock[2]) : 0
        guard let sec, (1...12).contains(date[1]), (1...31).contains(date[2]) else { return nil }
        let days = Self.days(year: date[0], month: date[1], day: date[2])
        let whole = Int64(days) * 86_400 + Int64(h * 3600 + mi * 60)
        return whole * 1_000_000_000 + CaptureTime(sec * 1e9)
    }

    private static func split(_ time: CaptureTime) -> (Int, Int, Int) {
        let micros = time / 1000
        let totalSeconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let days = totalSeconds >= 0 ? totalSeconds / 86_400 : (totalSeconds - 86_399) / 86_400
        return (Int(days), Int(totalSeconds - days * 86_400), Int(micros - totalSeconds * 1_000_000))
    }

    private static func clock(_ seconds: Int, _ micros: Int) -> String {
        let frac = String(micros)
        return "\(Self.pad(seconds / 3600)):\(Self.pad(seconds / 60 % 60)):\(Self.pad(seconds % 60))."
            + String(repeating: "0", count: 6 - frac.count) + frac
    }

    private static func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    static func civil(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
