// Saturating: integer arithmetic that clamps instead of trapping, for numbers that come from users or files.
//
// Swift traps on integer overflow and on converting an out-of-range Double to an integer. A duration, size or
// timestamp read from a flag, a control request or a capture file must never stop the process: these helpers
// clamp to the type's bounds, and callers reject or tolerate the clamped value.

enum Saturating {
    /// `a * b`, clamped to `T.min...T.max`.
    static func multiply<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
        let (value, overflow) = a.multipliedReportingOverflow(by: b)
        guard overflow else { return value }
        return (a < 0) != (b < 0) ? T.min : T.max
    }

    /// `a + b`, clamped to `T.min...T.max`.
    static func add<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
        let (value, overflow) = a.addingReportingOverflow(b)
        guard overflow else { return value }
        return b < 0 ? T.min : T.max
    }

    /// `a - b`, clamped to `T.min...T.max`.
    static func subtract<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
        let (value, overflow) = a.subtractingReportingOverflow(b)
        guard overflow else { return value }
        return b < 0 ? T.max : T.min
    }

    /// A Double rounded toward zero into `Int64`, clamped; NaN becomes 0.
    static func int64(_ value: Double) -> Int64 {
        guard !value.isNaN else { return 0 }
        // 2^63 is exactly representable; Int64.max is not (it rounds up to 2^63).
        if value >= 9_223_372_036_854_775_808.0 { return .max }
        if value <= -9_223_372_036_854_775_808.0 { return .min }
        return Int64(value)
    }
}
