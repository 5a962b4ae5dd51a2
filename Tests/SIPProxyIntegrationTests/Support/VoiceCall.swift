import Foundation

/// One SIP message from a baresip SIP trace (`baresip -s`).
struct TracedSIPMessage: Sendable {
    /// `UDP`, `TCP` or `TLS`.
    let transport: String
    let source: String
    let destination: String
    /// The message as sent, CRLF line ends, body included.
    let text: String

    /// `INVITE sip:bob@… SIP/2.0` or `SIP/2.0 200 OK`.
    var startLine: String {
        String(text.prefix { $0 != "\r\n" && $0 != "\n" })
    }

    /// Where the trace marks a message: ESC[36;1m, `#` and a line end before it, ESC[;m after it.
    private static let start = "\u{1B}[36;1m#\n", end = "\u{1B}[;m"

    /// The console without the trace's messages (for failure messages, which list them by start line).
    static func withoutTrace(_ console: String) -> String {
        let pieces = console.split(separator: start, omittingEmptySubsequences: false)
        var out = String(pieces[0])
        for piece in pieces.dropFirst() {
            guard let close = piece.firstRange(of: end) else { continue }
            let rest = piece[close.upperBound...]
            out += rest.first == "\n" ? rest.dropFirst() : rest
        }
        return out
    }

    /// Messages in a baresip console output with SIP trace on: each is printed as ESC[36;1m, `#`, a line
    /// `UDP 127.0.0.10:5060 -> 127.0.0.21:5062`, the message, and ESC[;m.
    static func parse(console: String) -> [TracedSIPMessage] {
        var messages: [TracedSIPMessage] = []
        // The first piece is what came before the first message.
        for piece in console.split(separator: start, omittingEmptySubsequences: false).dropFirst() {
            guard let close = piece.firstRange(of: end), let lineEnd = piece.firstIndex(of: "\n") else { continue }
            let header = piece[..<lineEnd].split(separator: " ")
            guard header.count == 4, header[2] == "->", lineEnd < close.lowerBound else { continue }
            let text = piece[piece.index(after: lineEnd)..<close.lowerBound]
            messages.append(TracedSIPMessage(transport: String(header[0]), source: String(header[1]),
                                             destination: String(header[3]), text: String(text)))
        }
        return messages
    }
}

/// What one phone of a voice call did: its console, the SIP it exchanged, and the audio it heard and sent.
struct VoicePhone: Sendable {
    let name: String
    let address: String
    let tone: Double
    /// baresip's console output (log lines and the SIP trace).
    let console: String
    /// SIP messages the phone received (trace entries addressed to it).
    let receivedSIP: [TracedSIPMessage]
    let sentSIP: [TracedSIPMessage]
    /// The recording of what the phone received, as decoded (sndfile's `…-dec.wav`), and its analysis.
    let heardRecording: URL?
    let heard: ToneReport?
    /// What the phone sent, before encoding (`…-enc.wav`): proves the tone source ran, when `heard` is wrong.
    let spoke: ToneReport?
    /// Why a recording is missing or could not be read.
    let recordingProblems: [String]

    /// Received requests and responses with this start line prefix, e.g. `INVITE ` or `SIP/2.0 200`.
    func received(_ startLinePrefix: String) -> [TracedSIPMessage] {
        receivedSIP.filter { $0.startLine.hasPrefix(startLinePrefix) }
    }
}

/// Everything a voice-call test asserts on; `context` is the failure message.
struct VoiceCallResult: Sendable {
    let directory: URL
    let run: ToolRun
    /// The script's own timeline (`script.log`): each awaited log line, each command, and `FAILED: …` or `done`.
    let scriptLog: String
    let alice: VoicePhone
    let bob: VoicePhone
    /// `sipctl serve`'s log (stderr, info level) and its call journal (`calls.jsonl`).
    let proxyLog: String
    let journal: String

    /// The script ran every step (no wait timed out) and ended normally.
    var completed: Bool {
        run.succeeded && scriptLog.split(separator: "\n").last?.hasSuffix(" done") == true
    }

    /// The script's `FAILED: …` line, or how the run ended when it has none.
    var failedStep: String {
        if let line = scriptLog.split(separator: "\n").first(where: { $0.contains(" FAILED: ") }) {
            return String(line)
        }
        return run.timedOut ? "killed after the time limit"
            : "exit \(run.status), script.log ends: \(scriptLog.suffix(200))"
    }

    var context: String {
        func phone(_ p: VoicePhone) -> String {
            let sip = p.receivedSIP.map { "  \($0.source) \($0.startLine)" }.joined(separator: "\n")
            let console = TracedSIPMessage.withoutTrace(p.console)  // its SIP is summarized above
            return """
                --- \(p.name) (\(p.address), sends \(Int(p.tone)) Hz) ---
                heard: \(p.heard.map(String.init(describing:)) ?? "nothing")
                spoke: \(p.spoke.map(String.init(describing:)) ?? "nothing")
                \(p.recordingProblems.joined(separator: "\n"))
                received SIP:
                \(sip)
                console:
                \(tail(console, maxLines: 40))
                """
        }
        return """
            working directory (kept on failure): \(directory.path)
            \(run)
            --- script.log ---
            \(scriptLog)
            \(phone(alice))
            \(phone(bob))
            --- proxy ---
            \(tail(proxyLog, maxLines: 60))
            """
    }
}

/// A real call with voice: `sipctl serve` and two baresip phones in a network and PID namespace of their own
/// (loopback only; when the test's timeout kills `unshare`, the kernel kills every process in the namespace), with
/// /proc mounted for that PID namespace: the host's /proc there names other processes by the namespace's small
/// process ids, which once left a crashing `sipctl` without its backtrace.
/// alice (127.0.0.21) sends a 440 Hz tone, bob (127.0.0.22) a 1000 Hz one; bob answers by itself; alice calls him,
/// hangs up once both phones have recorded `audioSeconds` of what they received, and both quit.
///
/// The phones run baresip 1.0 (Debian's baresip-core). Its aufile module is only a source there, so the received
/// audio is recorded by the sndfile filter module, which writes what the decoder produced (8 kHz mono for G.711) to
/// `<snd_path>/dump-<time>-dec.wav`, and what was sent to `…-enc.wav`. The phones take commands over the cons
/// module's UDP console (port 5555), so the script dials and hangs up when the logs say so rather than after fixed
/// times. Every wait of the script has a limit, and each phone a lifetime (`timeout -s KILL`).
///
/// Mind for media through the proxy: `-n` binds only the phones' SIP; their RTP sockets are bound to any address,
/// so RTP arrives from 127.0.0.1 (at the port of the SDP), not from the SDP's 127.0.0.21 or 127.0.0.22.
enum VoiceCall {
    struct Phone: Sendable {
        let name: String
        let address: String
        let sipPort: Int
        let tone: Int
        /// Appended to the account line.
        let accountParameters: String
    }

    static let proxyIP = "127.0.0.10"
    static let proxyAddress = "\(proxyIP):5060"
    static let alice = Phone(name: "alice", address: "127.0.0.21", sipPort: 5062, tone: 440, accountParameters: "")
    static let bob = Phone(name: "bob", address: "127.0.0.22", sipPort: 5064, tone: 1000,
                           accountParameters: ";answermode=auto")
    static let frequencies: [Double] = [Double(alice.tone), Double(bob.tone)]

    static func config(_ phone: Phone, recordings: String) -> String {
        // ausine runs only at 48 kHz stereo in baresip 1.0 ("ausine: supports only 2 channels" otherwise); the
        // audio core resamples it to the codec's 8 kHz mono. No audio_player: nothing needs to play, sndfile takes
        // the decoded audio on its way to the (absent) player. statmode_default off stops the call status line
        // that menu prints ten times a second.
        """
        poll_method epoll
        sip_listen \(phone.address):\(phone.sipPort)
        audio_source ausine,\(phone.tone)
        ausrc_srate 48000
        ausrc_channels 2
        audio_alert aufile,/dev/null
        snd_path \(recordings)
        statmode_default off
        cons_listen \(phone.address):5555
        dns_server 127.0.0.1:53
        module_path /usr/lib/baresip/modules
        module g711.so
        module g722.so
        module opus.so
        module ausine.so
        module aufile.so
        module sndfile.so
        module cons.so
        module_app account.so
        module_app menu.so

        """
    }

    /// The script run inside the namespaces; its arguments are the extra proxy arguments. It logs its steps to
    /// script.log, and after the first wait that times out it skips the remaining steps but still stops everything.
    static let script = """
        set -u
        ip link set lo up
        log() { echo "$(date +%T.%N | cut -c1-12) $*" >> script.log; }
        failed=""
        fail() { failed="$*"; log "FAILED: $failed"; return 1; }
        # NAME:PID of the processes started so far: a wait ends early when one of them has exited (a proxy that
        # rejected its arguments, a phone that could not bind) instead of running into its time limit.
        running=""
        gone() {
            local p
            for p in $running; do kill -0 "${p#*:}" 2>/dev/null || { fail "${p%:*} exited early"; return 0; }; done
            return 1
        }
        # await FILE TEXT SECONDS: until FILE contains TEXT (a fixed string).
        await() {
            [ -z "$failed" ] || return 1
            local deadline=$((SECONDS + $3))
            until grep -qF -- "$2" "$1" 2>/dev/null; do
                gone && return 1
                [ $SECONDS -lt $deadline ] || { fail "no '$2' in $1 within $3 s"; return 1; }
                sleep 0.1
            done
            log "$1: $2"
        }
        # Bytes in the recording of what phone $1 heard (0 before the call's audio starts).
        recorded() {
            local f
            for f in "$1"/rec/*-dec.wav; do [ -f "$f" ] && { stat -c %s "$f"; return; }; done
            echo 0
        }
        # await_audio BYTES SECONDS: until both phones' recordings have BYTES (sndfile writes as it goes).
        await_audio() {
            [ -z "$failed" ] || return 1
            local deadline=$((SECONDS + $2))
            until [ "$(recorded alice)" -ge "$1" ] && [ "$(recorded bob)" -ge "$1" ]; do
                gone && return 1
                if [ $SECONDS -ge $deadline ]; then
                    fail "recordings of $(recorded alice) and $(recorded bob) bytes, not $1, within $2 s"; return 1
                fi
                sleep 0.1
            done
            log "recorded: alice $(recorded alice), bob $(recorded bob) bytes"
        }
        # say PHONE COMMAND ADDRESS: a command line to the phone's cons console (bash's /dev/udp).
        say() {
            if printf '%s\\n' "$2" > "/dev/udp/$3/5555"; then log "told $1: $2"; else log "could not tell $1: $2"; fi
        }
        # stop NAME PID SECONDS: waits for the process to exit, and kills it after SECONDS.
        stop() {
            local name=$1 pid=$2 deadline=$((SECONDS + $3))
            while kill -0 "$pid" 2>/dev/null; do
                if [ $SECONDS -ge $deadline ]; then
                    log "$name did not exit within $3 s: killed"; kill -KILL "$pid"; break
                fi
                sleep 0.1
            done
            wait "$pid"
            log "$name exited: $?"
        }
        # Not under timeout(1) like the phones: this script inherits the test runner's signal mask, with SIGTERM
        # blocked, and timeout would never pass the SIGTERM on (sipctl unblocks it itself). The PID namespace
        # bounds the proxy's life instead.
        "$SIPCTL" serve --listen \(proxyAddress) --log-level info "$@" > proxy.stdout 2> proxy.stderr &
        proxy=$!
        running="proxy:$proxy"
        await proxy.stdout "SIPProxy ready" 30
        alice="" bob=""
        if [ -z "$failed" ]; then
            timeout -s KILL "$LIFETIME" "$BARESIP" -s -n \(bob.address) -f "$PWD/bob" > bob.out 2>&1 &
            bob=$!
            timeout -s KILL "$LIFETIME" "$BARESIP" -s -n \(alice.address) -f "$PWD/alice" > alice.out 2>&1 &
            alice=$!
            running="$running bob:$bob alice:$alice"
        fi
        # Registered means the proxy knows bob, and that cons (loaded before the accounts register) listens.
        await bob.out "bob@\(proxyIP): {0/UDP/v4} 200 OK" 30
        await alice.out "alice@\(proxyIP): {0/UDP/v4} 200 OK" 30
        [ -z "$failed" ] && say alice "/dial sip:bob@\(proxyAddress)" \(alice.address)
        await alice.out "Call established" 30
        await bob.out "Call established" 30
        await_audio "$AUDIO_BYTES" "$AUDIO_WAIT"
        if [ -n "$alice" ]; then
            # Hang up and quit even after a failed step: the phones end the call and finish their recordings.
            say alice /hangup \(alice.address)
            await alice.out "terminated" 30
            await bob.out "terminated" 30
            say alice /quit \(alice.address)
            say bob /quit \(bob.address)
            stop alice $alice 15
            stop bob $bob 15
        fi
        kill -TERM $proxy 2>/dev/null
        stop proxy $proxy 15
        [ -z "$failed" ] && log "done"
        true
        """

    /// Runs the call with `sipctl serve --listen 127.0.0.10:5060 <proxyArguments>` (no auth) in a new temporary
    /// directory, which the caller removes when its test passed. Throws only when the test cannot run at all.
    static func run(proxyArguments: [String] = [], audioSeconds: Double = 3,
                    label: String = "voice") async throws -> VoiceCallResult {
        guard let baresip = ToolRunner.which("baresip"), let unshare = ToolRunner.which("unshare"),
            let bash = ToolRunner.which("bash"), ToolRunner.which("timeout") != nil
        else {
            throw TestSupportError(
                "baresip (baresip-core), unshare, timeout and bash are needed; scripts/setup.sh installs them")
        }
        let dir = try TestEnvironment.makeTemporaryDirectory(label)
        for phone in [alice, bob] {
            let home = dir.appendingPathComponent(phone.name)
            let recordings = home.appendingPathComponent("rec")
            try FileManager.default.createDirectory(at: recordings, withIntermediateDirectories: true)
            try Data(config(phone, recordings: recordings.path).utf8).write(to: home.appendingPathComponent("config"))
            let account = "<sip:\(phone.name)@\(proxyAddress);transport=udp>;regint=300\(phone.accountParameters)\n"
            try Data(account.utf8).write(to: home.appendingPathComponent("accounts"))
        }
        try Data(script.utf8).write(to: dir.appendingPathComponent("voice-call.sh"))
        // 8 kHz, 16 bits, mono after the 44-byte header sndfile writes.
        let audioBytes = 44 + Int(audioSeconds * 8000) * 2
        // The same worker count and overload delay as every other integration test's proxy, unless overridden.
        let arguments = proxyArguments + ProxyProcess.workerArguments(proxyArguments)
            + ProxyProcess.overloadArguments(proxyArguments)
        let run = try await ToolRunner.run("/usr/bin/env", [
            "SIPCTL=\(try TestEnvironment.sipctlBinary())", "BARESIP=\(baresip)", "LIFETIME=150",
            "AUDIO_BYTES=\(audioBytes)", "AUDIO_WAIT=\(Int(audioSeconds) + 30)",
            // -p with -f: the script is the PID namespace's init; --kill-child: it dies with unshare.
            unshare, "-n", "-p", "-f", "--mount-proc", "--kill-child", "--", bash, "voice-call.sh",
        ] + arguments, in: dir, timeout: 180)

        func result(_ phone: Phone) -> VoicePhone {
            let name = phone.name, address = phone.address
            let console = readText(dir.appendingPathComponent("\(name).out"))
            let sip = TracedSIPMessage.parse(console: console)
            var problems: [String] = []
            func analysis(_ suffix: String) -> (URL?, ToneReport?) {
                let recordings = dir.appendingPathComponent("\(name)/rec")
                let files = ((try? FileManager.default.contentsOfDirectory(atPath: recordings.path)) ?? [])
                    .filter { $0.hasSuffix(suffix) }.sorted()
                guard let file = files.last.map({ recordings.appendingPathComponent($0) }) else {
                    problems.append("no \(name)/rec/*\(suffix)")
                    return (nil, nil)
                }
                if files.count > 1 { problems.append("\(files.count) recordings *\(suffix), analysed the last") }
                do {
                    return (file, ToneAnalysis.analyze(try PCMWave.read(file), frequencies: frequencies))
                } catch {
                    problems.append("\(file.lastPathComponent): \(error)")
                    return (file, nil)
                }
            }
            let (heardFile, heard) = analysis("-dec.wav")
            let (_, spoke) = analysis("-enc.wav")
            return VoicePhone(
                name: name, address: address, tone: Double(phone.tone), console: console,
                receivedSIP: sip.filter { $0.destination.hasPrefix(address + ":") },
                sentSIP: sip.filter { $0.source.hasPrefix(address + ":") },
                heardRecording: heardFile, heard: heard, spoke: spoke, recordingProblems: problems
            )
        }
        return VoiceCallResult(
            directory: dir, run: run,
            scriptLog: readText(dir.appendingPathComponent("script.log")),
            alice: result(alice),
            bob: result(bob),
            proxyLog: readText(dir.appendingPathComponent("proxy.stderr")),
            journal: readText(dir.appendingPathComponent("calls.jsonl"))
        )
    }
}
