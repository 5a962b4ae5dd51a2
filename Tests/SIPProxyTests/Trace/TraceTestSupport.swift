// Helpers for the trace recorder tests: addresses, events, a minimal frame decoder, temporary directories and
// running tshark.

import Foundation
import NIOCore

@testable import SIPProxy

enum TraceTest {
    static func address(_ ip: String, _ port: Int) -> SocketAddress {
        try! SocketAddress(ipAddress: ip, port: port)
    }

    static func event(
        _ direction: TraceEvent.Direction,
        _ transport: TransportKind = .udp,
        from source: SocketAddress,
        to destination: SocketAddress,
        connection: UInt64? = nil,
        at microseconds: Int64 = 1_700_000_000_000_000,
        payload: [UInt8],
        summary: TraceSummary? = nil
    ) -> TraceEvent {
        TraceEvent(
            direction: direction,
            transport: transport,
            source: source,
            destination: destination,
            connection: connection.map { ConnectionID(rawValue: $0) },
            timestamp: TraceTimestamp(microseconds: microseconds),
            payload: payload,
            summary: summary
        )
    }

    static func sipRequest(_ method: String, callID: String = "call-1", bodyLength: Int = 0) -> [UInt8] {
        let body = String(repeating: "x", count: bodyLength)
        let text = [
            "\(method) sip:bob@127.0.0.10 SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.11:5061;branch=z9hG4bK-\(callID)",
            "From: <sip:alice@127.0.0.10>;tag=a1",
            "To: <sip:bob@127.0.0.10>",
            "Call-ID: \(callID)",
            "CSeq: 1 \(method)",
            "Max-Forwards: 70",
            "Content-Length: \(bodyLength)",
            "",
            body,
        ].joined(separator: "\r\n")
        return Array(text.utf8)
    }

    static func sipResponse(_ status: Int, _ reason: String, method: String, callID: String = "call-1") -> [UInt8] {
        let text = [
            "SIP/2.0 \(status) \(reason)",
            "Via: SIP/2.0/UDP 127.0.0.11:5061;branch=z9hG4bK-\(callID)",
            "From: <sip:alice@127.0.0.10>;tag=a1",
            "To: <sip:bob@127.0.0.10>;tag=b1",
            "Call-ID: \(callID)",
            "CSeq: 1 \(method)",
            "Content-Length: 0",
            "",
            "",
        ].joined(separator: "\r\n")
        return Array(text.utf8)
    }

    /// A fresh empty directory under the system temporary directory.
    static func temporaryDirectory(_ name: String = #function) -> String {
        let base = FileManager.default.temporaryDirectory.path
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let path = "\(base)/sipproxy-trace-\(safe)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    // MARK: tshark

    static let tsharkPath: String? = ["/usr/bin/tshark", "/usr/local/bin/tshark", "/opt/homebrew/bin/tshark"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs tshark with the arguments; returns (exit status, stdout, stderr).
    static func tshark(_ arguments: [String]) throws -> (Int32, String, String) {
        guard let path = Self.tsharkPath else { return (-1, "", "tshark missing") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        // A private configuration directory: the user's Wireshark preferences must not change the dissection.
        environment["WIRESHARK_CONFIG_DIR"] = NSTemporaryDirectory() + "sipproxy-trace-wireshark"
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: outData, as: UTF8.self),
            String(decoding: errData, as: UTF8.self)
        )
    }

    /// `tshark -r FILE -T fields -e ...` with checksum validation on: one array of fields per packet.
    static func tsharkFields(_ file: String, _ fields: [String], filter: String? = nil) throws -> [[String]] {
        var arguments = [
            "-r", file, "-n",
            "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
            "-T", "fields", "-E", "separator=|",
        ]
        for field in fields { arguments += ["-e", field] }
        if let filter { arguments += ["-Y", filter] }
        let (_, out, _) = try Self.tshark(arguments)
        return out.split(separator: "\n").map {
            $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        }
    }
}

/// The fields of a frame that the tests look at, decoded independently of `PacketFramer`.
struct DecodedFrame {
    var destinationMAC: [UInt8]
    var sourceMAC: [UInt8]
    var etherType: UInt16
    var ipVersion: Int
    var sourceIP: [UInt8]
    var destinationIP: [UInt8]
    var ipProtocol: UInt8
    var ipLength: Int
    /// Whether the IPv4 header checksum verifies (always true for IPv6, which has none).
    var ipChecksumValid: Bool
    var sourcePort: UInt16
    var destinationPort: UInt16
    var transportChecksumValid: Bool
    var seq: UInt32 = 0
    var ack: UInt32 = 0
    var flags: UInt8 = 0
    var tcpHeaderLength = 0
    var payload: [UInt8]

    static let fin: UInt8 = 0x01
    static let syn: UInt8 = 0x02
    static let psh: UInt8 = 0x08
    static let ackFlag: UInt8 = 0x10

    init(_ f: [UInt8]) {
        func u16(_ i: Int) -> UInt16 { UInt16(f[i]) << 8 | UInt16(f[i + 1]) }
        func u32(_ i: Int) -> UInt32 { UInt32(u16(i)) << 16 | UInt32(u16(i + 2)) }
        func sum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var s: UInt32 = 0
            var i = bytes.startIndex
            while i < bytes.endIndex {
                let hi = UInt32(bytes[i])
                let lo = i + 1 < bytes.endIndex ? UInt32(bytes[i + 1]) : 0
                s += hi << 8 | lo
                i += 2
            }
            return s
        }
        func fold(_ s: UInt32) -> UInt16 {
            var s = s
            while s > 0xFFFF { s = (s & 0xFFFF) + (s >> 16) }
            return UInt16(s)
        }
        self.destinationMAC = Array(f[0..<6])
        self.sourceMAC = Array(f[6..<12])
        self.etherType = u16(12)
        let ip = 14
        let transport: Int
        var pseudo: UInt32
        if self.etherType == 0x0800 {
            self.ipVersion = Int(f[ip] >> 4)
            self.ipLength = Int(u16(ip + 2))
            self.ipProtocol = f[ip + 9]
            self.sourceIP = Array(f[ip + 12..<ip + 16])
            self.destinationIP = Array(f[ip + 16..<ip + 20])
            self.ipChecksumValid = fold(sum(f[ip..<ip + 20])) == 0xFFFF
            transport = ip + 20
            let segmentLength = self.ipLength - 20
            pseudo = sum(f[ip + 12..<ip + 20]) + UInt32(self.ipProtocol) + UInt32(segmentLength)
        } else {
            self.ipVersion = Int(f[ip] >> 4)
            self.ipLength = Int(u16(ip + 4)) + 40
            self.ipProtocol = f[ip + 6]
            self.sourceIP = Array(f[ip + 8..<ip + 24])
            self.destinationIP = Array(f[ip + 24..<ip + 40])
            self.ipChecksumValid = true
            transport = ip + 40
            let segmentLength = self.ipLength - 40
            pseudo = sum(f[ip + 8..<ip + 40]) + UInt32(self.ipProtocol) + UInt32(segmentLength)
        }
        self.sourcePort = u16(transport)
        self.destinationPort = u16(transport + 2)
        let end = ip + self.ipLength
        self.transportChecksumValid = fold(pseudo + sum(f[transport..<end])) == 0xFFFF
        if self.ipProtocol == 6 {
            self.seq = u32(transport + 4)
            self.ack = u32(transport + 8)
            self.tcpHeaderLength = Int(f[transport + 12] >> 4) * 4
            self.flags = f[transport + 13]
            self.payload = Array(f[transport + self.tcpHeaderLength..<end])
        } else {
            self.payload = Array(f[transport + 8..<end])
        }
    }
}

extension Array where Element == UInt8 {
    init(hex: String) {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        self = bytes
    }

    var hex: String { self.map { String(format: "%02x", $0) }.joined() }
}
