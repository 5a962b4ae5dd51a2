// ResolvConf: the name servers of /etc/resolv.conf (resolv.conf(5)), the default of `sipctl serve --dns`.

import Foundation
import NIOCore

/// The `nameserver` lines of a resolv.conf.
public enum ResolvConf {
    public static let defaultPath = "/etc/resolv.conf"

    /// The servers named in `text`, port 53, in file order; resolv.conf(5) uses at most three (MAXNS). With none,
    /// the local machine, as the C library does.
    public static func servers(parsing text: String) -> [SocketAddress] {
        var result: [SocketAddress] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver" else { continue }
            // A link-local IPv6 server may carry a zone (`fe80::1%eth0`), which a socket address here cannot keep.
            let ip = words[1].split(separator: "%", maxSplits: 1).first.map(String.init) ?? ""
            if let address = try? SocketAddress(ipAddress: ip, port: 53), result.count < 3 { result.append(address) }
        }
        if result.isEmpty, let local = try? SocketAddress(ipAddress: "127.0.0.1", port: 53) { result.append(local) }
        return result
    }

    /// Reads the file (once, at start, before any event loop runs); a missing file means the local machine.
    public static func servers(path: String = ResolvConf.defaultPath) -> [SocketAddress] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return self.servers(parsing: text)
    }
}
