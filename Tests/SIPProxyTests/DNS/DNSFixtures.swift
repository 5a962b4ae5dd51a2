// Hand-built DNS answers for the DNS tests: a small writer of RFC 1035 messages with optional name compression.

@testable import SIPProxy

/// Builds an answer message octet by octet, so tests control compression and truncation exactly.
struct DNSAnswerBuilder {
    var bytes: [UInt8] = []
    /// Offsets of names already written, for compression pointers.
    var offsets: [String: Int] = [:]
    var compress = true

    static func u16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
    static func u32(_ v: Int) -> [UInt8] { u16(v >> 16) + u16(v & 0xffff) }

    /// Writes `name`, pointing at an earlier copy of it or of one of its suffixes when compressing.
    mutating func name(_ name: String) {
        var labels = name.split(separator: ".").map(String.init)
        while !labels.isEmpty {
            let suffix = labels.joined(separator: ".")
            if self.compress, let at = self.offsets[suffix] {
                self.bytes += [UInt8(0xc0 | (at >> 8)), UInt8(at & 0xff)]
                return
            }
            self.offsets[suffix] = self.bytes.count
            let label = labels.removeFirst()
            self.bytes.append(UInt8(label.utf8.count))
            self.bytes += Array(label.utf8)
        }
        self.bytes.append(0)
    }

    /// A response header: id, flags (QR RD RA, plus TC and RCODE as given), counts.
    mutating func header(id: Int, rcode: Int = 0, truncated: Bool = false, counts: [Int]) {
        var flags = 0x8180 | rcode
        if truncated { flags |= 0x0200 }
        self.bytes += Self.u16(id) + Self.u16(flags)
        for c in counts { self.bytes += Self.u16(c) }
    }

    mutating func question(_ name: String, _ type: DNSRecordType) {
        self.name(name)
        self.bytes += Self.u16(Int(type.rawValue)) + Self.u16(1)
    }

    /// A record; `rdata` writes the RDATA (it may write names, which compress against the message so far).
    mutating func record(_ name: String, _ type: DNSRecordType, ttl: Int = 300, rdata: (inout DNSAnswerBuilder) -> Void) {
        self.name(name)
        self.bytes += Self.u16(Int(type.rawValue)) + Self.u16(1) + Self.u32(ttl)
        let lengthAt = self.bytes.count
        self.bytes += [0, 0]
        rdata(&self)
        let length = self.bytes.count - lengthAt - 2
        self.bytes[lengthAt] = UInt8(length >> 8)
        self.bytes[lengthAt + 1] = UInt8(length & 0xff)
    }

    mutating func a(_ name: String, _ ip: [UInt8], ttl: Int = 300) {
        self.record(name, .a, ttl: ttl) { $0.bytes += ip }
    }

    mutating func srv(_ name: String, priority: Int, weight: Int, port: Int, target: String, ttl: Int = 300) {
        self.record(name, .srv, ttl: ttl) { b in
            b.bytes += Self.u16(priority) + Self.u16(weight) + Self.u16(port)
            b.name(target)
        }
    }

    mutating func naptr(_ name: String, order: Int, preference: Int, service: String, replacement: String) {
        self.record(name, .naptr) { b in
            b.bytes += Self.u16(order) + Self.u16(preference)
            for text in ["S", service, ""] {
                b.bytes.append(UInt8(text.utf8.count))
                b.bytes += Array(text.utf8)
            }
            b.name(replacement)
        }
    }

    mutating func soa(_ zone: String, ttl: Int, minimum: Int) {
        self.record(zone, .soa, ttl: ttl) { b in
            b.name("ns." + zone)
            b.name("hostmaster." + zone)
            b.bytes += Self.u32(1) + Self.u32(3600) + Self.u32(600) + Self.u32(86400) + Self.u32(minimum)
        }
    }
}

enum DNSFixtures {
    /// `_sip._udp.lab-b.test SRV` answer: two targets (priorities 10 and 20), their A records in the additional
    /// section, names compressed.
    static func srvAnswer(id: Int, compress: Bool = true) -> [UInt8] {
        var b = DNSAnswerBuilder()
        b.compress = compress
        b.header(id: id, counts: [1, 2, 0, 2])
        b.question("_sip._udp.lab-b.test", .srv)
        b.srv("_sip._udp.lab-b.test", priority: 10, weight: 0, port: 5070, target: "sip1.lab-b.test")
        b.srv("_sip._udp.lab-b.test", priority: 20, weight: 0, port: 5080, target: "sip2.lab-b.test")
        b.a("sip1.lab-b.test", [127, 0, 0, 22])
        b.a("sip2.lab-b.test", [127, 0, 0, 23])
        return b.bytes
    }
}
