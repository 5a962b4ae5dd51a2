// TerminalText: text from the wire made safe for a terminal or a log line. A peer's header value, URI or file name
// may carry CR, LF, ESC or C1 controls that would forge log lines or drive the terminal; they are written as
// escapes instead. Dependency-free, so the fuzz harnesses and the analysis layer can use it.

/// Escaping of control characters.
public enum TerminalText {
    /// `text` with C0 controls, DEL and C1 controls written as escapes; everything else unchanged. C1 controls
    /// (U+0080-U+009F) are escaped too: some terminals act on U+009B as CSI, like ESC [.
    public static func escaped(_ text: String) -> String {
        // Fast path: almost every line is plain text.
        // On UTF-8: C0 and DEL are single bytes, C1 (U+0080-U+009F) starts with 0xC2.
        // A native string's bytes are scanned in one tight loop (the generic `contains(where:)` over the UTF-8
        // view cost about 1 % of the CPU per call at info level, where every SIP message logs a line).
        let plain =
            text.utf8.withContiguousStorageIfAvailable { bytes in
                var suspicious = false
                for byte in bytes { suspicious = suspicious || byte < 0x20 || byte == 0x7F || byte == 0xC2 }
                return !suspicious
            } ?? !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0xC2 })
        guard !plain else { return text }
        guard text.unicodeScalars.contains(where: Self.needsEscape) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard Self.needsEscape(scalar) else {
                out.append(scalar)
                continue
            }
            let escape: String
            switch scalar.value {
            case 0x0A: escape = "\\n"
            case 0x0D: escape = "\\r"
            case 0x09: escape = "\\t"
            case 0x1B: escape = "\\e"
            default:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                escape = "\\x" + (hex.count < 2 ? "0" + hex : hex)
            }
            out.append(contentsOf: escape.unicodeScalars)
        }
        return String(out)
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
