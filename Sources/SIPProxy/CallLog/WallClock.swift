// WallClock: wall-clock time in microseconds since the Unix epoch, and its ISO 8601 form.
//
// The tracker never reads a clock: every observation carries one of these, so tests pass fixed times. ISO 8601
// strings are written with milliseconds and the zone offset of the given time zone (`2026-12-01T10:33:18.412+01:00`),
// formatted by hand so the output does not depend on the platform's date formatter.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point in wall-clock time: microseconds since 1970-01-01T00:00:00Z. Encoded as a bare integer.
public struct WallClock: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    /// Seconds since the epoch (fractions allowed); clamped to the range of `Int64` microseconds (never traps).
    public init(seconds: Double) {
        self.microseconds = Saturating.int64((seconds * 1_000_000).rounded())
    }

    /// The system's real-time clock.
    public static func now() -> WallClock {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return WallClock(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }

    public init(from decoder: Decoder) throws {
        self.microseconds = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.microseconds)
    }

    public static func < (lhs: WallClock, rhs: WallClock) -> Bool { lhs.microseconds < rhs.microseconds }

    public var date: Date { Date(timeIntervalSince1970: Double(self.microseconds) / 1_000_000) }

    /// Saturating: an age such as `sipctl calls --since 99999999999999d` gives the earliest time, not a trap.
    public func adding(seconds: Double) -> WallClock {
        WallClock(microseconds: Saturating.add(self.microseconds, Saturating.int64((seconds * 1_000_000).rounded())))
    }

    /// `self - other` in seconds, rounded to the millisecond (saturating: times read from a journal are any Int64).
    public func seconds(since other: WallClock) -> Double {
        Double(Saturating.subtract(self.microseconds, other.microseconds) / 1000) / 1000
    }

    public var description: String { self.iso8601(in: TimeZone(secondsFromGMT: 0)!) }

    // MARK: Calendar arithmetic (proleptic Gregorian, H. Hinnant's days_from_civil / civil_from_days)

    /// Local calendar fields of an instant.
    public struct Fields: Sendable, Equatable {
        public var year: Int
        public var month: Int
        public var day: Int
        public var hour: Int
        public var minute: Int
        public var second: Int
        public var millisecond: Int
        /// Offset from UTC in seconds at that instant.
        public var offset: Int
    }

    public func fields(in timeZone: TimeZone) -> Fields {
        let offset = timeZone.secondsFromGMT(for: self.date)
        // Clamped to ±2^62 µs (±146,000 years): the floor divisions below cannot overflow at Int64's very ends.
        let micros = min(1 << 62, max(-(1 << 62), Saturating.add(self.microseconds, Int64(offset) * 1_000_000)))
        let secs = Self.floorDiv(micros, 1_000_000)
        let millis = Int(Self.floorDiv(micros - secs * 1_000_000, 1000))
        let days = Self.floorDiv(secs, 86_400)
        let secOfDay = Int(secs - days * 86_400)
        let (y, m, d) = Self.civil(fromDays: days)
        return Fields(
            year: y, month: m, day: d, hour: secOfDay / 3600, minute: secOfDay / 60 % 60, second: secOfDay % 60,
            millisecond: millis, offset: offset
        )
    }

    /// `2026-12-01T10:33:18.412+01:00` (`Z` is never used: the offset is always explicit).
    public func iso8601(in timeZone: TimeZone) -> String {
        let f = self.fields(in: timeZone)
        let sign = f.offset < 0 ? "-" : "+"
        let off = abs(f.offset) / 60
        return "\(Self.pad(f.year, 4))-\(Self.pad(f.month))-\(Self.pad(f.day))T\(Self.pad(f.hour)):"
            + "\(Self.pad(f.minute)):\(Self.pad(f.second)).\(Self.pad(f.millisecond, 3))"
            + "\(sign)\(Self.pad(off / 60)):\(Self.pad(off % 60))"
    }

    /// `HH:MM:SS` in the given time zone (the text log).
    public func timeOfDay(in timeZone: TimeZone) -> String {
        let f = self.fields(in: timeZone)
        return "\(Self.pad(f.hour)):\(Self.pad(f.minute)):\(Self.pad(f.second))"
    }

    /// `YYYY-MM-DD HH:MM:SS` in the given time zone (tables).
    public func dateTime(in timeZone: TimeZone) -> String {
        let f = self.fields(in: timeZone)
        return "\(Self.pad(f.year, 4))-\(Self.pad(f.month))-\(Self.pad(f.day)) \(self.timeOfDay(in: timeZone))"
    }

    /// The instant of a local date and time in a time zone (the offset is looked up for that instant, twice,
    /// so times next to a DST change resolve to one of the two candidates).
    public static func local(
        year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, millisecond: Int = 0,
        in timeZone: TimeZone
    ) -> WallClock {
        let days = Self.days(fromCivil: year, month, day)
        let localMicros =
            (days * 86_400 + Int64(hour * 3600 + minute * 60 + second)) * 1_000_000 + Int64(millisecond) * 1000
        var guess = WallClock(microseconds: localMicros)
        for _ in 0..<2 {
            let offset = timeZone.secondsFromGMT(for: guess.date)
            guess = WallClock(microseconds: localMicros - Int64(offset) * 1_000_000)
        }
        return guess
    }

    /// Parses `YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM|±HHMM)` (or with a space instead of `T`); without an offset
    /// the time is local to `timeZone`. A bare `YYYY-MM-DD` is midnight local time.
    public static func parseISO8601(_ text: String, timeZone: TimeZone) -> WallClock? {
        let s = Array(text.utf8)
        var i = 0
        func number(_ count: Int) -> Int? {
            guard i + count <= s.count else { return nil }
            var v = 0
            for k in i..<(i + count) {
                guard s[k] >= 0x30 && s[k] <= 0x39 else { return nil }
                v = v * 10 + Int(s[k] - 0x30)
            }
            i += count
            return v
        }
        func expect(_ c: Character) -> Bool {
            guard i < s.count, s[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        if i == s.count { return local(year: year, month: month, day: day, in: timeZone) }
        guard expect("T") || expect(" "), let hour = number(2), expect(":"), let minute = number(2), hour < 24,
            minute < 60
        else { return nil }
        var second = 0
        var micros = 0
        if expect(":") {
            guard let sec = number(2), sec < 61 else { return nil }
            second = sec
            if expect(".") {
                var digits = 0
                while i < s.count, s[i] >= 0x30 && s[i] <= 0x39 {
                    if digits < 6 { micros = micros * 10 + Int(s[i] - 0x30) }
                    digits += 1
                    i += 1
                }
                guard digits > 0 else { return nil }
                while digits < 6 {
                    micros *= 10
                    digits += 1
                }
            }
        }
        let localDays = Self.days(fromCivil: year, month, day)
        let localMicros =
            (localDays * 86_400 + Int64(hour * 3600 + minute * 60 + second)) * 1_000_000 + Int64(micros)
        if i == s.count {
            let base = local(
                year: year, month: month, day: day, hour: hour, minute: minute, second: second, in: timeZone
            )
            return WallClock(microseconds: base.microseconds + Int64(micros))
        }
        var offset = 0
        if expect("Z") || expect("z") {
            offset = 0
        } else {
            let negative: Bool
            if expect("+") {
                negative = false
            } else if expect("-") {
                negative = true
            } else {
                return nil
            }
            guard let oh = number(2) else { return nil }
            _ = expect(":")
            guard let om = number(2), oh < 24, om < 60 else { return nil }
            offset = (oh * 3600 + om * 60) * (negative ? -1 : 1)
        }
        guard i == s.count else { return nil }
        return WallClock(microseconds: localMicros - Int64(offset) * 1_000_000)
    }

    /// The UTC offset (seconds) written at the end of an ISO 8601 string, nil when there is none.
    static func offset(ofISO8601 text: String) -> Int? {
        if text.hasSuffix("Z") { return 0 }
        guard text.count >= 6 else { return nil }
        let tail = Array(text.suffix(6))
        guard tail[0] == "+" || tail[0] == "-", tail[3] == ":",
            let h = Int(String(tail[1...2])), let m = Int(String(tail[4...5]))
        else { return nil }
        return (h * 3600 + m * 60) * (tail[0] == "-" ? -1 : 1)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func pad(_ value: Int, _ width: Int = 2) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int64) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(y + (m <= 2 ? 1 : 0)), Int(m), Int(d))
    }
}
