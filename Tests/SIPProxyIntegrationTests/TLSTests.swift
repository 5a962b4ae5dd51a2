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
        let (phone, output) = try Self.runPython(python, Self.phone, named: "phone", in: certs,
                                                 arguments: [ip, String(tlsPort), "127.0.0.12"])
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

    /// Runs `source` with python3 from `directory/NAME.py`, its output (stdout and stderr) in `NAME.out`.
    static func runPython(
        _ python: String, _ source: String, named name: String, in directory: URL, arguments: [String]
    ) throws -> (Process, URL) {
        let script = directory.appendingPathComponent("\(name).py")
        try Data(source.utf8).write(to: script)
        let output = directory.appendingPathComponent("\(name).out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path] + arguments
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = process.standardOutput
        try process.run()
        return (process, output)
    }

    /// carol's TLS server for the outbound test: accepts connections, answers each request it reads with 200 and
    /// prints its first line and Via; a failed handshake is printed too.
    static let server = #"""
        import socket, ssl, sys
        ip, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        listener = socket.create_server((ip, port))
        listener.settimeout(30)
        print("LISTENING", flush=True)
        while True:
            try:
                raw, _ = listener.accept()
            except socket.timeout:
                break
            try:
                tls = context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as error:
                print("HANDSHAKE FAILED", error, flush=True)
                continue
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(65535)
                if not chunk: break
                data += chunk
            lines = data.decode(errors="replace").split("\r\n")
            print("GOT", lines[0], "|", [l for l in lines if l.lower().startswith("via:")][0], flush=True)
            answer = "SIP/2.0 200 OK\r\n"
            for line in lines[1:]:
                name = line.split(":", 1)[0].lower()
                if name in ("via", "from", "call-id", "cseq"):
                    answer += line + "\r\n"
                elif name == "to":
                    answer += line + ";tag=carol\r\n"
            tls.sendall((answer + "Content-Length: 0\r\n\r\n").encode())
        """#

    @Test("the proxy connects over TLS itself to a ;transport=tls target: trusted with --tls-ca when it names the address, refused at once when it is not trusted or names another address, accepted with --tls-no-verify; a bad --tls-ca is one line")
    func outboundTLS() async throws {
        guard let python = ToolRunner.which("python3") else {
            Issue.record("python3 is needed for the TLS test")
            return
        }
        let certs = try TestEnvironment.makeTemporaryDirectory("tls-out")
        defer { try? FileManager.default.removeItem(at: certs) }
        let (cert, key) = try await makeSelfSignedCertificate(in: certs)
        // carol's certificate names her address; the proxy's own (CN 127.0.0.10, no subjectAltName) does not.
        let (carolCert, carolKey) = try await makeSelfSignedCertificate(in: certs, ip: "127.0.0.42")
        let carolPort = PortAllocator.block(on: "127.0.0.42")
        func startServer(_ ip: String, _ port: Int, certificate: String, key: String) async throws -> (Process, URL) {
            let (server, output) = try Self.runPython(python, Self.server, named: "server-\(ip)", in: certs,
                                                      arguments: [ip, String(port), certificate, key])
            #expect(await waitUntil(timeout: .seconds(10)) { readText(output).contains("LISTENING") }, "\(readText(output))")
            return (server, output)
        }
        let (server, output) = try await startServer("127.0.0.42", carolPort, certificate: carolCert, key: carolKey)
        defer { if server.isRunning { server.terminate() } }
        // dave's server presents a certificate for another address (127.0.0.10).
        let davePort = PortAllocator.block(on: "127.0.0.43")
        let (daveServer, daveOutput) = try await startServer("127.0.0.43", davePort, certificate: cert, key: key)
        defer { if daveServer.isRunning { daveServer.terminate() } }

        /// alice (registered over UDP) sends a MESSAGE for carol's TLS address through a proxy with `trust`.
        func message(_ label: String, trust: [String], to target: String? = nil, logLine: String? = nil) async throws
            -> (statuses: [Int], seconds: Double, log: String, via: String)
        {
            let ip = "127.0.0.10"
            let base = PortAllocator.block(on: ip)
            let proxy = try await ProxyProcess.start(
                ip: ip, port: base, label: label,
                extraArguments: ["--listen", "tls:\(ip):\(base + 6)", "--tls-cert", cert, "--tls-key", key] + trust
            )
            defer { proxy.stopAndRemoveDirectory() }
            let alice = try HardeningTests.registeredPhone("alice", ip: "127.0.0.11", proxy: proxy)
            let started = Date()
            try alice.send(HardeningTests.request("MESSAGE", target ?? "sip:carol@127.0.0.42:\(carolPort);transport=tls", from: "127.0.0.11",
                                                  port: alice.localPort, callID: "tls-out-\(label)", body: "over TLS"),
                           to: ip, port: base)
            let got = alice.receive(timeout: 10) { $0.contains { (statusCode($0) ?? 0) >= 200 } }
            let seconds = Date().timeIntervalSince(started)
            // Log lines reach stderr in batches: wait (bounded) for the one the test looks for.
            if let logLine { _ = await waitUntil(timeout: .seconds(5)) { readText(proxy.stderrURL).contains(logLine) } }
            return (got.messages.compactMap(statusCode), seconds, readText(proxy.stderrURL),
                    "Via: SIP/2.0/TLS \(ip):\(base + 6)")
        }
        let trusted = try await message("tls-out-ca", trust: ["--tls-ca", carolCert])
        #expect(trusted.statuses.last == 200, "\(trusted.statuses)\n\(trusted.log)\n\(readText(output))")
        #expect(readText(output).contains("GOT MESSAGE sip:carol@127.0.0.42:\(carolPort);transport=tls")
                && readText(output).contains(trusted.via), "the proxy's Via names TLS and its TLS port\n\(readText(output))")

        // dave's certificate is trusted but names another address: refused like an unknown issuer.
        let misnamed = try await message("tls-out-name", trust: ["--tls-ca", cert],
                                         to: "sip:dave@127.0.0.43:\(davePort);transport=tls",
                                         logLine: "tls to 127.0.0.43:\(davePort) failed")
        #expect(misnamed.statuses.last == 500, "a certificate for another address: \(misnamed.statuses)\n\(misnamed.log)")
        // The name is checked once the handshake is done: dave's server may finish its side, but gets no SIP.
        #expect(!readText(daveOutput).contains("GOT "), "\(readText(daveOutput))")
        let untrusted = try await message("tls-out-system", trust: [], logLine: "tls to 127.0.0.42:\(carolPort) failed")
        // The branch's 503 reaches the caller as 500 (RFC 3261 §16.7 step 6), at once rather than after Timer F.
        #expect(untrusted.statuses.last == 500 && untrusted.seconds < 5,
                "a refused certificate fails the request at once: \(untrusted.statuses) after \(untrusted.seconds) s\n\(untrusted.log)")
        #expect(untrusted.log.contains("tls to 127.0.0.42:\(carolPort) failed"), "\(untrusted.log)")
        #expect(readText(output).contains("HANDSHAKE FAILED"), "\(readText(output))")

        let unchecked = try await message("tls-out-none", trust: ["--tls-no-verify"])
        #expect(unchecked.statuses.last == 200, "\(unchecked.statuses)\n\(unchecked.log)")

        try Data("not a certificate".utf8).write(to: certs.appendingPathComponent("garbage.pem"))
        let bad = try await sipctl(["serve", "--listen", "tls:127.0.0.10:1", "--tls-cert", cert, "--tls-key", key,
                                    "--tls-ca", "garbage.pem"], cwd: certs)
        #expect(bad.exitCode != 0 && bad.stderr.contains("garbage.pem") && bad.stderr.split(separator: "\n").count == 1,
                "\(bad)")
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
