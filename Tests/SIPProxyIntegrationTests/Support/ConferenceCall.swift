import Foundation

/// Three baresip phones dial a conference room hosted by the proxy (`--conference 800`), in namespaces of their
/// own as in `VoiceCall`: alice (127.0.0.21) sends 400 Hz, bob (.22) 800 Hz over G.722, carol (.23) 1300 Hz over Opus. Each dials
/// `sip:800@127.0.0.10:5060` once all are registered; when every recording holds `audioSeconds`, the script lists
/// the room (`sipctl conference list --json`), hangs everyone up and stops.
enum ConferenceCall {
    static let room = "800"
    static let phones = [
        VoiceCall.Phone(name: "alice", address: "127.0.0.21", sipPort: 5062, tone: 400, accountParameters: ""),
        // bob's phone speaks G.722 only, carol's Opus only: the room mixes wideband and narrowband phones together.
        VoiceCall.Phone(name: "bob", address: "127.0.0.22", sipPort: 5064, tone: 800, accountParameters: ";audio_codecs=G722/16000/1"),
        VoiceCall.Phone(name: "carol", address: "127.0.0.23", sipPort: 5066, tone: 1300, accountParameters: ";audio_codecs=opus/48000/2"),
    ]
    static var frequencies: [Double] { phones.map { Double($0.tone) } }

    /// A blind transfer into the room: alice calls bob (who answers by himself), then transfers him to 800
    /// (`/transfer`: a REFER with Refer-To the room's URI, RFC 3515); bob's phone follows the REFER and joins the
    /// room, where carol dials in too. The recordings analysed are each phone's newest call.
    static let transferPhones = [
        VoiceCall.Phone(name: "alice", address: "127.0.0.21", sipPort: 5062, tone: 400, accountParameters: ""),
        VoiceCall.Phone(name: "bob", address: "127.0.0.22", sipPort: 5064, tone: 800, accountParameters: ";answermode=auto"),
        VoiceCall.Phone(name: "carol", address: "127.0.0.23", sipPort: 5066, tone: 1300, accountParameters: ""),
    ]

    static func transferScript(_ phones: [VoiceCall.Phone]) -> String {
        let proxy = VoiceCall.proxyAddress
        var lines = prologue(phones)
        lines += [
            #"[ -z "$failed" ] && say alice "/dial sip:bob@\#(proxy)" 127.0.0.21"#,
            #"await bob.out "Call established" 30"#,
            #"await alice.out "Call established" 30"#,
            "sleep 1",
            #"[ -z "$failed" ] && say alice "/transfer sip:\#(room)@\#(proxy)" 127.0.0.21"#,
            // bob's second established call is the one into the room.
            #"deadline=$((SECONDS + 30)); while [ -z "$failed" ] && [ "$(grep -c 'Call established' bob.out)" -lt 2 ]; do [ $SECONDS -lt $deadline ] || fail "bob did not follow the REFER"; sleep 0.1; done"#,
            #"log "bob followed the REFER""#,
            #"[ -z "$failed" ] && say carol "/dial sip:\#(room)@\#(proxy)" 127.0.0.23"#,
            #"await carol.out "Call established" 30"#,
            #"deadline=$((SECONDS + 40)); while [ -z "$failed" ] && ! { [ "$(recorded bob 2)" -ge "$AUDIO_BYTES" ] && [ "$(recorded carol)" -ge "$AUDIO_BYTES" ]; }; do [ $SECONDS -lt $deadline ] || fail "recordings too short"; sleep 0.1; done"#,
            #""$SIPCTL" conference list --json > conference.json 2> conference.err; log "conference list: $?""#,
            #""$SIPCTL" conference list > conference.txt 2>&1"#,
        ]
        for phone in phones {
            lines.append(#"say \#(phone.name) /hangup \#(phone.address); sleep 0.3; say \#(phone.name) /hangup \#(phone.address)"#)
        }
        lines.append("sleep 1")
        lines.append(#""$SIPCTL" conference list --json > conference-after.json 2>&1"#)
        return (lines + epilogue(phones)).joined(separator: "\n") + "\n"
    }

    /// Proxy and phones started, every phone registered.
    static func prologue(_ phones: [VoiceCall.Phone]) -> [String] {
        var lines = [
            "set -u", "ip link set lo up",
            #"log() { echo "$(date +%T.%N | cut -c1-12) $*" >> script.log; }"#,
            #"failed=""; fail() { failed="$*"; log "FAILED: $failed"; return 1; }"#,
            #"await() { [ -z "$failed" ] || return 1; local deadline=$((SECONDS + $3)); until grep -qF -- "$2" "$1" 2>/dev/null; do [ $SECONDS -lt $deadline ] || { fail "no '$2' in $1 within $3 s"; return 1; }; sleep 0.1; done; log "$1: $2"; }"#,
            // The size of a phone's Nth recording (by name, which starts with its time), 0 while there is none.
            #"recorded() { local f; f=$(ls "$1"/rec/*-dec.wav 2>/dev/null | sort | sed -n "${2:-1}p"); [ -n "$f" ] && stat -c %s "$f" || echo 0; }"#,
            #"say() { printf '%s\n' "$2" > "/dev/udp/$3/5555" && log "told $1: $2"; }"#,
            #"stop() { local deadline=$((SECONDS + $3)); while kill -0 "$2" 2>/dev/null; do [ $SECONDS -ge $deadline ] && { kill -KILL "$2"; break; }; sleep 0.1; done; wait "$2"; log "$1 exited: $?"; }"#,
            #""$SIPCTL" serve --listen \#(VoiceCall.proxyAddress) --log-level info "$@" > proxy.stdout 2> proxy.stderr &"#,
            "proxy=$!",
            #"await proxy.stdout "SIPProxy ready" 30"#,
        ]
        for phone in phones {
            lines.append(#"timeout -s KILL "$LIFETIME" "$BARESIP" -s -n \#(phone.address) -f "$PWD/\#(phone.name)" > \#(phone.name).out 2>&1 &"#)
            lines.append("\(phone.name)=$!")
        }
        for phone in phones {
            lines.append(#"await \#(phone.name).out "\#(phone.name)@\#(VoiceCall.proxyIP): {0/UDP/v4} 200 OK" 30"#)
        }
        return lines
    }

    /// Phones and proxy stopped.
    static func epilogue(_ phones: [VoiceCall.Phone]) -> [String] {
        var lines: [String] = []
        for phone in phones {
            lines.append(#"say \#(phone.name) /quit \#(phone.address); stop \#(phone.name) $\#(phone.name) 15"#)
        }
        return lines + ["kill -TERM $proxy 2>/dev/null", "stop proxy $proxy 15", #"[ -z "$failed" ] && log "done""#, "true"]
    }

    static func script(_ phones: [VoiceCall.Phone]) -> String {
        let proxy = VoiceCall.proxyAddress
        var lines = prologue(phones)
        for phone in phones {
            lines.append(#"[ -z "$failed" ] && say \#(phone.name) "/dial sip:\#(room)@\#(proxy)" \#(phone.address)"#)
            lines.append(#"await \#(phone.name).out "Call established" 30"#)
        }
        let all = phones.map { #"[ "$(recorded \#($0.name))" -ge "$AUDIO_BYTES" ]"# }.joined(separator: " && ")
        lines.append(#"deadline=$((SECONDS + 40)); while [ -z "$failed" ] && ! { \#(all); }; do [ $SECONDS -lt $deadline ] || fail "recordings too short"; sleep 0.1; done"#)
        lines.append(#""$SIPCTL" conference list --json > conference.json 2> conference.err; log "conference list: $?""#)
        lines.append(#""$SIPCTL" conference list > conference.txt 2>&1"#)
        for phone in phones {
            lines.append(#"say \#(phone.name) /hangup \#(phone.address)"#)
        }
        for phone in phones {
            lines.append(#"await \#(phone.name).out "terminated" 20"#)
        }
        lines.append(#""$SIPCTL" conference list --json > conference-after.json 2>&1"#)
        return (lines + epilogue(phones)).joined(separator: "\n") + "\n"
    }

    struct Result {
        let directory: URL
        let run: ToolRun
        let scriptLog: String
        let proxyLog: String
        let journal: String
        /// What each phone heard, analysed at the three tones.
        let heard: [String: ToneReport]
        let phoneConsoles: [String: String]
        let conferenceJSON: String
        let conferenceText: String
        let conferenceAfter: String

        var completed: Bool { run.succeeded && scriptLog.split(separator: "\n").last?.hasSuffix(" done") == true }

        var context: String {
            var out = "directory: \(directory.path)\n--- script ---\n\(scriptLog)\n--- proxy ---\n\(tail(proxyLog, maxLines: 40))\n"
            for (name, console) in phoneConsoles.sorted(by: { $0.key < $1.key }) {
                out += "--- \(name) ---\n\(tail(TracedSIPMessage.withoutTrace(console), maxLines: 15))\n"
            }
            return out
        }
    }

    static func run(
        proxyArguments: [String], audioSeconds: Double = 3, phones: [VoiceCall.Phone] = phones, script: String? = nil
    ) async throws -> Result {
        guard let baresip = ToolRunner.which("baresip"), let unshare = ToolRunner.which("unshare"),
            let bash = ToolRunner.which("bash")
        else {
            throw TestSupportError("baresip (baresip-core), unshare and bash are needed; scripts/setup.sh installs them")
        }
        let dir = try TestEnvironment.makeTemporaryDirectory("conference")
        for phone in phones {
            let home = dir.appendingPathComponent(phone.name)
            let recordings = home.appendingPathComponent("rec")
            try FileManager.default.createDirectory(at: recordings, withIntermediateDirectories: true)
            try Data(VoiceCall.config(phone, recordings: recordings.path).utf8).write(to: home.appendingPathComponent("config"))
            try Data("<sip:\(phone.name)@\(VoiceCall.proxyAddress);transport=udp>;regint=300\(phone.accountParameters)\n".utf8)
                .write(to: home.appendingPathComponent("accounts"))
        }
        try Data((script ?? Self.script(phones)).utf8).write(to: dir.appendingPathComponent("conference.sh"))
        let arguments = proxyArguments + ProxyProcess.workerArguments(proxyArguments) + ProxyProcess.overloadArguments(proxyArguments)
        let run = try await ToolRunner.run("/usr/bin/env", [
            "SIPCTL=\(try TestEnvironment.sipctlBinary())", "BARESIP=\(baresip)", "LIFETIME=150",
            "AUDIO_BYTES=\(44 + Int(audioSeconds * 8000) * 2)",
            unshare, "-n", "-p", "-f", "--mount-proc", "--kill-child", "--", bash, "conference.sh",
        ] + arguments, in: dir, timeout: 180)
        var heard: [String: ToneReport] = [:]
        var consoles: [String: String] = [:]
        for phone in phones {
            consoles[phone.name] = readText(dir.appendingPathComponent("\(phone.name).out"))
            let recordings = dir.appendingPathComponent("\(phone.name)/rec")
            let file = ((try? FileManager.default.contentsOfDirectory(atPath: recordings.path)) ?? [])
                .filter { $0.hasSuffix("-dec.wav") }.sorted().last
            if let file, let wave = try? PCMWave.read(recordings.appendingPathComponent(file)) {
                heard[phone.name] = ToneAnalysis.analyze(wave, frequencies: phones.map { Double($0.tone) })
            }
        }
        return Result(
            directory: dir, run: run, scriptLog: readText(dir.appendingPathComponent("script.log")),
            proxyLog: readText(dir.appendingPathComponent("proxy.stderr")),
            journal: readText(dir.appendingPathComponent("calls.jsonl")), heard: heard, phoneConsoles: consoles,
            conferenceJSON: readText(dir.appendingPathComponent("conference.json")),
            conferenceText: readText(dir.appendingPathComponent("conference.txt")),
            conferenceAfter: readText(dir.appendingPathComponent("conference-after.json"))
        )
    }
}
