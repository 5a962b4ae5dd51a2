#!/usr/bin/env bash
# SIPProxy conference mixing benchmark (not a test): rooms hosted by `sipctl serve --conference` filled with SIPp
# callers that each stream G.711 (a looped mu-law tone, 50 packets/s), measured over loopback. For each case it
# reports the proxy's CPU, the CPU per participant per second of audio, and the timing error of the rooms' 20 ms
# mixing ticks (p50/p99/max lateness over the window, from `sipctl conference list --json`).
#
# Usage: Benchmarks/conference-load.sh [--cases LIST] [--duration SECONDS] [--workers N] [--trace-rtp off|on]
#                                      [--no-build]
# --cases: comma-separated, each PARTICIPANTS (one room) or ROOMSxPARTICIPANTS; default 3,10,30,10x3.
# --duration: the CPU window once every participant streams, default 10 s (the tick figures cover the last 10 s).
# --workers: the proxy's shards (serve --workers), default 1.
# --trace-rtp: with `on`, the room's RTP also goes into the pcap trace; default off runs --no-trace.
# --no-build: use the release binary already built.
#
# Callers: one SIPp UAC per case (Benchmarks/scenarios/uac-rtp.xml, RTPSTREAM of g711.ul, payload 0); its
# -inf file names the room of each call. SIPp 3.6.1 sends every call's stream from one media socket and never
# reads it: the rooms latch onto that address and the mixes they send back are dropped there, which costs the
# proxy nothing more than a real phone would.
# Loopback only (127.0.0.90 SIPProxy, .91 callers). Every process started here is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCEN="$ROOT/Benchmarks/scenarios"
CASES="3,10,30,10x3"
DURATION=10
WORKERS=1
TRACE_RTP=off
BUILD=1
PROXY_IP=127.0.0.90
UAC_IP=127.0.0.91
SIP_PORT=5060
UAC_PORT=5070
MEDIA_PORT=6000
RTP_LOW=21000
RTP_HIGH=21999

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --cases) CASES="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --workers) WORKERS="$2"; shift 2 ;;
        --trace-rtp) TRACE_RTP="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done
case "$DURATION" in ''|*[!0-9]*) echo "--duration takes whole seconds" >&2; exit 2 ;; esac
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 300 ] || { echo "--duration must be 1..300" >&2; exit 2; }
case "$WORKERS" in ''|*[!0-9]*) echo "--workers takes a whole number" >&2; exit 2 ;; esac
case "$TRACE_RTP" in off|on) ;; *) echo "--trace-rtp is off or on" >&2; exit 2 ;; esac
for c in ${CASES//,/ }; do
    case "$c" in
        *x*) r=${c%x*}; p=${c#*x} ;;
        *) r=1; p=$c ;;
    esac
    case "$r$p" in ''|*[!0-9]*) echo "bad case '$c': N or ROOMSxN" >&2; exit 2 ;; esac
    [ "$r" -ge 1 ] && [ "$r" -le 10 ] && [ "$p" -ge 2 ] && [ "$p" -le 100 ] \
        || { echo "bad case '$c': 1..10 rooms of 2..100 participants" >&2; exit 2; }
done

log() { printf '[conference-load %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
command -v sipp >/dev/null 2>&1 || { echo "sipp is needed (Debian's sip-tester; scripts/setup.sh installs it)" >&2; exit 1; }
case "$(sipp -v 2>&1 || true)" in *RTPSTREAM*) ;; *) echo "this sipp has no RTPSTREAM support (Debian's sip-tester has)" >&2; exit 1 ;; esac
PY=$(command -v python3) || { echo "python3 is needed to read the counters" >&2; exit 1; }
CLK_TCK=$(getconf CLK_TCK)

if [ "$BUILD" = 1 ]; then
    log "building release sipctl"
    (cd "$ROOT" && swift build -c release --scratch-path .build-release --product sipctl >&2)
fi
BIN="$ROOT/.build-release/release/sipctl"
[ -x "$BIN" ] || { echo "no release binary at $BIN (build it or drop --no-build)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/conference-load.XXXXXX)
RESULTS="$WORK/results.txt"
log "work dir $WORK"

PIDS=()
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() { local pid; for pid in "${PIDS[@]}"; do stop_pid "$pid"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# 2 s of a 440 Hz tone as raw 8 kHz mu-law, looped by SIPp.
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

# conference_json DIR: the rooms as `sipctl conference list --json` gives them.
conference_json() { timeout 10 "$BIN" conference list --json --socket "$1/sipproxy.sock" 2>/dev/null || echo "[]"; }
# streaming DIR: participants that have sent packets.
streaming() {
    conference_json "$1" | "$PY" -c '
import json, sys
try: rooms = json.load(sys.stdin)
except ValueError: rooms = []
print(sum(1 for r in rooms for p in r.get("participants", []) if p.get("packetsIn", 0) > 0))'
}

printf 'case\trooms\tparticipants\tcpu_pct\tcpu_ms_per_participant_s\ttick_p50_ms\ttick_p99_ms\ttick_max_ms\tlost\n' > "$WORK/rows.tsv"
for c in ${CASES//,/ }; do
    case "$c" in *x*) rooms=${c%x*}; per=${c#*x} ;; *) rooms=1; per=$c ;; esac
    n=$((rooms * per))
    dir="$WORK/case-$c"
    mkdir -p "$dir/uac"
    args=()
    for r in $(seq 0 $((rooms - 1))); do args+=(--conference "$((800 + r))"); done
    if [ "$TRACE_RTP" = off ]; then trace=(--no-trace --trace-rtp off); else trace=(--trace-rtp on); fi
    log "case $c: $rooms room(s) of $per"
    (cd "$dir" && exec "$BIN" serve --listen "$PROXY_IP:$SIP_PORT" --log-level warning --rate-limit off --no-journal \
        "${args[@]}" --conference-size 100 --rtp-ports "$RTP_LOW-$RTP_HIGH" --media-timeout 120s "${trace[@]}" \
        --workers "$WORKERS" >"$dir/stdout.log" 2>"$dir/stderr.log") &
    proxy=$!
    PIDS+=("$proxy")
    for i in $(seq 1 100); do grep -q "SIPProxy ready" "$dir/stdout.log" 2>/dev/null && break; sleep 0.1; done
    grep -q "SIPProxy ready" "$dir/stdout.log" || { echo "sipctl did not start:" >&2; cat "$dir/stderr.log" >&2; exit 1; }
    # Room of each call: rooms filled one after the other.
    echo SEQUENTIAL > "$dir/uac/rooms.csv"
    for r in $(seq 0 $((rooms - 1))); do for p in $(seq 1 "$per"); do echo "$((800 + r));" >> "$dir/uac/rooms.csv"; done; done
    write_audio "$dir/uac/g711.ul"
    hold=$((DURATION + 30))
    (cd "$dir/uac" && exec timeout -k 5 $((hold + 60)) sipp -nostdin "$PROXY_IP:$SIP_PORT" -i "$UAC_IP" -p "$UAC_PORT" \
        -mi "$UAC_IP" -mp "$MEDIA_PORT" -inf "$dir/uac/rooms.csv" -sf "$SCEN/uac-rtp.xml" -r 20 -l "$n" -m "$n" \
        -d $((hold * 1000)) -rtp_threadtasks 50 -trace_err >sipp.out 2>sipp.err) &
    uac=$!
    PIDS+=("$uac")
    deadline=$(( $(date +%s) + 30 ))
    while [ "$(streaming "$dir")" -lt "$n" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "case $c: only $(streaming "$dir") of $n participants stream" >&2; exit 1; }
        sleep 0.5
    done
    sleep 2
    before=$(cpu_ticks "$proxy")
    lost_before=$(conference_json "$dir" | "$PY" -c 'import json,sys; print(sum(p["lost"] for r in json.load(sys.stdin) for p in r["participants"]))')
    sleep "$DURATION"
    after=$(cpu_ticks "$proxy")
    conference_json "$dir" > "$dir/rooms.json"
    "$PY" - "$dir/rooms.json" "$c" "$rooms" "$n" "$before" "$after" "$CLK_TCK" "$DURATION" "$lost_before" >> "$WORK/rows.tsv" <<'PY'
import json, sys
path, case, rooms, n, before, after, hz, duration, lost_before = sys.argv[1:10]
rooms_json = json.load(open(path))
n, duration = int(n), float(duration)
cpu = (int(after) - int(before)) / float(hz)
ticks = [r["ticks"] for r in rooms_json if r.get("ticks")]
worst = lambda k: max((t[k] for t in ticks), default=float("nan"))
lost = sum(p["lost"] for r in rooms_json for p in r["participants"]) - int(lost_before)
print("%s\t%s\t%d\t%.1f\t%.3f\t%.2f\t%.2f\t%.2f\t%d" % (case, rooms, n, 100 * cpu / duration, 1000 * cpu / (n * duration),
      worst("p50Ms"), worst("p99Ms"), worst("maxMs"), lost))
PY
    stop_pid "$uac"
    stop_pid "$proxy"
done

{
    echo "SIPProxy conference mixing, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, workers $WORKERS, trace-rtp $TRACE_RTP, window ${DURATION} s"
    echo "(cpu_ms_per_participant_s: proxy CPU milliseconds per participant per second of audio; tick_*: lateness of"
    echo " the 20 ms mixing ticks over the last 10 s, worst room; lost: packets the rooms' jitter buffers missed)"
    column -t -s $'\t' "$WORK/rows.tsv"
} | tee "$RESULTS"
log "results in $RESULTS"
