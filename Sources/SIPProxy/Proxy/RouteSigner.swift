// RouteSigner: the proxy's Record-Route carries a tag bound to the dialog's Call-ID, so an in-dialog request that
// follows the proxy's own Route can be told from one that merely names the proxy in a forged Route header.
//
// With `--relay local`, an in-dialog request that follows the proxy's Route may go to any next hop (RFC 3261
// §16.12: the route set was agreed when the dialog was made). Without a check, anyone could write
// `Route: <sip:proxy;lr>` and a To tag and have the proxy relay to any host. The tag is an HMAC-SHA256 of the
// Call-ID under a key made at start, in the Record-Route URI as `;sptag=` (RFC 3261 §16.6 step 4 lets the proxy
// put what it wants in its own URI; phones copy it back verbatim, §12.1.1). Kamailio's rr module adds `ftag` and
// `did` parameters the same way.

import Crypto

struct RouteSigner: Sendable {
    static let parameter = "sptag"
    /// HMAC-SHA256 with the key already absorbed (its inner and outer pads hashed once, at start): each tag then
    /// costs the Call-ID's blocks only. The key is random per process.
    private let keyed: KeyedMAC

    /// `@unchecked Sendable`: swift-crypto's HMAC is a value whose hash state is copied on write; the signer only
    /// ever copies it and mutates the copy.
    private struct KeyedMAC: @unchecked Sendable {
        let mac: HMAC<SHA256>
    }

    init(secret: [UInt8]? = nil) {
        var random = SystemRandomNumberGenerator()
        let secret = secret ?? (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        self.keyed = KeyedMAC(mac: HMAC<SHA256>(key: SymmetricKey(data: secret)))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// 16 hex digits (64 bits) of HMAC-SHA256(key, Call-ID): enough that guessing one takes 2^63 tries.
    func tag(callID: String) -> String {
        var mac = self.keyed.mac
        var callID = callID
        callID.withUTF8 { mac.update(data: UnsafeRawBufferPointer($0)) }
        let code = mac.finalize()
        return String(unsafeUninitializedCapacity: 16) { out in
            var i = 0
            for byte in code.prefix(8) {
                out[i] = Self.hexDigits[Int(byte >> 4)]
                out[i + 1] = Self.hexDigits[Int(byte & 0x0F)]
                i += 2
            }
            return 16
        }
    }

    /// Whether `uri` (one of the proxy's own Route values) carries the tag of this Call-ID.
    func verifies(_ uri: SIPURI, callID: String) -> Bool {
        guard let tag = uri.parameters[Self.parameter], tag.utf8.count == 16 else { return false }
        // Compared in constant time, like the digest nonces.
        let expected = Array(self.tag(callID: callID).utf8)
        var difference: UInt8 = 0
        for (a, b) in zip(expected, tag.lowercased().utf8) { difference |= a ^ b }
        return difference == 0
    }
}
