// SIPGrammar: character classes and small scanners of RFC 3261 §25.1, shared by the header grammars.

enum SIPGrammar {
    /// Whether `needle`'s bytes occur in `haystack` (a plain scan of the UTF-8 storage: both are header-sized). The proxy looks for its own
    /// markers in Via branches on every message; Foundation's `contains` bridges to NSString and the generic
    /// collection search is slower still.
    static func containsBytes(_ haystack: String, _ needle: String) -> Bool {
        guard !needle.isEmpty else { return true }
        var haystack = haystack
        var needle = needle
        return haystack.withUTF8 { h in
            needle.withUTF8 { n in
                guard n.count <= h.count else { return false }
                let first = n[0]
                var i = 0
                while i <= h.count - n.count {
                    if h[i] == first {
                        var j = 1
                        while j < n.count, h[i + j] == n[j] { j += 1 }
                        if j == n.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }

    /// token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")  (RFC 3261 §25.1)
    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "!"), UInt8(ascii: "%"), UInt8(ascii: "*"),
            UInt8(ascii: "_"), UInt8(ascii: "+"), UInt8(ascii: "`"), UInt8(ascii: "'"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func isToken<S: StringProtocol>(_ s: S) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy(isTokenChar)
    }

    /// word = 1*(token chars / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")
    /// (RFC 3261 §25.1, used by Call-ID).
    static func isWordChar(_ c: UInt8) -> Bool {
        if isTokenChar(c) { return true }
        switch c {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: ":"),
            UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "/"), UInt8(ascii: "["), UInt8(ascii: "]"),
            UInt8(ascii: "?"), UInt8(ascii: "{"), UInt8(ascii: "}"):
            return true
        default:
            return false
        }
    }

    static func isDigits<S: StringProtocol>(_ s: S) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// Parses 1*DIGIT into a value no larger than `limit`; leading zeros are allowed (RFC 4475 §3.1.1.1).
    static func parseNumber<S: StringProtocol>(_ s: S, limit: UInt64 = UInt64(UInt32.max)) -> UInt64? {
        guard isDigits(s) else { return nil }
        var value: UInt64 = 0
        for c in s.utf8 {
            // Checked arithmetic: a caller may pass any limit up to UInt64.max, and bad input must never trap.
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(c &- UInt8(ascii: "0")))
            guard !o1, !o2, sum <= limit else { return nil }
            value = sum
        }
        return value
    }

    /// Splits `s` at `separator` outside quoted strings (with `\` escapes) and `<...>`.
    static func splitOutsideQuotes(_ s: Substring, separator: Character) -> [Substring] {
        var parts: [Substring] = []
        var inQuotes = false
        var escaped = false
        var angle = 0
        // Bytes, not Characters: a combining mark after a delimiter would otherwise merge with it and hide it, and
        // every delimiter is ASCII, which no byte of a multi-byte UTF-8 sequence equals.
        let sep = separator.asciiValue ?? UInt8(ascii: ";")
        let u = s.utf8
        var start = u.startIndex
        var i = u.startIndex
        while i != u.endIndex {
            let ch = u[i]
            if inQuotes {
                if escaped {
                    escaped = false
                } else if ch == UInt8(ascii: "\\") {
                    escaped = true
                } else if ch == UInt8(ascii: "\"") {
                    inQuotes = false
                }
            } else if ch == UInt8(ascii: "\"") {
                inQuotes = true
            } else if ch == UInt8(ascii: "<") {
                angle += 1
            } else if ch == UInt8(ascii: ">") {
                angle = max(0, angle - 1)
            } else if ch == sep && angle == 0 {
                parts.append(s[start..<i])
                start = u.index(after: i)
            }
            i = u.index(after: i)
        }
        parts.append(s[start..<s.endIndex])
        return parts
    }

    /// Whether a quoted string starting at the first character is balanced (RFC 3261 §25.1 quoted-string).
    /// Returns the index just past the closing quote.
    static func endOfQuotedString(_ s: Substring) -> Substring.Index? {
        let scalars = s.unicodeScalars
        guard scalars.first == "\"" else { return nil }
        var i = scalars.index(after: scalars.startIndex)
        var escaped = false
        while i < scalars.endIndex {
            let ch = scalars[i]
            if escaped {
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else if ch == "\"" {
                return scalars.index(after: i)
            }
            i = scalars.index(after: i)
        }
        return nil
    }

    /// Whether a host is a valid hostname, IPv4address or IPv6reference (RFC 3261 §25.1, RFC 5118 §4.10
    /// tolerates the three-colon form).
    static func isValidHost<S: StringProtocol>(_ host: S) -> Bool {
        let u = host.utf8
        guard let first = u.first else { return false }
        if first == UInt8(ascii: "[") {
            // [IPv6] : hex digits, ":" and "." (an embedded IPv4) between the brackets.
            var count = 0
            var sawColon = false
            var last: UInt8 = 0
            for (i, c) in u.enumerated() {
                count += 1
                last = c
                if i == 0 { continue }
                if c == UInt8(ascii: "]") { continue }
                if c == UInt8(ascii: ":") { sawColon = true; continue }
                guard c == UInt8(ascii: ".") || isHexDigit(c) else { return false }
            }
            // Only the last octet may be "]".
            let closing = u.filter { $0 == UInt8(ascii: "]") }.count
            return last == UInt8(ascii: "]") && closing == 1 && count > 2 && sawColon
        }
        // hostname / IPv4address: alphanum, "-" and "." (a trailing "." is allowed).
        return u.allSatisfy { c in
            c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || isAlphaNum(c) || c == UInt8(ascii: "_")
        }
    }

    static func isAlphaNum(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }

    static func isHexDigit(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
            || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
    }

    /// Splits `host[:port]` where host may be a bracketed IPv6 reference. Returns nil when malformed.
    static func splitHostPort(_ s: Substring) -> (host: String, port: Int?)? {
        var host: Substring
        var portPart: Substring?
        if s.utf8.first == UInt8(ascii: "[") {
            guard let close = s.utf8.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            host = s[s.startIndex...close]
            let rest = s[s.utf8.index(after: close)...]
            if !rest.isEmpty {
                guard rest.utf8.first == UInt8(ascii: ":") else { return nil }
                portPart = rest.dropFirst()
            }
        } else if let colon = s.utf8.firstIndex(of: UInt8(ascii: ":")) {
            host = s[..<colon]
            portPart = s[s.utf8.index(after: colon)...]
        } else {
            host = s
        }
        guard isValidHost(host) else { return nil }
        var port: Int?
        if let portPart {
            guard let value = parseNumber(portPart, limit: 65535), value > 0 else { return nil }
            port = Int(value)
        }
        return (String(host), port)
    }
}
