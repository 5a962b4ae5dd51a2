import Foundation
import Testing

/// Real phones: two baresip instances (Debian's baresip 1.0 with its own SIP stack, libre) against `--auth` and a
/// TLS listener. alice registers over UDP, bob over TLS, both answering digest challenges; alice calls bob, whose
/// phone rings through the proxy (407 answered on the way). baresip may look up DNS or its network, so the proxy
/// and both phones run in a network namespace of their own (`unshare -n`, loopback only).
@Suite("Real phones: baresip with digest and TLS", .serialized)
struct BaresipTests {
    static func config(_ ip: String, port: Int) -> String {
        """
        poll_method epoll
        sip_listen \(ip):\(port)
        audio_player aufile,/dev/null
        audio_source ausine,440
        audio_alert aufile,/dev/null
        dns_server 127.0.0.1:53
        module_path /usr/lib/baresip/modules
        module g711.so
        module ausine.so
        module aufile.so
        module_app account.so
        module_app menu.so

        """
    }

    @Test("baresip registers with digest over UDP and TLS, and a call rings through after a 407")
    func baresipAuthAndTLS() async throws {
        guard let baresip = ToolRunner.which("baresip"), let unshare = ToolRunner.which("unshare") else {
            Issue.record("baresip (baresip-core) and unshare are needed; scripts/setup.sh installs them")
            return
        }
        let dir = try TestEnvironment.makeTemporaryDirectory("baresip")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try await makeSelfSignedCertificate(in: dir)  // cert.pem and key.pem, named in the script below
        try Data("users:\n  alice: secret\n  bob: hunter2\n".utf8).write(to: dir.appendingPathComponent("users.yaml"))
        for (name, ip, port, account) in [
            ("alice", "127.0.0.21", 5062, "<sip:alice@127.0.0.10:5060;transport=udp>;auth_pass=secret;regint=300"),
            ("bob", "127.0.0.22", 5064, "<sip:bob@127.0.0.10:5061;transport=tls>;auth_pass=hunter2;regint=300;answermode=manual"),
        ] {
            let home = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            try Data(Self.config(ip, port: port).utf8).write(to: home.appendingPathComponent("config"))
            try Data((account + "\n").utf8).write(to: home.appendingPathComponent("accounts"))
        }
        let script = """
            set -u
            ip link set lo up
            "$SIPCTL" serve --listen 127.0.0.10:5060 --listen tls:127.0.0.10:5061 --tls-cert cert.pem --tls-key key.pem \\
                --auth users.yaml --log-level info > proxy.stdout 2> proxy.stderr &
            proxy=$!
            for i in $(seq 1 100); do grep -q "SIPProxy ready" proxy.stdout && break; sleep 0.1; done
            timeout 30 "$BARESIP" -n 127.0.0.22 -f "$PWD/bob" -t 8 > bob.out 2>&1 &
            bob=$!
            sleep 2
            timeout 30 "$BARESIP" -n 127.0.0.21 -f "$PWD/alice" -e "/dial sip:bob@127.0.0.10:5060" -t 4 > alice.out 2>&1
            wait $bob
            kill $proxy; wait $proxy
            true
            """
        let run = try await ToolRunner.run(
            "/usr/bin/env",
            ["SIPCTL=\(try TestEnvironment.sipctlBinary())", "BARESIP=\(baresip)", unshare, "-n", "--", "sh", "-c", script],
            in: dir, timeout: 60
        )
        let log = readText(dir.appendingPathComponent("proxy.stderr"))
        let alice = readText(dir.appendingPathComponent("alice.out"))
        let bob = readText(dir.appendingPathComponent("bob.out"))
        let context = "\(run)\n--- alice ---\n\(tail(alice, maxLines: 20))\n--- bob ---\n\(tail(bob, maxLines: 20))\n--- proxy ---\n\(tail(log))"
        #expect(log.contains("out 401 Unauthorized (REGISTER) to tls:") && log.contains("out 401 Unauthorized (REGISTER) to udp:"),
                "both phones were challenged\n\(context)")
        #expect(log.contains("registered sip:bob@127.0.0.10 at") && log.contains("via tls:"), "bob registered over TLS\n\(context)")
        #expect(log.contains("registered sip:alice@127.0.0.10 at"), "alice registered over UDP\n\(context)")
        #expect(bob.contains("{0/TLS/v4} 200 OK"), "bob's phone shows its TLS registration\n\(context)")
        #expect(log.contains("out 407 Proxy Authentication Required (INVITE)"), "the INVITE was challenged\n\(context)")
        #expect(log.contains("out INVITE sip:bob") && log.contains("to tls:"), "the INVITE reached bob over TLS\n\(context)")
        #expect(alice.contains("180 Ringing"), "alice's phone heard bob's phone ring\n\(context)")
        let calls = readText(dir.appendingPathComponent("calls.log"))
        #expect(calls.contains("alice called bob"), "the journal has the call\n\(calls)")
    }
}
