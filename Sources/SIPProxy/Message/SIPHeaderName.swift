// SIPHeaderName: the header names phones write, recognised from the received bytes without making a String.
//
// Every header line of every message needs its name as a String and its lookup key (RFC 3261 §7.3.3: lower-cased
// long form). Decoding the name and hashing it into a dictionary cost an allocation or a hash per line; the names
// SIP traffic uses are few, so a table bucketed by length, compared byte for byte, hands back shared (static)
// strings for them. Anything else falls back to decoding (`SIPHeaders.canonicalKey`).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum SIPHeaderName {
    struct Entry {
        let bytes: [UInt8]
        let name: String
        let key: String
    }

    /// Names in the spellings seen on the wire (as written, lower-case, and common variants), compact forms too.
    private static let spellings: [String] = [
        "Via", "From", "To", "Call-ID", "Call-Id", "CSeq", "Cseq", "Contact", "Max-Forwards", "Content-Length",
        "Content-Type", "Route", "Record-Route", "Expires", "User-Agent", "Allow", "Supported", "Subject", "Server",
        "Accept", "Date", "Event", "Require", "Proxy-Require", "Accept-Language", "Accept-Encoding", "Allow-Events",
        "Authorization", "Proxy-Authorization", "WWW-Authenticate", "Proxy-Authenticate", "Session-Expires",
        "Min-SE", "Min-Expires", "Refer-To", "Referred-By", "Replaces", "Reason", "P-Asserted-Identity",
        "Privacy", "Path", "Unsupported", "Content-Disposition", "Organization", "Warning", "Retry-After",
        "Subscription-State", "Timestamp", "Priority", "Diversion", "Remote-Party-ID", "X-Serialnumber",
    ]

    /// Entries by name length.
    private static let table: [[Entry]] = {
        var buckets = [[Entry]](repeating: [], count: 32)
        func add(_ spelling: String, key: String) {
            let bytes = Array(spelling.utf8)
            guard bytes.count < buckets.count, !buckets[bytes.count].contains(where: { $0.bytes == bytes }) else { return }
            buckets[bytes.count].append(Entry(bytes: bytes, name: spelling, key: key))
        }
        for spelling in Self.spellings {
            let key = spelling.lowercased()
            add(spelling, key: key)
            add(key, key: key)
        }
        for (short, long) in SIPHeaders.compactForms {
            add(short, key: long)
            add(short.uppercased(), key: long)
        }
        return buckets
    }()

    /// The shared name and key for a name written exactly as one of the table's spellings.
    static func lookup(_ name: UnsafeRawBufferPointer) -> (name: String, key: String)? {
        guard name.count > 0, name.count < Self.table.count else { return nil }
        for entry in Self.table[name.count] {
            let same = entry.bytes.withUnsafeBytes { known in
                memcmp(known.baseAddress!, name.baseAddress!, name.count) == 0
            }
            if same { return (entry.name, entry.key) }
        }
        return nil
    }
}
