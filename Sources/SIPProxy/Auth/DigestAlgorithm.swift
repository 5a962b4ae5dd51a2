// DigestAlgorithm: the hash functions of SIP digest authentication (RFC 3261 §22.4 MD5, RFC 8760 SHA-256),
// from swift-crypto.

import Crypto

/// A digest algorithm as named in the `algorithm` parameter.
public enum DigestAlgorithm: String, Sendable, CaseIterable {
    case sha256 = "SHA-256"
    case md5 = "MD5"

    /// The algorithm a credentials value names; MD5 when absent (RFC 3261 §22.4). Nil for one the proxy does not
    /// offer (SHA-512-256, the `-sess` variants).
    public init?(parameter: String?) {
        guard let parameter else {
            self = .md5
            return
        }
        switch parameter.uppercased() {
        case "MD5": self = .md5
        case "SHA-256": self = .sha256
        default: return nil
        }
    }

    /// Lower-case hex of the hash of `text` (RFC 7616 §3.4.1: the KD and H functions produce hex strings).
    public func hash(_ text: String) -> String {
        let data = Array(text.utf8)
        switch self {
        case .md5: return Self.hex(Insecure.MD5.hash(data: data))
        case .sha256: return Self.hex(SHA256.hash(data: data))
        }
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The expected `response` (RFC 7616 §3.4.1; RFC 3261 §22.4 uses RFC 2617's): with qop=auth
    /// H(HA1:nonce:nc:cnonce:qop:HA2), without qop H(HA1:nonce:HA2), where HA1 = H(user:realm:password) and
    /// HA2 = H(method:uri).
    public func response(
        username: String, realm: String, password: String, method: String, uri: String, nonce: String,
        nc: String?, cnonce: String?, qop: String?
    ) -> String {
        let ha1 = self.hash("\(username):\(realm):\(password)")
        let ha2 = self.hash("\(method):\(uri)")
        if let qop, let nc, let cnonce {
            return self.hash("\(ha1):\(nonce):\(nc):\(cnonce):\(qop):\(ha2)")
        }
        return self.hash("\(ha1):\(nonce):\(ha2)")
    }
}
