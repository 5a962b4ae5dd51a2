// DNSMessage+Decoding: reading a message from bytes (RFC 1035 §4.1), with name compression (§4.1.4).

extension DNSMessage {
    /// Decodes a whole message. Throws on anything malformed; never traps.
    public init(decoding bytes: [UInt8]) throws(DNSError) {
        var reader = DNSReader(bytes)
        self.id = try reader.u16()
        let flags = try reader.u16()
        self.isResponse = flags & 0x8000 != 0
        self.isTruncated = flags & 0x0200 != 0
        self.rcode = UInt8(flags & 0x000f)
        let counts = [try reader.u16(), try reader.u16(), try reader.u16(), try reader.u16()]
        guard counts.reduce(0, { $0 + Int($1) }) <= Self.maxRecords else {
            throw DNSError(.badRecord, "more than \(Self.maxRecords) entries")
        }
        self.questions = []
        for _ in 0..<counts[0] {
            let name = try reader.name()
            let type = try reader.u16()
            let qclass = try reader.u16()
            guard qclass == 1 else { throw DNSError(.badRecord, "question class \(qclass)") }
            self.questions.append(DNSQuestion(name, DNSRecordType(rawValue: type)))
        }
        // A truncated answer (TC) may end in the middle of a record: what is whole is kept, the rest ignored,
        // since the caller retries over TCP anyway.
        let truncated = self.isTruncated
        func records(_ count: UInt16) throws(DNSError) -> [DNSRecord] {
            var result: [DNSRecord] = []
            for _ in 0..<count {
                do throws(DNSError) {
                    if let record = try reader.record() { result.append(record) }
                } catch {
                    if truncated { break }
                    throw error
                }
            }
            return result
        }
        self.answers = try records(counts[1])
        self.authority = try records(counts[2])
        self.additional = try records(counts[3])
    }
}

/// A bounds-checked cursor over a message.
struct DNSReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func u8() throws(DNSError) -> UInt8 {
        guard self.offset < self.bytes.count else { throw DNSError(.truncatedMessage) }
        defer { self.offset += 1 }
        return self.bytes[self.offset]
    }

    mutating func u16() throws(DNSError) -> UInt16 {
        UInt16(try self.u8()) << 8 | UInt16(try self.u8())
    }

    mutating func u32() throws(DNSError) -> UInt32 {
        UInt32(try self.u16()) << 16 | UInt32(try self.u16())
    }

    mutating func take(_ count: Int) throws(DNSError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= self.bytes.count - self.offset else { throw DNSError(.truncatedMessage) }
        defer { self.offset += count }
        return self.bytes[self.offset..<self.offset + count]
    }

    /// A <character-string> (§3.3): a length octet, then that many octets.
    mutating func characterString() throws(DNSError) -> String {
        let length = Int(try self.u8())
        return String(decoding: try self.take(length), as: UTF8.self)
    }

    /// A domain name at the cursor (§3.1, §4.1.4), lowercased, without the final dot ("" for the root). A pointer
    /// must point before the label that holds it: names only refer to earlier ones, so every jump goes strictly
    /// backwards and a loop is impossible; the 255-octet limit bounds the work on top.
    mutating func name() throws(DNSError) -> String {
        var labels: [String] = []
        var position = self.offset
        var resumeAt: Int?
        var length = 1
        while true {
            guard position < self.bytes.count else { throw DNSError(.truncatedMessage) }
            let octet = self.bytes[position]
            switch octet & 0xc0 {
            case 0x00:
                if octet == 0 {
                    self.offset = resumeAt ?? position + 1
                    return labels.joined(separator: ".")
                }
                let count = Int(octet)
                guard position + 1 + count <= self.bytes.count else { throw DNSError(.truncatedMessage) }
                length += count + 1
                guard length <= 255 else { throw DNSError(.badName, "name longer than 255 octets") }
                labels.append(String(decoding: self.bytes[position + 1...position + count], as: UTF8.self).lowercased())
                position += 1 + count
            case 0xc0:
                guard position + 1 < self.bytes.count else { throw DNSError(.truncatedMessage) }
                let target = Int(octet & 0x3f) << 8 | Int(self.bytes[position + 1])
                guard target < position else { throw DNSError(.badName, "compression pointer not backwards") }
                if resumeAt == nil { resumeAt = position + 2 }
                position = target
            default:
                // 0x40 and 0x80: extended label types (RFC 6891 §5), not used in answers we ask for.
                throw DNSError(.badName, "reserved label type")
            }
        }
    }

    /// One resource record (§4.1.3); nil for a class other than IN.
    mutating func record() throws(DNSError) -> DNSRecord? {
        let name = try self.name()
        let type = DNSRecordType(rawValue: try self.u16())
        let rclass = try self.u16()
        // §2.3.4: a TTL is 31 bits; a value with the top bit set counts as 0 (RFC 2181 §8).
        var ttl = try self.u32()
        if ttl > UInt32(Int32.max) { ttl = 0 }
        let length = Int(try self.u16())
        let end = self.offset + length
        guard end <= self.bytes.count else { throw DNSError(.truncatedMessage) }
        let data: DNSRecordData
        switch type {
        case .a:
            guard length == 4 else { throw DNSError(.badRecord, "A of \(length) octets") }
            data = .a(try self.take(4).map(String.init).joined(separator: "."))
        case .aaaa:
            guard length == 16 else { throw DNSError(.badRecord, "AAAA of \(length) octets") }
            data = .aaaa(Self.ipv6Text(Array(try self.take(16))))
        case .srv:
            let priority = try self.u16()
            let weight = try self.u16()
            let port = try self.u16()
            // RFC 2782 forbids compressing the target; servers that do anyway are read all the same.
            data = .srv(SRVRecord(priority: priority, weight: weight, port: port, target: try self.name()))
        case .naptr:
            let order = try self.u16()
            let preference = try self.u16()
            let flags = try self.characterString()
            let services = try self.characterString()
            let regexp = try self.characterString()
            data = .naptr(
                NAPTRRecord(
                    order: order, preference: preference, flags: flags.lowercased(), services: services.uppercased(),
                    regexp: regexp, replacement: try self.name()
                )
            )
        case .cname:
            data = .cname(try self.name())
        case .soa:
            _ = try self.name()  // MNAME
            _ = try self.name()  // RNAME
            _ = try self.take(16)  // SERIAL, REFRESH, RETRY, EXPIRE
            data = .soa(SOARecord(minimum: try self.u32()))
        default:
            _ = try self.take(length)
            data = .other
        }
        // The RDATA must end exactly where RDLENGTH says.
        guard self.offset == end else { throw DNSError(.badRecord, "\(type) RDATA length mismatch") }
        guard rclass == 1 else { return nil }
        return DNSRecord(name: name, type: type, ttl: ttl, data: data)
    }

    /// RFC 5952 text: lowercase hex, leading zeros dropped, the longest run of two or more zero groups as "::".
    static func ipv6Text(_ octets: [UInt8]) -> String {
        let groups = (0..<8).map { UInt16(octets[2 * $0]) << 8 | UInt16(octets[2 * $0 + 1]) }
        var bestStart = -1
        var bestLength = 0
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8 && groups[end] == 0 { end += 1 }
            if end - index > bestLength && end - index >= 2 {
                bestStart = index
                bestLength = end - index
            }
            index = end
        }
        func hex(_ range: Range<Int>) -> String { groups[range].map { String($0, radix: 16) }.joined(separator: ":") }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}
