import Foundation
import Testing

/// SIP over TLS (`--listen tls:IP:PORT`): a phone registers over TLS (Python's ssl module as the client), a UDP
/// phone sends it a MESSAGE and an INVITE, the proxy reaches it over its TLS connection, and the trace holds the
/// decrypted SIP as a TCP stream on the TLS port.
@Suite("SIP over TLS", .serialized)
struct TLSTests {
    /// bob over TLS: registers, then answers the first MESSAGE with 200 and the first INVITE with 486, printing
    /// each request's first line and Via.
    static let phone = #"""
        import socket, ssl, sys
        proxy_ip, proxy_port, my_ip = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE   # the test's self-signed certificate
        raw = socket.create_connection((proxy_ip, proxy_port), timeout=10, source_address=(my_ip, 0))
        tls = context.wrap_socket(raw)
        port = tls.getsockname()[1]
        buffer = b""
        def read_message():
            global buffer
            while True:
                end = buffer.find(b"\r\n\r\n")
                if end >= 0:
                    head = buffer[:end].decode()
                    length = 0
                    for line in head.split("\r\n"):
                        if line.lower().startswith("content-length:"):
                            length = int(line.split(":", 1)[1])
                    if len(buffer) >= end + 4 + length:
                        message = buffer[:end + 4 + length].decode()
                        buffer = buffer[end + 4 + length:]
                        return message
                data = tls.recv(65535)
                if not data:
                    raise SystemExit("connection closed")
                buffer += data
        tls.sendall((f"REGISTER sip:{proxy_ip} SIP/2.0\r\nVia: SIP/2.0/TLS {my_ip}:{port};branch=z9hG4bKtls1;rport\r\n"
                     f"Max-Forwards: 70\r\nFrom: <sip:bob@{proxy_ip}>;tag=b1\r\nTo: <sip:bob@{proxy_ip}>\r\n"
                     f"Call-ID: tls-reg\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@{my_ip}:{port};transport=tls>\r\n"
                     f"Expires: 300\r\nContent-Length: 0\r\n\r\n").encode())
        reply = read_message()
        print("REGISTER ->", reply.split("\r\n")[0], flush=True)
        for code in ("200 OK", "486 Busy Here"):
            request = read_message()
            lines = request.split("\r\n")
            print("GOT", lines[0], "|", [l for l in lines if l.startswith("Via:")][0], flush=True)
            answer = "SIP/2.0 " + code + "\r\n"
            for line in lines[1:]:
                name = line.split(":", 1)[0].lower()
                if name in ("via", "from", "call-id", "cseq"):
                    answer += line + "\r\n"
                elif name == "to":
                    answer += line + ";tag=bobtls\r\n"
            tls.sendall((answer + "Content-Length: 0\r\n\r\n").encode())
            if code.startswith("486"):
                ack = read_message()
                print("GOT", ack.split("\r\n")[0], flush=True)
        tls.close()
        """#

    @Test("a TLS phone registers and is reached over its connection; the trace shows the decrypted SIP")
    func tlsPhone() async throws {
        guard let python = ToolRunner.which("python3") else {
            Issue.record("python3 is needed for the TLS test")
            return
        }
        let certs = try TestEnvironment.makeTemporaryDirectory("tls-certs")
        defer { try? FileManager.default.removeItem(at: certs) }
        let (cert, key) = try await makeSelfSignedCertificate(in: certs)

        let ip = "127.0.0.10"
        let base = PortAllocator.block(on: ip)
        let tlsPort = base + 6
        let proxy = try await ProxyProcess.start(
            ip: ip, port: base, label: "tls",
            extraArguments: ["--listen", "tls:\(ip):\(tlsPort)", "--tls-cert", cert, "--tls-key", key]
        )
        defer { proxy.stopAndRemoveDirectory() }
        let script = certs.appendingPathComponent("phone.py")
        try Data(Self.phone.utf8).write(to: script)
        let output = certs.appendingPathComponent("phone.out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let phone = Process()
        phone.executableURL = URL(fileURLWithPath: python)
        phone.arguments = [script.path, ip, String(tlsPort), "127.0.0.12"]
        phone.standardOutput = try FileHandle(forWritingTo: output)
        phone.standardError = phone.standardOutput
        try phone.run()
        defer { if phone.isRunning { phone.terminate() } }
        let registered = await waitUntil(timeout: .seconds(10)) { readText(output).contains("REGISTER ->") }
        #expect(registered && readText(output).contains("REGISTER -> SIP/2.0 200 OK"), "\(readText(output))\n\(proxy.logTail())" as Comment)

        let alice = try RawSocket(udpOn: "127.0.0.11")
        try alice.send(HardeningTests.request("MESSAGE", "sip:bob@\(proxy.hostPort)", from: "127.0.0.11",
                                              port: alice.localPort, callID: "tls-msg", body: "over TLS"),
                       to: ip, port: base)
        let delivered = alice.receive(timeout: 5) { $0.contains { (statusCode($0) ?? 0) >= 200 } }
        #expect(delivered.messages.compactMap(statusCode).last == 200, "\(delivered.messages)\n\(proxy.logTail())")
        try alice.send(HardeningTests.request("INVITE", "sip:bob@\(proxy.hostPort)", from: "127.0.0.11",
                                              port: alice.localPort, callID: "tls-inv",
                                              extra: ["Contact: <sip:alice@127.0.0.11:\(alice.localPort)>"]),
                       to: ip, port: base)
        let busy = alice.receive(timeout: 5) { $0.contains { (statusCode($0) ?? 0) >= 200 } }
        #expect(busy.messages.compactMap(statusCode).last == 486, "\(busy.messages)\n\(proxy.logTail())")
        try alice.send(HardeningTests.request("ACK", "sip:bob@\(proxy.hostPort)", from: "127.0.0.11",
                                              port: alice.localPort, callID: "tls-inv", toTag: "bobtls"),
                       to: ip, port: base)
        _ = await waitUntil(timeout: .seconds(5)) { !phone.isRunning }
        let seen = readText(output)
        #expect(seen.contains("GOT MESSAGE sip:bob@127.0.0.12"), "\(seen)")
        #expect(seen.contains("Via: SIP/2.0/TLS \(ip):\(tlsPort)"), "the proxy's Via names TLS and its TLS port\n\(seen)")
        #expect(seen.contains("GOT INVITE") && seen.contains("GOT ACK"), "\(seen)")

        // The trace: the decrypted messages on the TLS port, as TCP, dissected as SIP by tshark.
        if let tshark = ToolRunner.which("tshark") {
            try await Task.sleep(for: .milliseconds(1500))  // records reach the disk within a second
            let files = traceFiles(in: proxy.workDirectory.appendingPathComponent("traces"))
            var methods: [String] = []
            for file in files {
                let r = try await ToolRunner.run(tshark, [
                    "-r", file.path, "-d", "tcp.port==\(tlsPort),sip", "-Y", "sip && tcp.port==\(tlsPort)",
                    "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code",
                ], in: proxy.workDirectory, timeout: 30)
                methods += r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            #expect(!files.isEmpty && methods.contains("REGISTER") && methods.contains("MESSAGE") && methods.contains("INVITE"),
                    "the TLS leg is in the trace as SIP over TCP: \(methods)")
        }
    }

    @Test("a tls: listener without a certificate, or with an unreadable one, stops sipctl serve with one line")
    func missingCertificate() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("tls-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let none = try await sipctl(["serve", "--listen", "tls:127.0.0.10:1"], cwd: dir)
        #expect(none.exitCode != 0 && none.stderr.contains("--tls-cert"), "\(none)")
        try Data("not a certificate".utf8).write(to: dir.appendingPathComponent("bad.pem"))
        let bad = try await sipctl(["serve", "--listen", "tls:127.0.0.10:1", "--tls-cert", "bad.pem", "--tls-key", "bad.pem"],
                                   cwd: dir)
        #expect(bad.exitCode != 0 && bad.stderr.contains("bad.pem"), "\(bad)")
        #expect(bad.stderr.split(separator: "\n").count == 1, "\(bad)")
    }
}
