// CaptureClock: UTC formatting and parsing of capture timestamps (no time zone database, no Foundation).

/// Formats and parses capture times. Always UTC, so output does not depend on the machine that renders it.
public enum CaptureClock {
    /// The latest time a capture may carry (about the year 2116). Times are clamped to `0...latest` when read, so
    /// the difference of any two (durations, deltas) fits in `Int64`: a pcapng timestamp is a 64-bit count of
    /// arbitrary units, and 0xFFFFFFFF in its high word overflowed the conversion to nanoseconds.
    public static let latest: CaptureTime = Int64.max / 2

    /// A record's `tv_sec` and sub-second part (nanoseconds when libpcap was asked for them) as a capture time,
    /// clamped to `0...latest`.
    public static func time(seconds: Int64, nanoseconds: Int64) -> CaptureTime {
        let whole = Saturating.multiply(seconds, 1_000_000_000)
        return min(Self.latest, max(0, Saturating.add(whole, nanoseconds)))
    }

    /// `2024-05-01 12:00:03.123456`
    public static func dateTime(_ time: CaptureTime) -> String {
        let (days, seconds, micros) = Self.split(time)
        let (y, m, d) = Self.civil(days)
        return "\(y)-\(Self.pad(m))-\(Self.pad(d)) " + Self.clock(seconds, micros)
    }

    /// `2024-05-01T12:00:03.123456Z` (RFC 3339, UTC), for JSON.
    public static func iso8601(_ time: CaptureTime) -> String {
        let (days, seconds, micros) = Self.split(time)
        let (y, m, d) = Self.civil(days)
        return "\(y)-\(Self.pad(m))-\(Self.pad(d))T" + Self.clock(seconds, micros) + "Z"
    }

    /// `12:00:03.123456`
    public static func timeOfDay(_ time: CaptureTime) -> String {
        let (_, seconds, micros) = Self.split(time)
        return Self.clock(seconds, micros)
    }

    /// `12:00:03.123`: the time of day to the millisecond, for pictures where six digits are noise. Truncated,
    /// not rounded, so it agrees with the digits `timeOfDay` prints and never rolls over into the next day.
    public static func timeOfDayMillis(_ time: CaptureTime) -> String {
        let (_, seconds, micros) = Self.split(time)
        return Self.clock(seconds, micros / 1000, digits: 3)
    }

    /// A duration in seconds with millisecond precision: `12.345`.
    /// Negative durations (a capture whose timestamps go backwards) keep their sign.
    public static func seconds(_ nanoseconds: Int64) -> String {
        // UInt64: the magnitude of Int64.min and the rounding term both fit.
        let millis = (nanoseconds.magnitude + 500_000) / 1_000_000
        let frac = String(millis % 1000)
        let sign = nanoseconds < 0 && millis > 0 ? "-" : ""
        return "\(sign)\(millis / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
    }

    /// A delta in the ladder margin: `+0.000123` (seconds, microseconds).
    public static func delta(_ nanoseconds: Int64) -> String {
        let micros = max(0, nanoseconds) / 1000
        return "+\(micros / 1_000_000)." + Self.fraction(Int(micros % 1_000_000), digits: 6)
    }

    /// A delta to the millisecond: `+0.001` (truncated, like `timeOfDayMillis`).
    public static func deltaMillis(_ nanoseconds: Int64) -> String {
        let millis = max(0, nanoseconds) / 1_000_000
        return "+\(millis / 1000)." + Self.fraction(Int(millis % 1000), digits: 3)
    }

    /// Parses `YYYY-MM-DD[ T]HH:MM[:SS[.frac]][Z]`, or seconds since the epoch (`1700000000.5`). UTC.
    public static func parse(_ text: String) -> CaptureTime? {
        let trimmed = text.hasSuffix("Z") ? String(text.dropLast()) : text
        if let seconds = Double(trimmed), !trimmed.contains("-") {
            // Double also reads `nan`, `inf` and `1e300`: only times a capture can hold are answers.
            guard seconds.isFinite, seconds >= 0, seconds * 1e9 <= Double(Self.latest) else { return nil }
            return CaptureTime(seconds * 1e9)
        }
        let parts = trimmed.split(whereSeparator: { $0 == " " || $0 == "T" })
        guard parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-").compactMap { Int($0) }
        let clock = parts[1].split(separator: ":")
        guard date.count == 3, clock.count >= 2, let h = Int(clock[0]), let mi = Int(clock[1]) else { return nil }
        let sec = clock.count > 2 ? Double(clock[2]) : 0
        guard let sec, sec.isFinite, (0..<61).contains(sec), (0..<24).contains(h), (0..<60).contains(mi),
            (1970...9999).contains(date[0]), (1...12).contains(date[1]), (1...31).contains(date[2])
        else { return nil }
        let days = Self.days(year: date[0], month: date[1], day: date[2])
        let whole = Int64(days) * 86_400 + Int64(h * 3600 + mi * 60)
        let (nanos, overflow) = whole.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        let time = Saturating.add(nanos, CaptureTime(sec * 1e9))
        return time <= Self.latest ? time : nil
    }

    private static func split(_ time: CaptureTime) -> (Int, Int, Int) {
        let micros = time / 1000
        let totalSeconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let days = totalSeconds >= 0 ? totalSeconds / 86_400 : (totalSeconds - 86_399) / 86_400
        return (Int(days), Int(totalSeconds - days * 86_400), Int(micros - totalSeconds * 1_000_000))
    }

    /// `HH:MM:SS.` and `fraction` (microseconds, or milliseconds with `digits: 3`).
    private static func clock(_ seconds: Int, _ fraction: Int, digits: Int = 6) -> String {
        "\(Self.pad(seconds / 3600)):\(Self.pad(seconds / 60 % 60)):\(Self.pad(seconds % 60))."
            + Self.fraction(fraction, digits: digits)
    }

    /// `value` with leading zeros to `digits` digits: `000123`.
    private static func fraction(_ value: Int, digits: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
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
