import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A HEP collector for the tests: a UDP socket on loopback that keeps every datagram, a HEPv3 decoder written from
/// the HEP3 spec (independent of the proxy's encoder), and a way to show the datagrams to tshark (a pcap of them and
/// a small Lua HEP3 dissector: Debian's Wireshark 4.0 has no HEP dissector of its own).
final class HEPCollector {
    /// One decoded HEPv3 packet.
    struct Packet: CustomStringConvertible {
        var family: UInt8 = 0
        var ipProtocol: UInt8 = 0
        var source = ""
        var destination = ""
        var sourcePort = 0
        var destinationPort = 0
        var seconds: UInt32 = 0
        var microseconds: UInt32 = 0
        var protocolType: UInt8 = 0
        var captureID: UInt32 = 0
        var authKey: String?
        var correlationID: String?
        var payload: [UInt8] = []

        var text: String { String(decoding: self.payload, as: UTF8.self) }
        var sourceAddress: String { "\(self.source):\(self.sourcePort)" }
        var destinationAddress: String { "\(self.destination):\(self.destinationPort)" }
        /// `INVITE` for a request, `200 INVITE` for a response (as `CapturedSIP.key`).
        var key: String {
            let text = self.text
            let cseqMethod = headerValue(text, "CSeq")?.split(separator: " ").last.map(String.init) ?? ""
            if let code = statusCode(text) { return "\(code) \(cseqMethod)" }
            return text.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
        }
        var callID: String { headerValue(self.text, "Call-ID") ?? "" }
        var description: String {
            "type \(self.protocolType) agent \(self.captureID) \(self.sourceAddress) -> \(self.destinationAddress) \(self.key) \(self.callID)"
        }
    }

    let ip: String
    let port: Int
    private let socket: RawSocket
    private(set) var datagrams: [[UInt8]] = []

    init(ip: String = "127.0.0.19") throws {
        self.ip = ip
        self.port = PortAllocator.block(on: ip)
        self.socket = try RawSocket(udpOn: ip, port: self.port)
    }

    var address: String { "udp:\(self.ip):\(self.port)" }

    /// Reads datagrams until `done` holds for the decoded packets or `timeout` passes (wall clock).
    @discardableResult
    func collect(timeout: Duration, until done: ([Packet]) -> Bool) -> [Packet] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 70_000)
        while !done(self.packets), clock.now < deadline {
            var pfd = pollfd(fd: self.socket.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(self.socket.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { self.datagrams.append(Array(buffer[0..<n])) }
        }
        return self.packets
    }

    var packets: [Packet] { self.datagrams.compactMap(Self.decode) }

    /// HEP3: "HEP3", u16 total length, then chunks (u16 vendor, u16 type, u16 length incl. the 6-octet header).
    static func decode(_ d: [UInt8]) -> Packet? {
        func u16(_ i: Int) -> Int { Int(d[i]) << 8 | Int(d[i + 1]) }
        func u32(_ v: ArraySlice<UInt8>) -> UInt32 { v.reduce(0) { $0 << 8 | UInt32($1) } }
        guard d.count >= 6, d[0..<4].elementsEqual(Array("HEP3".utf8)), u16(4) == d.count else { return nil }
        var p = Packet()
        var i = 6
        while i + 6 <= d.count {
            let (vendor, type, length) = (u16(i), u16(i + 2), u16(i + 4))
            guard vendor == 0, length >= 6, i + length <= d.count else { return nil }
            let v = d[(i + 6)..<(i + length)]
            switch type {
            case 1: p.family = v.first ?? 0
            case 2: p.ipProtocol = v.first ?? 0
            case 3: p.source = v.map(String.init).joined(separator: ".")
            case 4: p.destination = v.map(String.init).joined(separator: ".")
            case 7: p.sourcePort = Int(u32(v))
            case 8: p.destinationPort = Int(u32(v))
            case 9: p.seconds = u32(v)
            case 10: p.microseconds = u32(v)
            case 11: p.protocolType = v.first ?? 0
            case 12: p.captureID = u32(v)
            case 14: p.authKey = String(decoding: v, as: UTF8.self)
            case 15: p.payload = Array(v)
            case 17: p.correlationID = String(decoding: v, as: UTF8.self)
            default: break
            }
            i += length
        }
        return i == d.count ? p : nil
    }

    /// The datagrams as a pcap (LINKTYPE_RAW: IPv4 + UDP headers around each, from 127.0.0.10 to the collector),
    /// as a capture on the collector's host would show them.
    func writePcap(to url: URL) throws {
        var out: [UInt8] = []
        func le32(_ v: UInt32) { out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }
        le32(0xA1B2_C3D4)
        out += [2, 0, 4, 0]  // version 2.4
        le32(0)
        le32(0)
        le32(65_535)
        le32(101)  // LINKTYPE_RAW
        let dst = self.ip.split(separator: ".").compactMap { UInt8($0) }
        for (n, d) in self.datagrams.enumerated() {
            let udpLength = 8 + d.count
            let total = 20 + udpLength
            var ip: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 10]
            ip += dst
            let udp: [UInt8] = [0xC0, 0x00, UInt8(self.port >> 8), UInt8(self.port & 0xFF),
                                UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 0, 0]
            le32(1_700_000_000 + UInt32(n))
            le32(0)
            le32(UInt32(total))
            le32(UInt32(total))
            out += ip + udp + d
        }
        try Data(out).write(to: url)
    }

    /// A HEP3 dissector for tshark (`-X lua_script:FILE -d udp.port==PORT,hep3`): the chunks as fields and the SIP
    /// payload handed to Wireshark's own SIP dissector.
    static let luaDissector = """
        local hep3 = Proto("hep3", "HEP3 (test dissector)")
        local f_type = ProtoField.uint8("hep3.proto_type", "Protocol type")
        local f_capture = ProtoField.uint32("hep3.capture_id", "Capture agent ID")
        local f_auth = ProtoField.string("hep3.auth_key", "Auth key")
        local f_corr = ProtoField.string("hep3.correlation_id", "Correlation ID")
        local f_sport = ProtoField.uint16("hep3.src_port", "Source port")
        local f_dport = ProtoField.uint16("hep3.dst_port", "Destination port")
        hep3.fields = { f_type, f_capture, f_auth, f_corr, f_sport, f_dport }
        local sip = Dissector.get("sip")
        function hep3.dissector(tvb, pinfo, tree)
            if tvb:len() < 6 or tvb(0, 4):string() ~= "HEP3" then return 0 end
            local total = tvb(4, 2):uint()
            local t = tree:add(hep3, tvb(0, total))
            local off = 6
            local payload = nil
            local ptype = 0
            while off + 6 <= total do
                local ctype = tvb(off + 2, 2):uint()
                local len = tvb(off + 4, 2):uint()
                if len < 6 then break end
                if len > 6 then
                    local v = tvb(off + 6, len - 6)
                    if ctype == 11 then t:add(f_type, v); ptype = v:uint()
                    elseif ctype == 12 then t:add(f_capture, v)
                    elseif ctype == 14 then t:add(f_auth, v)
                    elseif ctype == 17 then t:add(f_corr, v)
                    elseif ctype == 7 then t:add(f_sport, v)
                    elseif ctype == 8 then t:add(f_dport, v)
                    elseif ctype == 15 then payload = v end
                end
                off = off + len
            end
            pinfo.cols.protocol = "HEP3"
            if payload ~= nil and ptype == 1 then sip:call(payload:tvb(), pinfo, tree) end
            return total
        end
        DissectorTable.get("udp.port"):add_for_decode_as(hep3)
        """

    /// tshark over `writePcap`'s file with the Lua dissector: one row per SIP message inside HEP, with the agent id,
    /// auth key, method or status code, CSeq method and Call-ID Wireshark decoded.
    func tshark(in directory: URL) async throws -> (rows: [[String]], result: ToolResult) {
        let pcap = directory.appendingPathComponent("hep.pcap")
        let lua = directory.appendingPathComponent("hep3.lua")
        try self.writePcap(to: pcap)
        try Self.luaDissector.write(to: lua, atomically: true, encoding: .utf8)
        let r = try await Tool.run("tshark", [
            "-n", "-X", "lua_script:\(lua.path)", "-r", pcap.path, "-d", "udp.port==\(self.port),hep3", "-Y", "sip",
            "-T", "fields", "-E", "separator=/t", "-e", "hep3.capture_id", "-e", "hep3.auth_key", "-e", "sip.Method",
            "-e", "sip.Status-Code", "-e", "sip.CSeq.method", "-e", "sip.Call-ID",
        ])
        let rows = r.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        return (rows, r)
    }
}
