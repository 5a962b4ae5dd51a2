#!/usr/bin/env bash
# SIPProxy media relay benchmark (not a test): N concurrent G.711 calls through `sipctl serve --media relay`,
# each streaming 50 RTP packets/s each way, measured over loopback. Reports relayed packets/s, the relay's CPU-s
# per 1,000,000 relayed packets, loss, the relay's transit time and the jitter it adds; the same load through
# Kamailio + Debian's rtpengine-daemon in userspace (--table=-1) for comparison.
#
# Usage: Benchmarks/rtp-load.sh [--calls N[,N...]] [--duration SECONDS] [--capture SECONDS] [--setup-rate CPS]
#                               [--workers N[,N...]] [--trace-rtp off|headers|on] [--no-build] [--no-rtpengine]
# --calls: concurrent calls per run, default 50,200,500 (at most 1000).
# --duration: the CPU and counter window once every call streams, default 10 s.
# --capture: then a tcpdump window on lo for transit time, added jitter and loss, default 3 s.
# --setup-rate: calls set up per second before the windows, default 100.
# --workers: SIPProxy shards (serve --workers) and rtpengine threads (--num-threads), default 1.
# --trace-rtp: SIPProxy's --trace-rtp with the trace recorder on; default off runs --no-trace --trace-rtp off.
# --no-rtpengine: SIPProxy only. --no-build: use the release binary already built.
#
# Callees: SIPp UASes with -rtp_echo (every RTP packet back to where it came from), one per 100 calls. Caller:
# SIPp UAC, one RTPSTREAM per call (a mu-law file looped, payload type 0). So each packet crosses the relay
# twice: caller -> relay -> callee -> relay -> caller, 100 relayed packets/s per call.
# Loopback only (127.0.0.70 SIPProxy, .71 caller, .72 callee, .80 Kamailio and rtpengine). Every process started
# here is stopped on exit; every wait is bounded. Results are printed and written to a file in the temp dir.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCEN="$ROOT/Benchmarks/scenarios"

CALLS="50,200,500"
DURATION=10
CAPTURE=3
SETUP_RATE=100
WORKERS=1
TRACE_RTP=off
BUILD=1
DO_RTPENGINE=1

PROXY_IP=127.0.0.70
UAC_IP=127.0.0.71
UAS_IP=127.0.0.72
KAM_IP=127.0.0.80
SIP_PORT=5060
UAC_PORT=5070
MEDIA_PORT=6000
RTP_LOW=20000
RTP_HIGH=29999
NG_PORT=2223
CLI_PORT=9900
# Callee k (callee0, callee1, ...) answers on 127.0.0.72:(5060+k), echoes on media port 6000+4k (and +2); one
# per CALLS_PER_CALLEE calls: SIPp's echo socket keeps the kernel's default receive buffer (its -rtp_buffsize is
# not applied in 3.6.1), which a burst of 500 packets every 20 ms overflows.
CALLS_PER_CALLEE=100
# Seconds allowed for every call to be up and streaming after the ramp, then settling before the window.
UP_SLACK=10
SETTLE=2

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --calls) CALLS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --capture) CAPTURE="$2"; shift 2 ;;
        --setup-rate) SETUP_RATE="$2"; shift 2 ;;
        --workers) WORKERS="$2"; shift 2 ;;
        --trace-rtp) TRACE_RTP="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-rtpengine) DO_RTPENGINE=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done
whole() { case "$2" in ''|*[!0-9]*) echo "$1 takes whole numbers: '$2'" >&2; exit 2 ;; esac; }
whole --duration "$DURATION"; [ "$DURATION" -ge 1 ] && [ "$DURATION" -le 300 ] || { echo "--duration must be 1..300" >&2; exit 2; }
whole --capture "$CAPTURE"; [ "$CAPTURE" -ge 1 ] && [ "$CAPTURE" -le 30 ] || { echo "--capture must be 1..30" >&2; exit 2; }
whole --setup-rate "$SETUP_RATE"; [ "$SETUP_RATE" -ge 1 ] && [ "$SETUP_RATE" -le 1000 ] || { echo "--setup-rate must be 1..1000" >&2; exit 2; }
for n in ${CALLS//,/ }; do
    whole --calls "$n"; [ "$n" -ge 1 ] && [ "$n" -le 1000 ] || { echo "--calls out of range (1..1000): $n" >&2; exit 2; }
done
for w in ${WORKERS//,/ }; do
    whole --workers "$w"; [ "$w" -ge 1 ] && [ "$w" -le 16 ] || { echo "--workers out of range (1..16): $w" >&2; exit 2; }
done
case "$TRACE_RTP" in off|headers|on) ;; *) echo "--trace-rtp is off, headers or on" >&2; exit 2 ;; esac

log() { printf '[rtp-load %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------------------------------------- tools
# Debian packages whose postinst would start a daemon with its default config (Kamailio on 5060, rtpengine on
# 2223): installed with services kept from starting (a policy-rc.d that says no, only where there is none).
apt_install() {
    local added=0
    log "installing Debian's $*"
    apt-get update -q >/dev/null
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && added=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null || {
        [ "$added" = 1 ] && rm -f /usr/sbin/policy-rc.d; echo "apt-get install $* failed" >&2; exit 1; }
    [ "$added" = 1 ] && rm -f /usr/sbin/policy-rc.d
    return 0
}
command -v sipp >/dev/null 2>&1 || apt_install sip-tester
command -v tcpdump >/dev/null 2>&1 || apt_install tcpdump
if [ "$DO_RTPENGINE" = 1 ]; then
    command -v kamailio >/dev/null 2>&1 || apt_install kamailio
    { command -v rtpengine >/dev/null 2>&1 && command -v rtpengine-ctl >/dev/null 2>&1; } \
        || apt_install rtpengine-daemon rtpengine-utils
fi
PY=$(command -v python3) || { echo "python3 is needed to read the counters and the capture" >&2; exit 1; }
case "$(sipp -v 2>&1 || true)" in *RTPSTREAM*) ;; *) echo "this sipp has no RTPSTREAM support (Debian's sip-tester has)" >&2; exit 1 ;; esac
CLK_TCK=$(getconf CLK_TCK)

if [ "$BUILD" = 1 ]; then
    log "building release sipctl"
    (cd "$ROOT" && swift build -c release --scratch-path .build-release --product sipctl >&2)
fi
BIN="$ROOT/.build-release/release/sipctl"
[ -x "$BIN" ] || { echo "no release binary at $BIN (build it or drop --no-build)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/rtp-load.XXXXXX)
RESULTS="$WORK/results.txt"
ROWS="$WORK/rows.tsv"
: > "$ROWS"
log "work dir $WORK"

# ------------------------------------------------------------------------------------------- cleanup
PIDS=()
stop_pid() {
    local pid=$1 sig=${2:-TERM} i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -"$sig" "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------ /proc readings
# CPU ticks (utime+stime, all threads) of a process and of its direct children (Kamailio's workers; the SIPp
# under `timeout`).
cpu_ticks() {
    local root=$1 total=0 p fields
    for p in "$root" $(ps -o pid= --ppid "$root" 2>/dev/null); do
        fields=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        # after "pid (comm) ": state is field 1, utime field 12, stime field 13
        total=$((total + $(echo "$fields" | awk '{print $12 + $13}')))
    done
    echo "$total"
}
# One line per thread of a process: "tid ticks name" (utime+stime; names may have spaces).
thread_ticks() {
    local t fields
    for t in /proc/"$1"/task/*; do
        fields=$(sed 's/^.*) //' "$t/stat" 2>/dev/null) || continue
        echo "${t##*/} $(echo "$fields" | awk '{print $12 + $13}') $(cat "$t/comm" 2>/dev/null)"
    done
}
# thread_cpu BEFORE AFTER: the CPU-s each thread name took between two thread_ticks snapshots, busiest first,
# those with at least 0.05 s ("NIO-ELT-0-#0 8.10, ...").
thread_cpu() {
    "$PY" - "$1" "$2" "$CLK_TCK" <<'PY'
import sys
def load(p):
    d = {}
    for line in open(p):
        tid, ticks, name = (line.rstrip("\n").split(" ", 2) + [""])[:3]
        d[tid] = (int(ticks), name)
    return d
a, b, hz = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
by = {}
for tid, (ticks, name) in b.items():
    by[name] = by.get(name, 0) + ticks - a.get(tid, (0, name))[0]
print(", ".join("%s %.2f" % (n, t / hz) for n, t in sorted(by.items(), key=lambda x: -x[1]) if t / hz >= 0.05))
PY
}
# The machine: "busy softirq total" ticks over all cores from /proc/stat.
machine_ticks() {
    awk '/^cpu / {busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, $8, busy + $5 + $6; exit}' /proc/stat
}
# Receive-buffer drops of UDP sockets (the last column of /proc/net/udp): "relay callee caller", the relay's
# sockets being those on RELAY_IP within the RTP port range, the callees' their echo sockets (6000-6999 on
# UAS_IP), the caller's its media socket (never read: SIPp 3.6.1's RTPSTREAM only sends, so it drops every echo).
udp_drops() { # $1 = relay IP
    "$PY" - "$1" "$RTP_LOW" "$RTP_HIGH" "$UAS_IP" "$UAC_IP" "$MEDIA_PORT" <<'PY'
import socket, struct, sys
relay, low, high, callee, caller, media = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
def ip(h): return socket.inet_ntoa(struct.pack("<I", int(h, 16)))
out = {"relay": 0, "callee": 0, "caller": 0}
with open("/proc/net/udp") as f:
    next(f)
    for line in f:
        p = line.split()
        a, port = p[1].split(":")
        a, port, drops = ip(a), int(port, 16), int(p[-1])
        if a == relay and low <= port <= high: out["relay"] += drops
        elif a == callee and media <= port < media + 1000: out["callee"] += drops
        elif a == caller and port == media: out["caller"] += drops
print(out["relay"], out["callee"], out["caller"])
PY
}
# Packets the kernel dropped from its per-CPU input backlog (loopback delivery), summed over CPUs.
softnet_drops() { local s=0 d; for d in $(cut -d' ' -f2 /proc/net/softnet_stat); do s=$((s + 16#$d)); done; echo "$s"; }
now_s() { date +%s.%N; }
# Whether a UDP socket is bound to IP:PORT (IPv4, /proc/net/udp spells 127.0.0.72:6000 as 4800007F:1770).
udp_bound() {
    grep -qi " $(printf '%02X%02X%02X%02X:%04X' $(echo "$1" | awk -F. '{print $4, $3, $2, $1}') "$2") " /proc/net/udp
}
uas_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }

# ------------------------------------------------------------------------------------ relay counters
# relay_counters KIND DIR: "sessions packets lost pairs" — streaming sessions, packets relayed since start,
# sequence gaps seen arriving at the relay (SIPProxy only; "-" for rtpengine), port pairs in use.
relay_counters() {
    local kind=$1 dir=$2
    if [ "${kind#sipproxy}" != "$kind" ]; then
        timeout 10 "$BIN" media --json --socket "$dir/target/sipproxy.sock" 2>/dev/null | "$PY" -c '
import json, sys
try:
    m = json.load(sys.stdin)
except ValueError:
    print("0 0 0 0"); sys.exit()
up = packets = lost = 0
for s in m.get("sessions", []):
    for st in s.get("streams", []):
        a, b = st.get("fromCaller", {}), st.get("fromCallee", {})
        packets += a.get("packets", 0) + b.get("packets", 0)
        lost += a.get("lost", 0) + b.get("lost", 0)
        if s.get("answered") and a.get("packets", 0) > 0 and b.get("packets", 0) > 0: up += 1
print(up, packets, lost, m.get("pairsInUse", 0))' || echo "0 0 0 0"
    else
        # rtpengine's totals count the packets of running sessions too; sessions = calls it holds.
        { timeout 10 rtpengine-ctl -ip "$KAM_IP" -port "$CLI_PORT" list totals 2>/dev/null || true; } | awk '
            /^ *Total sessions *:/ {split($0, a, ":"); s = a[2] + 0}
            /^ *Total relayed packets *:/ {split($0, a, ":"); p = a[2] + 0}
            END {printf "%d %d - -\n", s, p}'
    fi
}

# ------------------------------------------------------------------------------------------- targets
RELAY_PID=
SIP_PID=
RELAY_IP=
TARGET_IP=
start_target() { # $1 = sipproxy-wN | rtpengine-wN, $2 = run dir
    local kind=$1 dir=$2 i workers=${1##*-w} trace=()
    mkdir -p "$dir"
    if [ "${kind#sipproxy}" != "$kind" ]; then
        TARGET_IP=$PROXY_IP
        RELAY_IP=$PROXY_IP
        if [ "$TRACE_RTP" = off ]; then trace=(--no-trace --trace-rtp off); else trace=(--trace-rtp "$TRACE_RTP"); fi
        # SIPp is one source setting up calls fast: exactly what the per-source rate limit (pike) bans.
        (cd "$dir" && exec "$BIN" serve --listen "$PROXY_IP:$SIP_PORT" --log-level warning --rate-limit off \
            --media relay --rtp-ports "$RTP_LOW-$RTP_HIGH" "${trace[@]}" --workers "$workers" \
            >"$dir/stdout.log" 2>"$dir/stderr.log") &
        RELAY_PID=$!
        SIP_PID=
        PIDS+=("$RELAY_PID")
        for i in $(seq 1 100); do
            grep -q "SIPProxy ready" "$dir/stdout.log" 2>/dev/null && return 0
            kill -0 "$RELAY_PID" 2>/dev/null || break
            sleep 0.1
        done
        echo "sipctl did not become ready; stderr:" >&2; cat "$dir/stderr.log" >&2; exit 1
    else
        TARGET_IP=$KAM_IP
        RELAY_IP=$KAM_IP
        # Userspace forwarding (--table=-1: no kernel module), no config file, warnings only, sessions deleted at
        # once on delete, the same port range as SIPProxy.
        (cd "$dir" && exec rtpengine --config-file=none --foreground --log-stderr --log-level=4 --table=-1 \
            --interface="$KAM_IP" --listen-ng="$KAM_IP:$NG_PORT" --listen-cli="$KAM_IP:$CLI_PORT" \
            --port-min="$RTP_LOW" --port-max="$RTP_HIGH" --num-threads="$workers" --delete-delay=0 \
            --no-redis-required --pidfile="$dir/rtpengine.pid" >"$dir/rtpengine.log" 2>&1) &
        RELAY_PID=$!
        PIDS+=("$RELAY_PID")
        for i in $(seq 1 100); do
            timeout 5 rtpengine-ctl -ip "$KAM_IP" -port "$CLI_PORT" list numsessions >/dev/null 2>&1 && break
            kill -0 "$RELAY_PID" 2>/dev/null || { echo "rtpengine exited; log:" >&2; tail -20 "$dir/rtpengine.log" >&2; exit 1; }
            sleep 0.1
        done
        # Kamailio pings rtpengine when it starts and marks it unusable for a minute if that fails: start it
        # only once rtpengine answers.
        (cd "$dir" && exec kamailio -f "$ROOT/Benchmarks/kamailio-rtpengine.cfg" -DD -E -m 256 -M 16 -n 1 \
            -P "$dir/kamailio.pid" -w "$dir" >"$dir/kamailio.out" 2>"$dir/kamailio.err") &
        SIP_PID=$!
        PIDS+=("$SIP_PID")
        for i in $(seq 1 100); do
            # 5000007F:13C4 = 127.0.0.80:5060 in /proc/net/udp
            if grep -qi "$(printf '%02X%02X%02X%02X:%04X' $(echo "$KAM_IP" | awk -F. '{print $4, $3, $2, $1}') "$SIP_PORT")" \
                /proc/net/udp 2>/dev/null; then sleep 1; return 0; fi
            kill -0 "$SIP_PID" 2>/dev/null || break
            sleep 0.1
        done
        echo "kamailio did not start; stderr:" >&2; tail -30 "$dir/kamailio.err" >&2; exit 1
    fi
}
TARGET_NOTE=
# Notes in TARGET_NOTE when the relay (or Kamailio) died during the run: its figures are then meaningless.
check_target() {
    local pid status name
    TARGET_NOTE=
    for pid in $RELAY_PID $SIP_PID; do
        kill -0 "$pid" 2>/dev/null && continue
        name=$([ "$pid" = "$RELAY_PID" ] && echo relay || echo kamailio)
        wait "$pid" 2>/dev/null && status=0 || status=$?
        TARGET_NOTE+="${TARGET_NOTE:+; }$name DIED (exit status $status"
        [ "$status" -gt 128 ] && TARGET_NOTE+=", signal $(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128)))"
        TARGET_NOTE+=")"
        log "$name died; see $1"
    done
}
stop_target() {
    [ -n "$SIP_PID" ] && stop_pid "$SIP_PID"
    stop_pid "$RELAY_PID"
    RELAY_PID=; SIP_PID=
}

# ----------------------------------------------------------------------------------------- the audio
# 2 s of a 440 Hz tone as raw 8 kHz mu-law (G.711 u-law, ITU-T G.711 segment encoding), looped by SIPp.
write_audio() {
    "$PY" - "$1" <<'PY'
import math, sys
def ulaw(x):
    sign = 0x80 if x < 0 else 0
    x = min(abs(x), 32635) + 0x84
    exp, mask = 7, 0x4000
    while exp > 0 and not x & mask:
        exp, mask = exp - 1, mask >> 1
    return ~(sign | exp << 4 | (x >> (exp + 3)) & 0x0F) & 0xFF
with open(sys.argv[1], "wb") as f:
    f.write(bytes(ulaw(int(8000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(16000)))
PY
}

# ------------------------------------------------------------------------------------- the capture
# analyse_capture PCAP: pairs each RTP packet entering the relay with the one leaving it (same SSRC and sequence
# number, same direction: caller->callee or callee->caller) and prints
# "in out paired lost p50_us p99_us max_us ipdv_p50_us ipdv_p99_us seconds out_pps"
# lost = packets in that never came out. Those in the first 50 ms and the last 200 ms (or the longest transit seen
# plus 50 ms) of the capture are not judged: the last may still be in the relay, and the first may have left
# before tcpdump saw everything (a run showed 4 such packets, all in the capture's first 150 microseconds).
# ipdv = |transit - transit of the stream's previous packet| (RFC 3393 delay variation): the jitter the relay adds.
analyse_capture() {
    "$PY" - "$1" "$RELAY_IP" "$UAC_IP" "$UAS_IP" <<'PY'
import struct, sys
path, relay, caller, callee = sys.argv[1:5]
def aton(s): return bytes(int(x) for x in s.split("."))
relay, caller, callee = aton(relay), aton(caller), aton(callee)
with open(path, "rb") as f:
    data = f.read()
if len(data) < 24:
    print("0 0 0 0 nan nan nan nan nan 0 0"); sys.exit()
magic = struct.unpack("<I", data[:4])[0]
endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
nano = struct.unpack(endian + "I", data[:4])[0] == 0xa1b23c4d
link = struct.unpack(endian + "I", data[20:24])[0]
skip = {1: 14, 113: 16, 276: 20, 101: 0, 0: 4}.get(link)
if skip is None:
    print("unknown link type", link, file=sys.stderr); sys.exit(1)
ins, outs = {}, {}
first = last = None
off = 24
while off + 16 <= len(data):
    sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
    pkt = data[off + 16:off + 16 + incl]
    off += 16 + incl
    t = sec + frac / (1e9 if nano else 1e6)
    ipb = pkt[skip:]
    if len(ipb) < 20 or ipb[0] >> 4 != 4 or ipb[9] != 17: continue
    ihl = (ipb[0] & 15) * 4
    src, dst = ipb[12:16], ipb[16:20]
    udp = ipb[ihl:]
    rtp = udp[8:]
    if len(rtp) < 12 or rtp[0] >> 6 != 2 or 72 <= (rtp[1] & 0x7f) <= 76: continue   # RTP only, not RTCP
    seq = struct.unpack(">H", rtp[2:4])[0]
    ssrc = struct.unpack(">I", rtp[8:12])[0]
    first = t if first is None else first
    last = t
    if dst == relay and src != relay:
        d = "c2e" if src == caller else "e2c" if src == callee else None
        if d: ins.setdefault((d, ssrc, seq), t)
    elif src == relay and dst != relay:
        d = "c2e" if dst == callee else "e2c" if dst == caller else None
        if d: outs.setdefault((d, ssrc, seq), t)
if first is None:
    print("0 0 0 0 nan nan nan nan nan 0 0"); sys.exit()
transit, unmatched, streams = [], [], {}
for key, t in ins.items():
    o = outs.get(key)
    if o is not None and o >= t:
        transit.append(o - t)
        streams.setdefault(key[:2], []).append((key[2], o - t))
    else:
        unmatched.append(t)
# A packet still inside the relay when the capture stopped is not lost: the end guard is 200 ms or the longest
# transit seen plus 50 ms, whichever is longer.
end = last - max(0.2, (max(transit) if transit else 0) + 0.05)
lost = sum(1 for t in unmatched if first + 0.05 < t < end)
ipdv = []
for pkts in streams.values():
    pkts.sort()
    for (s0, t0), (s1, t1) in zip(pkts, pkts[1:]):
        if s1 == s0 + 1: ipdv.append(abs(t1 - t0))
def pct(v, q):
    if not v: return float("nan")
    v.sort()
    return v[min(len(v) - 1, int(q * len(v)))] * 1e6
secs = last - first
print(len(ins), len(outs), len(transit), lost, "%.0f" % pct(transit, 0.5), "%.0f" % pct(transit, 0.99),
      "%.0f" % (max(transit) * 1e6 if transit else float("nan")), "%.0f" % pct(ipdv, 0.5), "%.0f" % pct(ipdv, 0.99),
      "%.2f" % secs, "%.0f" % (len(outs) / secs if secs > 0 else 0))
PY
}

# --------------------------------------------------------------------------------------------- sipp
# SIPp's summary of a finished UAC run: "created successful failed".
uac_summary() {
    "$PY" - "$1/stats.csv" <<'PY'
import csv, sys
try:
    with open(sys.argv[1], newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
except OSError:
    rows = []
if not rows:
    print("0 0 0"); sys.exit()
last = rows[-1]
def num(k):
    try: return int(last.get(k, "0") or 0)
    except ValueError: return 0
print(num("OutgoingCall(C)"), num("SuccessfulCall(C)"), num("FailedCall(C)"))
PY
}
failure_causes() {
    cat "$1"/*_errors.log 2>/dev/null | grep -o "Aborting call on [a-zA-Z ]*\|while expecting '[0-9A-Z]*' (index [0-9]*), received 'SIP/2.0 [0-9]* [A-Za-z ]*" \
        | sort | uniq -c | sort -rn | head -3 \
        | awk '{n = $1; $1 = ""; printf "%s%s x%s", sep, substr($0, 2), n; sep = "; "}' || true
}

ticks_s() { awk -v t="$1" -v h="$CLK_TCK" 'BEGIN {printf "%.2f", t / h}'; }

# ---------------------------------------------------------------------------------------------- one run
bench() { # $1 = kind (sipproxy-wN | rtpengine-wN), $2 = concurrent calls
    RUN=$((RUN + 1))
    local kind=$1 n=$2 dir=$WORK/$RUN-$1-$2 ramp hold callees k uas_pids uac_pid t_start deadline c0 c1 i up
    local w0 w1 t0 t1 r0 r1 k0 k1 a0 a1 b0 b1 m0 m1 d0 d1 d2 s0 s1 s2 tcpd cap note=""
    log "$kind, $n calls"
    start_target "$kind" "$dir/target"
    ramp=$(( (n + SETUP_RATE - 1) / SETUP_RATE ))
    # Every call is held until the windows are over: the last one is set up after the ramp, the first hangs up
    # after `hold`.
    hold=$((ramp + UP_SLACK + SETTLE + DURATION + CAPTURE + 3))
    # Each callee registers from the IP:port its UAS then answers on.
    callees=$(( (n + CALLS_PER_CALLEE - 1) / CALLS_PER_CALLEE ))
    mkdir -p "$dir/uac"
    echo SEQUENTIAL > "$dir/uac/callees.csv"
    uas_pids=()
    for k in $(seq 0 $((callees - 1))); do
        echo "callee$k;" >> "$dir/uac/callees.csv"
        mkdir -p "$dir/register-callee$k" "$dir/uas$k"
        # (SIPp binds a media socket even to register: one apart from the echo ports.)
        (cd "$dir/register-callee$k" && timeout -k 5 20 sipp -nostdin "$TARGET_IP:$SIP_PORT" -i "$UAS_IP" \
            -p $((SIP_PORT + k)) -mi "$UAS_IP" -mp $((MEDIA_PORT + 500 + 4 * k)) -s "callee$k" \
            -sf "$SCEN/register-callee.xml" -m 1 >sipp.out 2>sipp.err) \
            || { log "callee$k registration failed at $kind; see $dir/register-callee$k"; note="${note:+$note; }callee$k registration failed"; }
        # The previous run's echo sockets are gone (bounded wait; the UAS below says so if not).
        for i in $(seq 1 50); do udp_bound "$UAS_IP" $((MEDIA_PORT + 4 * k)) || break; sleep 0.1; done
        (cd "$dir/uas$k" && exec timeout -k 5 $((hold + ramp + 90)) sipp -nostdin -buff_size 4194304 \
            -i "$UAS_IP" -p $((SIP_PORT + k)) -mi "$UAS_IP" -mp $((MEDIA_PORT + 4 * k)) -rtp_echo -s "callee$k" \
            -sf "$SCEN/uas.xml" >sipp.out 2>sipp.err) &
        uas_pids+=("$!")
        PIDS+=("$!")
    done
    sleep 0.5
    for k in $(seq 0 $((callees - 1))); do
        if grep -q "Unable to bind" "$dir/uas$k/sipp.err" 2>/dev/null || ! kill -0 "${uas_pids[$k]}" 2>/dev/null; then
            note="${note:+$note; }callee$k's UAS did not start: $(head -c 200 "$dir/uas$k/sipp.err" | tr '\n' ' ')"
            log "$note"
        fi
    done
    write_audio "$dir/uac/g711.ul"
    (cd "$dir/uac" && exec timeout -k 5 $((hold + ramp + 60)) sipp -nostdin -buff_size 4194304 "$TARGET_IP:$SIP_PORT" \
        -i "$UAC_IP" -p "$UAC_PORT" -mi "$UAC_IP" -mp "$MEDIA_PORT" -inf "$dir/uac/callees.csv" -sf "$SCEN/uac-rtp.xml" \
        -r "$SETUP_RATE" -rp 1000 -l "$n" -m "$n" -d $((hold * 1000)) -rtp_threadtasks 50 \
        -trace_err -trace_stat -stf "$dir/uac/stats.csv" -fd 1 >sipp.out 2>sipp.err) &
    uac_pid=$!
    PIDS+=("$uac_pid")
    t_start=$(now_s)

    # Wait until the relay streams every call (bounded: ramp + UP_SLACK).
    deadline=$(awk -v t="$t_start" -v s=$((ramp + UP_SLACK)) 'BEGIN {printf "%d", t + s}')
    up=0
    while [ "$(date +%s)" -lt "$deadline" ]; do
        up=$(relay_counters "$kind" "$dir" | awk '{print $1}')
        [ "$up" -ge "$n" ] && break
        kill -0 "$RELAY_PID" 2>/dev/null || break
        sleep 0.5
    done
    [ "$up" -ge "$n" ] || { note="${note:+$note; }only $up of $n calls streaming after $((ramp + UP_SLACK)) s"; log "$note"; }
    sleep "$SETTLE"

    # The CPU and counter window: nothing but the load and the relay runs (no capture). Reading the counters
    # takes a moment (rtpengine-ctl is a Perl script): each read is timed on its own, packets/s is their
    # difference over the time between the reads' midpoints, CPU/s the CPU ticks over the window's wall time.
    w0=$(now_s); r0=$(cpu_ticks "$RELAY_PID"); k0=$([ -n "$SIP_PID" ] && cpu_ticks "$SIP_PID" || echo 0)
    a0=$(cpu_ticks "$uac_pid"); b0=$(uas_ticks "${uas_pids[@]}"); m0=$(machine_ticks); d0=$(udp_drops "$RELAY_IP")
    s0=$(softnet_drops); thread_ticks "$RELAY_PID" > "$dir/threads0"
    t0=$(now_s); c0=$(relay_counters "$kind" "$dir"); t0=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN {printf "%.6f", (a + b) / 2}')
    sleep "$DURATION"
    t1=$(now_s); c1=$(relay_counters "$kind" "$dir"); t1=$(awk -v a="$t1" -v b="$(now_s)" 'BEGIN {printf "%.6f", (a + b) / 2}')
    w1=$(now_s); r1=$(cpu_ticks "$RELAY_PID"); k1=$([ -n "$SIP_PID" ] && cpu_ticks "$SIP_PID" || echo 0)
    a1=$(cpu_ticks "$uac_pid"); b1=$(uas_ticks "${uas_pids[@]}"); m1=$(machine_ticks); d1=$(udp_drops "$RELAY_IP")
    s1=$(softnet_drops); thread_ticks "$RELAY_PID" > "$dir/threads1"

    # The capture window: transit time, added jitter and loss, from the packets on lo.
    cap="$dir/relay.pcap"
    tcpdump -i lo -n -s 64 -B 65536 --time-stamp-precision=nano -w "$cap" \
        "udp and host $RELAY_IP and portrange $RTP_LOW-$RTP_HIGH" >"$dir/tcpdump.out" 2>"$dir/tcpdump.err" &
    tcpd=$!
    PIDS+=("$tcpd")
    for i in $(seq 1 50); do grep -q "listening on" "$dir/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
    sleep "$CAPTURE"
    stop_pid "$tcpd" INT
    d2=$(udp_drops "$RELAY_IP"); s2=$(softnet_drops)
    if [ "$(awk -v t="$t_start" -v h="$hold" -v now="$(now_s)" 'BEGIN {print (now > t + h) ? 1 : 0}')" = 1 ]; then
        note="${note:+$note; }windows ran past the first hang-up (machine too slow for this setup)"
    fi
    check_target "$dir/target"
    [ -n "$TARGET_NOTE" ] && note="${note:+$note; }$TARGET_NOTE"

    # Let the calls end (BYE), bounded by the UAC's own timeout.
    for i in $(seq 1 $(( (hold + ramp + 70) * 2 ))); do kill -0 "$uac_pid" 2>/dev/null || break; sleep 0.5; done
    stop_pid "$uac_pid"
    local summary causes freed tdrop
    summary=$(uac_summary "$dir/uac")
    causes=$(failure_causes "$dir/uac")
    [ -n "$causes" ] && note="${note:+$note; }$causes"
    if [ "${kind#sipproxy}" != "$kind" ] && [ -z "$TARGET_NOTE" ]; then
        # After the BYEs every port pair is back in the pool.
        for i in $(seq 1 20); do
            freed=$(relay_counters "$kind" "$dir" | awk '{print $4}')
            [ "$freed" = 0 ] && break
            sleep 0.5
        done
        [ "$freed" = 0 ] || note="${note:+$note; }$freed port pairs still in use after the calls ended"
    fi
    tdrop=$(grep -o "[0-9]* packets dropped by kernel" "$dir/tcpdump.err" | awk '{print $1}')
    [ "${tdrop:-0}" -gt 0 ] && note="${note:+$note; }tcpdump dropped $tdrop packets (capture loss figures unreliable)"
    for k in "${uas_pids[@]}"; do stop_pid "$k"; done
    stop_target

    local capstats row
    capstats=$(analyse_capture "$cap")
    note="relay threads: $(thread_cpu "$dir/threads0" "$dir/threads1")${note:+; $note}"
    # kind n window_s counters_s relay_ticks kam_ticks uac_ticks uas_ticks machine0 machine1 counters0 counters1
    # drops0 drops1 drops2 softnet(window) softnet(capture) capture uac_summary note
    row=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$kind" "$n" \
        "$(awk -v a="$w0" -v b="$w1" 'BEGIN {printf "%.3f", b - a}')" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')" \
        $((r1 - r0)) $((k1 - k0)) $((a1 - a0)) $((b1 - b0)) \
        "$m0" "$m1" "$c0" "$c1" "$d0" "$d1" "$d2" $((s1 - s0)) $((s2 - s1)) "$capstats" "$summary" "${note:--}")
    echo "$row" >> "$ROWS"
    log "$kind $n: window $(echo "$row" | cut -f3) s, relay cpu $(ticks_s $((r1 - r0))) s, counters $c0 -> $c1; capture: $capstats; uac: $summary"
}

RUN=0
KINDS=""
for w in ${WORKERS//,/ }; do
    KINDS="$KINDS sipproxy-w$w"
    [ "$DO_RTPENGINE" = 1 ] && KINDS="$KINDS rtpengine-w$w"
done
for n in ${CALLS//,/ }; do
    for kind in $KINDS; do bench "$kind" "$n"; done
done

# ------------------------------------------------------------------------------------------- report
COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo "?")
if [ "$TRACE_RTP" = off ]; then TRACE_DESC="--no-trace --trace-rtp off"; else TRACE_DESC="trace recorder on, --trace-rtp $TRACE_RTP"; fi
RTPE_VERSION=$( [ "$DO_RTPENGINE" = 1 ] && rtpengine --version 2>&1 | awk '/Version/ {print $2}' || echo "-")
"$PY" - "$ROWS" "$CLK_TCK" "$(nproc)" <<PY | tee "$RESULTS"
import sys
rows_path, hz, ncpu = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
print("SIPProxy media relay benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $COMMIT, $(nproc) cores, "
      "$(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1), rtpengine $RTPE_VERSION (userspace, --table=-1)")
print("G.711 PCMU 20 ms (50 packets/s each way, 172-octet RTP); callee echoes; 100 relayed packets/s per call; "
      "SIPProxy $TRACE_DESC; window ${DURATION} s, capture ${CAPTURE} s")
print()
hdr = ("target", "calls", "up", "pkts/s", "expected", "relay_cpu_s", "cpu%", "CPU-s/1M", "lost", "loss%",
       "p50_us", "p99_us", "max_us", "ipdv_p99")
fmt = "%-13s %5s %5s %8s %8s %11s %5s %8s %5s %6s %7s %7s %8s %8s"
print(fmt % hdr)
notes, cpu = [], []
for line in open(rows_path):
    f = line.rstrip("\n").split("\t")
    kind, n, win, cwin, rt, kt, at, bt, m0, m1, c0, c1, d0, d1, d2, soft, soft2, cap, uac, note = f
    n, win, cwin = int(n), float(win), float(cwin)
    c0, c1 = c0.split(), c1.split()
    up = c0[0]
    packets = int(c1[1]) - int(c0[1])
    pps = packets / cwin if cwin > 0 else 0
    relay_s = int(rt) / hz
    per_m = relay_s / win / pps * 1e6 if pps > 0 and win > 0 else float("nan")
    cp = cap.split()
    ins, outs, paired, lost = (int(x) for x in cp[:4])
    judged = paired + lost
    loss = 100.0 * lost / judged if judged else float("nan")
    print(fmt % (kind, n, up, "%.0f" % pps, n * 100, "%.2f" % relay_s, "%.0f" % (100 * relay_s / win),
                 "%.2f" % per_m, lost, "%.3f" % loss, cp[4], cp[5], cp[6], cp[8]))
    m0, m1 = [int(x) for x in m0.split()], [int(x) for x in m1.split()]
    total = m1[2] - m0[2]
    busy = ncpu * (m1[0] - m0[0]) / total if total else float("nan")
    soft_cores = ncpu * (m1[1] - m0[1]) / total if total else float("nan")
    d0, d1, d2 = [int(x) for x in d0.split()], [int(x) for x in d1.split()], [int(x) for x in d2.split()]
    seqlost = "-" if c0[2] == "-" else str(int(c1[2]) - int(c0[2]))
    cpu.append((kind, n, relay_s, int(kt) / hz, int(at) / hz, int(bt) / hz, busy, soft_cores, win))
    notes.append((kind, n, "socket drops in the window (capture): relay %d (%d), callee echo sockets %d (%d); "
                  "softnet backlog drops %s (%s); sequence gaps arriving at the relay %s; capture %s in / %s out over "
                  "%s s (%s out/s); caller SIPp calls created/successful/failed %s; %s" % (
                      d1[0] - d0[0], d2[0] - d1[0], d1[1] - d0[1], d2[1] - d1[1], soft, soft2, seqlost, cp[0], cp[1],
                      cp[9], cp[10], "/".join(uac.split()), note)))
print()
print("CPU over the window (CPU-s of each process; 'cores' = the whole machine's busy time in cores, of %d;" % ncpu)
print("softirq = the part of it in softirq context, mostly loopback packet delivery, which the kernel also charges")
print("to the process it interrupted, usually the sender; 'others' = cores less the processes listed: the counter")
print("reads and anything else running on the machine; near 0 on a quiet machine):")
fmt2 = "%-13s %5s %8s %9s %10s %10s %7s %8s %7s"
print(fmt2 % ("target", "calls", "relay", "kamailio", "sipp_uac", "sipp_uas", "cores", "softirq", "others"))
for kind, n, r, k, a, b, busy, soft, win in cpu:
    print(fmt2 % (kind, n, "%.2f" % r, "%.2f" % k if kind.startswith("rtpengine") else "-", "%.2f" % a, "%.2f" % b,
                  "%.2f" % busy, "%.2f" % soft, "%.2f" % (busy - (r + k + a + b) / win)))
print()
print("Notes:")
for kind, n, text in notes:
    print("  %-13s %4s calls: %s" % (kind, n, text))
PY
echo
echo "results written to $RESULTS (SIPp files, logs and captures under $WORK)"
