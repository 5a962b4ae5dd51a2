#!/usr/bin/env bash
# Start-up time of SIPProxy with many stored registrations (issue 16, benchmark): writes N bindings (default
# 100,000) straight into a registrations.sqlite made by sipctl serve itself (the schema is the proxy's own), then
# starts `sipctl serve` on it RUNS times and reports the time to "SIPProxy ready", the load time the proxy logs,
# the bindings `sipctl status` counts and the resident memory; the same with an empty file and with
# --no-registrations-file for comparison. REGISTER/s and CPU-s per 1,000 registrations with the file and in memory
# come from `Benchmarks/sipp-load.sh --registrations-only --memory-store`.
#
# Usage: Benchmarks/registrations-startup.sh [--bindings N] [--runs R] [--no-build]
# SIPCTL_BIN=PATH runs another sipctl (e.g. a debug build) instead of the release one.
# Loopback only (127.0.0.50). Every process started here is stopped on exit; every wait is bounded.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BINDINGS=100000
RUNS=3
BUILD=1
IP=127.0.0.50
PORT=5060

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --bindings) BINDINGS="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done
case "$BINDINGS" in ''|*[!0-9]*) echo "--bindings takes a whole number" >&2; exit 2 ;; esac
case "$RUNS" in ''|*[!0-9]*) echo "--runs takes a whole number" >&2; exit 2 ;; esac
[ "$BINDINGS" -le 2000000 ] || { echo "--bindings at most 2000000" >&2; exit 2; }
[ "$RUNS" -ge 1 ] && [ "$RUNS" -le 20 ] || { echo "--runs must be 1..20" >&2; exit 2; }

log() { printf '[registrations-startup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
command -v python3 >/dev/null || { echo "python3 is needed to write the bindings" >&2; exit 1; }

if [ "$BUILD" = 1 ]; then
    log "building release sipctl"
    (cd "$ROOT" && swift build -c release --scratch-path .build-release --product sipctl >&2)
fi
BIN=${SIPCTL_BIN:-$ROOT/.build-release/release/sipctl}
[ -x "$BIN" ] || { echo "no release binary at $BIN (build it or drop --no-build)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/registrations-startup.XXXXXX)
log "work dir $WORK"
PID=
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start DIR ARGS... : starts sipctl serve in DIR, waits (at most 120 s) for "SIPProxy ready"; sets PID and
# READY_MS (milliseconds from exec to the ready line).
start() {
    local dir=$1 t0 i; shift
    : > "$dir/stdout.log"
    t0=$(date +%s%N)
    (cd "$dir" && exec "$BIN" serve --listen "$IP:$PORT" --no-trace --no-journal --log-level info --workers 2 \
        --max-bindings 2000000 "$@" >"$dir/stdout.log" 2>>"$dir/stderr.log") &
    PID=$!
    for i in $(seq 1 12000); do
        grep -q "SIPProxy ready" "$dir/stdout.log" 2>/dev/null && break
        kill -0 "$PID" 2>/dev/null || { echo "sipctl serve exited; stderr:" >&2; tail -20 "$dir/stderr.log" >&2; exit 1; }
        sleep 0.01
    done
    grep -q "SIPProxy ready" "$dir/stdout.log" || { echo "not ready within 120 s" >&2; exit 1; }
    READY_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
stop() {
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
}

# The file with the proxy's own schema: one start and graceful stop on an empty folder.
SEED=$WORK/seed
mkdir -p "$SEED"
start "$SEED"
stop
[ -s "$SEED/registrations.sqlite" ] || { echo "sipctl serve made no registrations.sqlite" >&2; exit 1; }
cp "$SEED/registrations.sqlite" "$WORK/empty.sqlite"

log "writing $BINDINGS bindings"
python3 - "$SEED/registrations.sqlite" "$BINDINGS" "$IP" "$PORT" <<'PY'
import sqlite3, sys, time
path, n, ip, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
db = sqlite3.connect(path)
owner = db.execute("SELECT value FROM meta WHERE key = 'instance_id'").fetchone()[0]
expires = int((time.time() + 3600) * 1_000_000)
rows = []
for i in range(n):
    user = "u%06d" % i
    # Phones on 10 addresses of 127.0.1.0/24, ports 20000.., as many distinct flows as a real site would have.
    rip, rport = "127.0.1.%d" % (i % 10 + 1), 20000 + i // 10
    rows.append((user, "sip:%s@%s:%d" % (user, rip, rport), "sip:%s@%s:%d" % (user, ip, port),
                 "<sip:%s@%s:%d;transport=udp>" % (user, rip, rport), expires + i, "reg-%d@bench" % i, 1, 1.0,
                 "UDP", rip, rport, ip, port, 0, "", None, None, owner))
db.executemany("INSERT INTO binding (user, contact_key, aor, contact, expires_at, call_id, cseq, q, transport,"
               " remote_ip, remote_port, local_ip, local_port, flow_is_connection, path, instance, reg_id, owner)"
               " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.close()
PY
cp "$SEED/registrations.sqlite" "$WORK/full.sqlite"
SIZE=$(du -k "$WORK/full.sqlite" | cut -f1)

RESULTS=$WORK/results.txt
{
    echo "SIPProxy start-up with stored registrations — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(cd "$ROOT" && git rev-parse --short HEAD), $(nproc) cores"
    echo "file: $BINDINGS bindings, $((SIZE / 1024)) MiB; sipctl serve --workers 2 --no-trace --no-journal; $RUNS runs each"
    printf '%-22s %4s %9s %9s %10s %8s\n' case run ready_ms load_ms bindings rss_MiB
} > "$RESULTS"
for case in full empty memory; do
    for run in $(seq 1 "$RUNS"); do
        dir=$WORK/$case-$run
        mkdir -p "$dir"
        args=()
        if [ "$case" = memory ]; then args=(--no-registrations-file); else cp "$WORK/$case.sqlite" "$dir/registrations.sqlite"; fi
        # Drop the file from the page cache? Not without root-wide effects: runs after the first read it warm.
        start "$dir" "${args[@]}"
        load=$(sed -n 's/.*binding(s) loaded from .* in \([0-9]*\) ms.*/\1/p' "$dir/stderr.log" | tail -1)
        count=$("$BIN" status --json --socket "$dir/sipproxy.sock" | sed -n 's/.*"bindings":\([0-9]*\).*/\1/p')
        rss=$(awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$PID/status")
        printf '%-22s %4s %9s %9s %10s %8s\n' "$case" "$run" "$READY_MS" "${load:--}" "${count:-?}" "$rss" >> "$RESULTS"
        log "$case run $run: ready in $READY_MS ms (load ${load:--} ms), $count bindings, RSS $rss MiB"
        stop
    done
done
cat "$RESULTS"
echo
echo "results written to $RESULTS"
