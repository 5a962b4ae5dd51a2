// DigestCredentials: the parameters of an Authorization or Proxy-Authorization header (RFC 3261 §22.4, §25.1
// `credentials`; RFC 7616 §3.4 for the auth-param syntax shared with HTTP).

/// One `Digest ...` credentials value.
public struct DigestCredentials: Sendable, Equatable {
    public var username: String
    public var realm: String
    public var nonce: String
    public var uri: String
    public var response: String
    /// `MD5` when absent (RFC 3261 §22.4), `SHA-256` per RFC 8760.
    public var algorithm: String?
    public var cnonce: String?
    /// `auth` or absent (RFC 2069 compatibility, no nonce count).
    public var qop: String?
    /// The nonce count, 8 hex digits (RFC 7616 §3.4: "nc").
    public var nc: String?
    public var opaque: String?

    /// Parses `Digest username="alice", realm="lab", ...`; nil when the scheme is not Digest or a mandatory
    /// parameter is missing. Quoted strings may hold commas and `\"` escapes (RFC 3261 §25.1 quoted-pair).
    public static func parse(_ value: String) -> DigestCredentials? {
        let trimmed = value.trimmingSIPWhitespace()
        guard trimmed.count > 7, trimmed.prefix(6).lowercased() == "digest",
            let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" })
        else { return nil }
        guard let params = Self.authParams(String(trimmed[space...])) else { return nil }
        guard let username = params["username"], let realm = params["realm"], let nonce = params["nonce"],
            let uri = params["uri"], let response = params["response"]
        else { return nil }
        return DigestCredentials(
            username: username, realm: realm, nonce: nonce, uri: uri, response: response,
            algorithm: params["algorithm"], cnonce: params["cnonce"], qop: params["qop"], nc: params["nc"],
            opaque: params["opaque"]
        )
    }

    /// `name=value` pairs separated by commas; names lower-cased; a repeated name makes the whole value invalid
    /// (RFC 7616 §3.4: each parameter at most once).
    public static func authParams(_ text: String) -> [String: String]? {
        var result: [String: String] = [:]
        let bytes = Array(text.utf8)
        var i = 0
        func skipSpace() { while i < bytes.count, bytes[i] == 32 || bytes[i] == 9 || bytes[i] == 13 || bytes[i] == 10 { i += 1 } }
        while true {
            skipSpace()
            while i < bytes.count, bytes[i] == UInt8(ascii: ",") { i += 1; skipSpace() }
            guard i < bytes.count else { break }
            let nameStart = i
            while i < bytes.count, bytes[i] != UInt8(ascii: "="), bytes[i] != UInt8(ascii: ","), bytes[i] != 32 { i += 1 }
            let name = String(decoding: bytes[nameStart..<i], as: UTF8.self).lowercased()
            skipSpace()
            guard !name.isEmpty, i < bytes.count, bytes[i] == UInt8(ascii: "=") else { return nil }
            i += 1
            skipSpace()
            var value: [UInt8] = []
            if i < bytes.count, bytes[i] == UInt8(ascii: "\"") {
                i += 1
                var closed = false
                while i < bytes.count {
                    if bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count {
                        value.append(bytes[i + 1])
                        i += 2
                        continue
                    }
                    if bytes[i] == UInt8(ascii: "\"") {
                        closed = true
                        i += 1
                        break
                    }
                    value.append(bytes[i])
                    i += 1
                }
                guard closed else { return nil }
            } else {
                while i < bytes.count, bytes[i] != UInt8(ascii: ","), bytes[i] != 32, bytes[i] != 9 {
                    value.append(bytes[i])
                    i += 1
                }
            }
            guard result[name] == nil else { return nil }
            result[name] = String(decoding: value, as: UTF8.self)
        }
        return result
    }
}
