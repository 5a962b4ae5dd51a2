#!/usr/bin/env bash
# SIPProxy load benchmark (not a test): REGISTER/s for 10,000 distinct users and calls/s
# (INVITE/100/180/200/ACK/BYE/200 through the proxy, Record-Route honoured), measured with SIPp over loopback.
# Optionally runs the same load against Kamailio (Benchmarks/kamailio.cfg) for comparison.
#
# Usage: Benchmarks/sipp-load.sh [--duration SECONDS] [--rate CPS[,CPS...]] [--reg-rate RPS[,RPS...]]
#                                [--workers N[,N...]] [--no-notrace] [--no-build]
#                                [--calls-only | --registrations-only] [--kamailio]
#                                [--overload] [--memory-users N] [--log-level LEVEL] [--memory-store]
#                                [--postgres] [--proxy-args "ARGS"]
# --workers: SIPProxy shards (sipctl serve --workers) and Kamailio UDP workers (-n) to compare, default 1,2.
# --overload: after the call rates, offer twice the best rate without failures and report how much still completes.
# --memory-users N: register N distinct users (e.g. 100000) and report the resident memory each one costs.
# --log-level: SIPProxy's log level (default warning; info, the level sipctl serve starts with, logs every message).
# --memory-store: also run SIPProxy with its registrations in memory only (sipproxy-mem-wN, --no-registrations-file)
#   beside the default, which writes them behind to registrations.sqlite (issue 16).
# --postgres: also run SIPProxy with the shared PostgreSQL location store (sipproxy-pg-wN, --location): a throwaway
#   cluster (initdb/pg_ctl, as nobody when root, Debian's defaults incl. fsync) on 127.0.0.59, emptied before each run.
# --proxy-args: more sipctl serve flags, e.g. "--metrics 127.0.0.50:9090 --hep udp:127.0.0.53:9060".
#
# Loopback only (127.0.0.50 proxy, .51 caller, .52 callee, .60 Kamailio). Every process started here is
# stopped on exit; every wait is bounded. Results are printed and written to a file in the temp dir.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCEN="$ROOT/Benchmarks/scenarios"

DURATION=10
CALL_RATES="500,1000,1500,2000"
REG_RATES="2000,4000,6000,8000"
USERS=10000
BUILD=1
DO_REG=1
DO_CALLS=1
DO_KAM=0
WORKERS="1,2"
DO_NOTRACE=1
DO_OVERLOAD=0
MEMORY_USERS=0
LOG_LEVEL=warning
DO_MEMSTORE=0
DO_PG=0
PROXY_ARGS=""

PROXY_IP=127.0.0.50
UAC_IP=127.0.0.51
UAS_IP=127.0.0.52
KAM_IP=127.0.0.60
PG_IP=127.0.0.59
SIP_PORT=5060
CALLEE=callee

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION="$2"; shift 2 ;;
        --rate) CALL_RATES="$2"; shift 2 ;;
        --reg-rate) REG_RATES="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --calls-only) DO_REG=0; shift ;;
        --registrations-only) DO_CALLS=0; shift ;;
        --kamailio) DO_KAM=1; shift ;;
        --workers) WORKERS="$2"; shift 2 ;;
        --no-notrace) DO_NOTRACE=0; shift ;;
        --overload) DO_OVERLOAD=1; shift ;;
        --memory-users) MEMORY_USERS="$2"; shift 2 ;;
        --log-level) LOG_LEVEL="$2"; shift 2 ;;
        --memory-store) DO_MEMSTORE=1; shift ;;
        --postgres) DO_PG=1; shift ;;
        --proxy-args) PROXY_ARGS="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done
case "$DURATION" in ''|*[!0-9]*) echo "--duration needs whole seconds" >&2; exit 2 ;; esac
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 600 ] || { echo "--duration must be 1..600" >&2; exit 2; }
for w in ${WORKERS//,/ }; do
    case "$w" in ''|*[!0-9]*) echo "--workers takes whole numbers: $w" >&2; exit 2 ;; esac
    [ "$w" -ge 1 ] && [ "$w" -le 64 ] || { echo "--workers out of range (1..64): $w" >&2; exit 2; }
done
case "$MEMORY_USERS" in ''|*[!0-9]*) echo "--memory-users takes a whole number" >&2; exit 2 ;; esac
[ "$MEMORY_USERS" -le 1000000 ] || { echo "--memory-users at most 1000000" >&2; exit 2; }
for r in ${CALL_RATES//,/ } ${REG_RATES//,/ }; do
    case "$r" in ''|*[!0-9]*) echo "rates are whole numbers: $r" >&2; exit 2 ;; esac
    [ "$r" -ge 1 ] && [ "$r" -le 50000 ] || { echo "rate out of range (1..50000): $r" >&2; exit 2; }
done

log() { printf '[sipp-load %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------------------------------------- tools
if ! command -v sipp >/dev/null 2>&1; then
    log "sipp missing: installing Debian's sip-tester"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q sip-tester >/dev/null
fi
if [ "$DO_KAM" = 1 ] && ! command -v kamailio >/dev/null 2>&1; then
    log "kamailio missing: installing Debian's kamailio"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q kamailio >/dev/null
fi
PY=$(command -v python3) || { echo "python3 is needed to read SIPp's statistics" >&2; exit 1; }
CLK_TCK=$(getconf CLK_TCK)

if [ "$BUILD" = 1 ]; then
    log "building release sipctl"
    (cd "$ROOT" && swift build -c release --scratch-path .build-release --product sipctl >&2)
fi
BIN="${SIPCTL_BIN:-$ROOT/.build-release/release/sipctl}"  # SIPCTL_BIN: another build to measure (with --no-build)
[ -x "$BIN" ] || { echo "no release binary at $BIN (build it or drop --no-build)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/sipp-load.XXXXXX)
RESULTS="$WORK/results.txt"
ROWS="$WORK/rows.tsv"
: > "$ROWS"
log "work dir $WORK"

# ------------------------------------------------------------------------------------------- cleanup
PIDS=()
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    pg_remove
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------ /proc readings
# CPU ticks (utime+stime) of a process and of its direct children (Kamailio's workers).
cpu_ticks() {
    local root=$1 total=0 p fields
    for p in "$root" $(ps -o pid= --ppid "$root" 2>/dev/null); do
        fields=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        # after "pid (comm) ": state is field 1, utime field 12, stime field 13
        total=$((total + $(echo "$fields" | awk '{print $12 + $13}')))
    done
    echo "$total"
}
# Peak RSS in KiB: VmHWM of the process plus its direct children (shared memory counted in each).
peak_rss_kib() {
    local root=$1 total=0 p v
    for p in "$root" $(ps -o pid= --ppid "$root" 2>/dev/null); do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# Current proportional set size in KiB (shared pages split between Kamailio's processes), summed.
pss_kib() {
    local root=$1 total=0 p v
    for p in "$root" $(ps -o pid= --ppid "$root" 2>/dev/null); do
        v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# CPU seconds of each thread of a process with more than 0.05 s, by thread name ("NIO-ELT-0-#0 3.91 ...").
thread_cpu() {
    local root=$1 t fields name ticks out=""
    for t in /proc/"$root"/task/*; do
        name=$(cat "$t/comm" 2>/dev/null) || continue
        fields=$(sed 's/^.*) //' "$t/stat" 2>/dev/null) || continue
        ticks=$(echo "$fields" | awk '{print $12 + $13}')
        out+=$(awk -v n="$name" -v t="$ticks" -v h="$CLK_TCK" 'BEGIN {if (t / h >= 0.05) printf "%s %.2f, ", n, t / h}')
    done
    echo "${out%, }"
}

# ---------------------------------------------------------------------------------------- PostgreSQL
# A throwaway cluster for sipproxy-pg (as Tests/SIPProxyIntegrationTests/Support/PostgresServer.swift does):
# initdb in a folder of its own, trust authentication, the server on PG_IP and a free port, as `nobody` when we are
# root (PostgreSQL refuses root). Unlike the tests it keeps fsync on: the figures are those of a real database.
PG_DIR=
PG_PORT=
PG_BIN=
PG_PID=
pg_run() { # runs a PostgreSQL program as nobody (root) or as ourselves
    local prog=$1; shift
    if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$PG_BIN/$prog" "$@"; else "$PG_BIN/$prog" "$@"; fi
}
pg_start() {
    local v port i
    for v in $(ls /usr/lib/postgresql 2>/dev/null | sort -rn); do
        [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ] && { PG_BIN=/usr/lib/postgresql/$v/bin; break; }
    done
    if [ -z "$PG_BIN" ]; then
        log "postgresql missing: installing Debian's postgresql"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
        for v in $(ls /usr/lib/postgresql | sort -rn); do PG_BIN=/usr/lib/postgresql/$v/bin; break; done
    fi
    # Not under WORK (mode 0700): nobody must reach it.
    PG_DIR=$(mktemp -d /tmp/sipp-load-pg.XXXXXX)
    chmod 0755 "$PG_DIR"
    [ "$(id -u)" = 0 ] && chown nobody: "$PG_DIR"
    for port in $(seq 25432 25532); do
        grep -qi ":$(printf '%04X' "$port") " /proc/net/tcp 2>/dev/null || { PG_PORT=$port; break; }
    done
    [ -n "$PG_PORT" ] || { echo "no free port for PostgreSQL" >&2; exit 1; }
    pg_run initdb -D "$PG_DIR/data" -U sip --auth=trust -E UTF8 --no-instructions >"$PG_DIR/initdb.log" 2>&1 \
        || { echo "initdb failed:" >&2; cat "$PG_DIR/initdb.log" >&2; exit 1; }
    pg_run pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
        -o "-c listen_addresses=$PG_IP -p $PG_PORT -c unix_socket_directories=$PG_DIR" start >/dev/null \
        || { echo "PostgreSQL did not start:" >&2; tail -20 "$PG_DIR/postgres.log" >&2; exit 1; }
    PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
    for i in $(seq 1 50); do pg_run createdb -h "$PG_DIR" -p "$PG_PORT" -U sip sip 2>/dev/null && break; sleep 0.2; done
    log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on $PG_IP:$PG_PORT ($PG_DIR)"
}
pg_sql() { pg_run psql -h "$PG_DIR" -p "$PG_PORT" -U sip -d sip -Atq -v ON_ERROR_STOP=1 -c "$1"; }
pg_remove() {
    [ -n "$PG_DIR" ] || return 0
    [ -f "$PG_DIR/data/postmaster.pid" ] && pg_run pg_ctl -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=
}

# ------------------------------------------------------------------------------------------- targets
TARGET_PID=
TARGET_IP=
start_target() { # $1 = sipproxy-wN | sipproxy-notrace-wN | kamailio-wN, $2 = run dir
    local kind=$1 dir=$2 i extra=() workers=${1##*-w}
    mkdir -p "$dir"
    TARGET_DIR=$dir
    if [ "${kind#sipproxy}" != "$kind" ]; then
        TARGET_IP=$PROXY_IP
        # The default run records every message into traces/ (the built-in recorder is on by default);
        # sipproxy-notrace is the same build with recording off, to show what tracing costs.
        extra=(--workers "$workers")
        [ "${kind#sipproxy-notrace}" != "$kind" ] && extra+=(--no-trace)
        # sipproxy-mem: registrations in memory only; the others write them behind to registrations.sqlite.
        [ "${kind#sipproxy-mem}" != "$kind" ] && extra+=(--no-registrations-file)
        if [ "${kind#sipproxy-pg}" != "$kind" ]; then
            # sipproxy-pg: the shared PostgreSQL store, emptied first (each SQLite run starts with a new file too).
            [ -n "$PG_DIR" ] || pg_start
            pg_sql "SET client_min_messages = warning; DROP TABLE IF EXISTS sipproxy_binding; DROP SEQUENCE IF EXISTS sipproxy_binding_version"
            extra+=(--location "postgresql://sip@$PG_IP:$PG_PORT/sip" --instance-id bench)
        fi
        # shellcheck disable=SC2206  # split on purpose: several flags in one string
        [ -n "$PROXY_ARGS" ] && extra+=($PROXY_ARGS)
        # SIPp is one source sending thousands of requests a second: exactly what the per-source rate limit
        # (pike) bans. The reference Kamailio config has no pike either, nor a cap on bindings (--memory-users).
        (cd "$dir" && exec "$BIN" serve --listen "$PROXY_IP:$SIP_PORT" --log-level "$LOG_LEVEL" --rate-limit off \
            --max-bindings 2000000 "${extra[@]}" \
            >"$dir/stdout.log" 2>"$dir/stderr.log") &
        TARGET_PID=$!
        PIDS+=("$TARGET_PID")
        for i in $(seq 1 100); do
            grep -q "SIPProxy ready" "$dir/stdout.log" 2>/dev/null && return 0
            kill -0 "$TARGET_PID" 2>/dev/null || break
            sleep 0.1
        done
        echo "sipctl did not become ready; stderr:" >&2; cat "$dir/stderr.log" >&2; exit 1
    else
        TARGET_IP=$KAM_IP
        (cd "$dir" && exec kamailio -f "$ROOT/Benchmarks/kamailio.cfg" -DD -E -m 256 -M 16 -n "$workers" \
            -P "$dir/kamailio.pid" -w "$dir" >"$dir/stdout.log" 2>"$dir/stderr.log") &
        TARGET_PID=$!
        PIDS+=("$TARGET_PID")
        for i in $(seq 1 100); do
            # 3C00007F:13C4 = 127.0.0.60:5060 in /proc/net/udp
            if grep -qi "$(printf '%02X%02X%02X%02X:%04X' $(echo "$KAM_IP" | awk -F. '{print $4, $3, $2, $1}') "$SIP_PORT")" \
                /proc/net/udp 2>/dev/null; then sleep 1; return 0; fi
            kill -0 "$TARGET_PID" 2>/dev/null || break
            sleep 0.1
        done
        echo "kamailio did not start; stderr:" >&2; tail -30 "$dir/stderr.log" >&2; exit 1
    fi
}
TARGET_NOTE=
# Notes in TARGET_NOTE when the target died during the run (the run's figures are then meaningless).
check_target() {
    local status
    if ! kill -0 "$TARGET_PID" 2>/dev/null; then
        wait "$TARGET_PID" 2>/dev/null && status=0 || status=$?
        TARGET_NOTE="TARGET DIED (exit status $status"
        [ "$status" -gt 128 ] && TARGET_NOTE+=", signal $(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128)))"
        TARGET_NOTE+=")"
        log "$TARGET_NOTE; see $1"
    else
        TARGET_NOTE=
    fi
}
stop_target() { stop_pid "$TARGET_PID"; TARGET_PID=; }

# --------------------------------------------------------------------------------------------- sipp
# run_sipp DIR TIMEOUT_S ARGS... : runs SIPp in DIR (its trace files land there), bounded by TIMEOUT_S;
# its own CPU time goes to DIR/sipp.time.
run_sipp() {
    local dir=$1 limit=$2; shift 2
    mkdir -p "$dir"
    (cd "$dir" && /usr/bin/time -o "$dir/sipp.time" -f "%U %S" \
        timeout -k 5 "$limit" sipp -nostdin -buff_size 4194304 "$@" >"$dir/sipp.out" 2>"$dir/sipp.err") || true
}

# analyse DIR RTD_NAME : prints "ok failed retrans elapsed_s rate p50_ms p99_ms max_ms" from DIR's SIPp files.
analyse() {
    "$PY" - "$1" "$2" <<'PY'
import csv, glob, sys
d, rtd = sys.argv[1], sys.argv[2]
rows = []
for f in glob.glob(d + "/stats.csv"):
    with open(f, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
if not rows:
    print("0 -1 0 0 0 nan nan nan"); sys.exit()
last = rows[-1]
def num(k):
    try: return int(last.get(k, "0") or 0)
    except ValueError: return 0
def epoch(k):  # SIPp writes "YYYY-MM-DD<TAB>HH:MM:SS.us<TAB>epoch.us"
    try: return float((last.get(k) or "0").split("\t")[-1])
    except ValueError: return 0.0
ok, failed = num("SuccessfulCall(C)"), num("FailedCall(C)")
retrans = num("Retransmissions(C)")
elapsed = epoch("CurrentTime") - epoch("StartTime")
rate = ok / elapsed if elapsed > 0 else 0.0
times = []
for f in glob.glob(d + "/*_rtt.csv"):
    with open(f) as fh:
        for line in fh:
            p = line.strip().split(";")
            if len(p) >= 3 and p[2] == rtd:
                try: times.append(float(p[1]))
                except ValueError: pass
times.sort()
def pct(q):
    if not times: return float("nan")
    return times[min(len(times) - 1, int(q * len(times)))]
print(ok, failed, retrans, "%.2f" % elapsed, "%.0f" % rate, "%.2f" % pct(0.50), "%.2f" % pct(0.99),
      "%.2f" % (times[-1] if times else float("nan")))
PY
}

sipp_cpu() { tail -1 "$1/sipp.time" 2>/dev/null | awk '{printf "%.2f", $1 + $2}' 2>/dev/null || echo "?"; }

# failure_causes DIR : the reasons SIPp gave for aborted calls (from -trace_err), most frequent first.
failure_causes() {
    cat "$1"/*_errors.log 2>/dev/null | grep -o "Aborting call on [a-zA-Z ]*\|Dead call [^ ]* (aborted at index [0-9]*)\|while expecting '[0-9A-Z]*' (index [0-9]*)" \
        | sed 's/Dead call [^ ]* /dead call /' | sort | uniq -c | sort -rn | head -4 \
        | awk '{n = $1; $1 = ""; printf "%s%s x%s", sep, substr($0, 2), n; sep = "; "}' || true
}

# record KIND TEST RATE DIR RTD CPU_TICKS RSS_KIB PSS_KIB : appends one result row
record() {
    local kind=$1 test=$2 rate=$3 dir=$4 rtd=$5 ticks=$6 rss=$7 pss=$8 a ok
    a=$(analyse "$dir" "$rtd")
    ok=$(echo "$a" | awk '{print $1}')
    local cpu cpu1k
    cpu=$(awk -v t="$ticks" -v h="$CLK_TCK" 'BEGIN {printf "%.2f", t / h}')
    cpu1k=$(awk -v t="$ticks" -v h="$CLK_TCK" -v n="$ok" 'BEGIN {if (n > 0) printf "%.3f", t / h / n * 1000; else print "nan"}')
    local note=$TARGET_NOTE causes drops
    [ -n "${PG_NOTE:-}" ] && note="${note:+$note; }$PG_NOTE"
    PG_NOTE=
    if [ "${kind#sipproxy-w}" != "$kind" ]; then
        # Trace records the recorder had to drop (queue full): expected 0 at a sustained rate.
        drops=$("$BIN" trace status --json --socket "$TARGET_DIR/sipproxy.sock" 2>/dev/null \
            | sed -n 's/.*"drops":\([0-9]*\).*/\1/p')
        note="${note:+$note; }trace drops ${drops:-?}"
    fi
    if [ "${kind#sipproxy}" != "$kind" ]; then
        # Where the CPU went: one line per busy thread (the shards are NIO-ELT-0-#N).
        note="${note:+$note; }threads: $(thread_cpu "$TARGET_PID")"
    fi
    causes=$(failure_causes "$dir")
    [ -n "$causes" ] && note="${note:+$note; }$causes"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$test" "$rate" "$a" "$cpu" "$cpu1k" \
        "$((rss / 1024))" "$(sipp_cpu "$dir")" "$dir" "$((pss / 1024))" "${note:--}" >> "$ROWS"
    log "$kind $test @$rate: ok failed retrans elapsed rate p50 p99 max = $a; cpu ${cpu}s (${cpu1k}/1000); rss $((rss / 1024)) MiB"
}

# ---------------------------------------------------------------------------------------- the tests
make_users() {
    local f=$WORK/users.csv
    [ -s "$f" ] && return 0
    { echo SEQUENTIAL; for i in $(seq 0 $((USERS - 1))); do printf 'user%04d;\n' "$i"; done; } > "$f"
}

bench_registrations() { # $1 = kind
    local kind=$1 rate dir t0 t1
    make_users
    for rate in ${REG_RATES//,/ }; do
        dir="$WORK/$kind-reg-$rate"
        start_target "$kind" "$dir/target"
        t0=$(cpu_ticks "$TARGET_PID")
        PG_T0=$([ -n "$PG_PID" ] && cpu_ticks "$PG_PID" || echo 0)
        run_sipp "$dir" $((USERS / rate + 60)) "$TARGET_IP:$SIP_PORT" -i "$UAC_IP" -p 5070 \
            -sf "$SCEN/register.xml" -inf "$WORK/users.csv" \
            -r "$rate" -rp 1000 -l 2000 -m "$USERS" -trace_err \
            -trace_stat -stf "$dir/stats.csv" -fd 1 -trace_rtt -rtt_freq 200
        # The registrations file is written up to a second behind: its last batch is part of the cost.
        sleep 1.5
        if [ "${kind#sipproxy-pg}" != "$kind" ]; then
            # A database that fell behind is still writing: wait (bounded) until every registered user has its
            # row, so the CPU counted is that of all the writes, and note how long the catching up took.
            local want waited=0
            want=$(analyse "$dir" 1 | awk '{print $1}')
            while [ "$(pg_sql "SELECT count(*) FROM sipproxy_binding WHERE NOT deleted" 2>/dev/null || echo 0)" -lt "$want" ] \
                && [ "$waited" -lt 600 ]; do sleep 0.1; waited=$((waited + 1)); done
            PG_CATCHUP="caught up $(awk -v w="$waited" 'BEGIN {printf "%.1f", 1.5 + w / 10}') s after the last REGISTER"
        fi
        t1=$(cpu_ticks "$TARGET_PID")
        check_target "$dir/target"
        if [ "${kind#sipproxy-pg}" != "$kind" ]; then
            # The database server's own CPU (postmaster and its backends) is not in the target's: noted beside it,
            # with the rows the run left (every user written?).
            PG_NOTE="postgres cpu $(awk -v t="$(( $(cpu_ticks "$PG_PID") - PG_T0 ))" -v h="$CLK_TCK" 'BEGIN {printf "%.2f", t / h}') s, rows $(pg_sql "SELECT count(*) FROM sipproxy_binding WHERE NOT deleted" 2>/dev/null || echo ?) $PG_CATCHUP"
        else
            PG_NOTE=
        fi
        record "$kind" register "$rate" "$dir" 1 $((t1 - t0)) "$(peak_rss_kib "$TARGET_PID")" "$(pss_kib "$TARGET_PID")"
        stop_target
    done
}

bench_calls() { # $1 = kind [$2 = rates, $3 = test name]
    local kind=$1 rates=${2:-$CALL_RATES} test=${3:-calls} rate dir t0 t1 uas_pid calls
    for rate in ${rates//,/ }; do
        dir="$WORK/$kind-$test-$rate"
        calls=$((rate * DURATION))
        start_target "$kind" "$dir/target"
        # The callee registers from the IP:port its UAS then answers on.
        run_sipp "$dir/register-callee" 20 "$TARGET_IP:$SIP_PORT" -i "$UAS_IP" -p "$SIP_PORT" -s "$CALLEE" \
            -sf "$SCEN/register-callee.xml" -m 1 -trace_stat -stf "$dir/register-callee/stats.csv"
        if ! grep -q "Successful call" "$dir/register-callee/sipp.out" \
            || [ "$(analyse "$dir/register-callee" 1 | awk '{print $1}')" != 1 ]; then
            echo "callee registration failed at $kind; see $dir/register-callee" >&2
        fi
        mkdir -p "$dir/uas"
        (cd "$dir/uas" && exec timeout -k 5 $((DURATION + 120)) sipp -nostdin -buff_size 4194304 \
            -i "$UAS_IP" -p "$SIP_PORT" -s "$CALLEE" -sf "$SCEN/uas.xml" \
            >"$dir/uas/sipp.out" 2>"$dir/uas/sipp.err") &
        uas_pid=$!
        PIDS+=("$uas_pid")
        sleep 0.5
        t0=$(cpu_ticks "$TARGET_PID")
        run_sipp "$dir" $((DURATION * 3 + 60)) "$TARGET_IP:$SIP_PORT" -i "$UAC_IP" -p 5070 -s "$CALLEE" \
            -sf "$SCEN/uac.xml" -r "$rate" -rp 1000 -l $((rate * 3)) -m "$calls" -trace_err \
            -trace_stat -stf "$dir/stats.csv" -fd 1 -trace_rtt -rtt_freq 200
        t1=$(cpu_ticks "$TARGET_PID")
        check_target "$dir/target"
        record "$kind" "$test" "$rate" "$dir" 2 $((t1 - t0)) "$(peak_rss_kib "$TARGET_PID")" "$(pss_kib "$TARGET_PID")"
        stop_pid "$uas_pid"
        stop_target
    done
}

# best_rate KIND TEST : the highest achieved rate of KIND's TEST runs with 0 failed, all offered done and at most
# 1 % retransmissions (the same rule as the report's "Best run"); empty when none.
best_rate() {
    awk -F'\t' -v k="$1" -v t="$2" -v users="$USERS" -v dur="$DURATION" '
        $1 == k && $2 == t {
            split($4, a, " "); want = (t == "register") ? users : $3 * dur
            if (a[2] == 0 && a[1] == want && a[3] <= want / 100 && a[5] + 0 > best) best = a[5] + 0
        }
        END { if (best > 0) print best }' "$ROWS"
}

# Overload: twice the best sustained call rate. With early 503s the proxy should still complete about the best
# rate (RFC 6357's goodput); without them it collapses as retransmissions pile up.
bench_overload() { # $1 = kind
    local kind=$1 best
    best=$(best_rate "$kind" calls)
    if [ -z "$best" ]; then log "$kind: no call rate without failures, no overload step"; return 0; fi
    bench_calls "$kind" $((best * 2)) overload
    echo "$kind	$best" >> "$WORK/best.tsv"
}

# Memory per registration: proportional set size (Kamailio's shared memory split between its processes, not
# counted once per process) before and after MEMORY_USERS distinct users register (Expires 3600).
bench_memory() { # $1 = kind
    local kind=$1 dir=$WORK/$1-memory rss0 rss1 rss2 f=$WORK/memory-users.csv rate=5000
    { echo SEQUENTIAL; for i in $(seq 0 $((MEMORY_USERS - 1))); do printf 'm%06d;\n' "$i"; done; } > "$f"
    start_target "$kind" "$dir/target"
    sleep 1
    rss0=$(pss_kib "$TARGET_PID")
    run_sipp "$dir" $((MEMORY_USERS / rate + 120)) "$TARGET_IP:$SIP_PORT" -i "$UAC_IP" -p 5070 \
        -sf "$SCEN/register.xml" -inf "$f" -r "$rate" -rp 1000 -l 5000 -m "$MEMORY_USERS" \
        -trace_stat -stf "$dir/stats.csv" -fd 1
    sleep 2
    rss1=$(pss_kib "$TARGET_PID")
    # The REGISTER transactions linger 64*T1 = 32 s to absorb retransmissions (RFC 3261 Timer J): measure again
    # once they are gone, which is what the bindings alone cost.
    sleep 34
    rss2=$(pss_kib "$TARGET_PID")
    check_target "$dir/target"
    local ok
    ok=$(analyse "$dir" 1 | awk '{print $1}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$ok" "$rss0" "$rss1" "$rss2" "${TARGET_NOTE:--}" >> "$WORK/memory.tsv"
    log "$kind memory: $ok registered; PSS $((rss0 / 1024)) -> $((rss1 / 1024)) MiB, $((rss2 / 1024)) MiB 34 s later"
    stop_target
}

KINDS=""
for w in ${WORKERS//,/ }; do
    KINDS="$KINDS sipproxy-w$w"
    [ "$DO_NOTRACE" = 1 ] && KINDS="$KINDS sipproxy-notrace-w$w"
    [ "$DO_MEMSTORE" = 1 ] && KINDS="$KINDS sipproxy-mem-w$w"
    [ "$DO_PG" = 1 ] && KINDS="$KINDS sipproxy-pg-w$w"
done
if [ "$DO_KAM" = 1 ]; then
    for w in ${WORKERS//,/ }; do KINDS="$KINDS kamailio-w$w"; done
fi
for kind in $KINDS; do
    [ "$DO_REG" = 1 ] && bench_registrations "$kind"
    [ "$DO_CALLS" = 1 ] && bench_calls "$kind"
    [ "$DO_CALLS" = 1 ] && [ "$DO_OVERLOAD" = 1 ] && bench_overload "$kind"
    [ "$MEMORY_USERS" -gt 0 ] && bench_memory "$kind"
done

# ------------------------------------------------------------------------------------------- report
COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo "?")
{
    echo "SIPProxy load benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $COMMIT, $(nproc) cores, $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1)"
    echo "duration ${DURATION}s per call rate; ${USERS} distinct users per registration run; UDP over loopback; SIPProxy log level $LOG_LEVEL"
    echo "p99 = REGISTER->200 (registrations) or INVITE->200 (calls), from SIPp -trace_rtt (1 ms resolution)"
    echo "cpu = target's utime+stime (all its processes); hwm = sum of VmHWM (Kamailio: shared memory counted per process); pss = sum of Pss at the end"
    echo
    printf '%-19s %-8s %7s %9s %6s %6s %7s %7s %8s %8s %7s %8s %7s %7s\n' \
        target test offered achieved/s ok failed retrans p50_ms p99_ms max_ms cpu_s cpu/1000 hwm_MiB pss_MiB
    while IFS=$'\t' read -r kind test rate a cpu cpu1k rss scpu dir pss note; do
        read -r ok failed retrans elapsed achieved p50 p99 max <<<"$a"
        printf '%-19s %-8s %7s %9s %6s %6s %7s %7s %8s %8s %7s %8s %7s %7s\n' \
            "$kind" "$test" "$rate" "$achieved" "$ok" "$failed" "$retrans" "$p50" "$p99" "$max" "$cpu" "$cpu1k" "$rss" "$pss"
    done < "$ROWS"
    echo
    echo "Failure causes (SIPp -trace_err) and target deaths:"
    while IFS=$'\t' read -r kind test rate a cpu cpu1k rss scpu dir pss note; do
        [ "$note" != "-" ] && printf '  %-19s %-8s %6s/s: %s\n' "$kind" "$test" "$rate" "$note"
    done < "$ROWS"
    echo
    echo "Best run: highest achieved rate with 0 failed, all offered done, retransmissions <= 1% (not overloaded):"
    for kind in $KINDS; do
        for test in register calls; do
            awk -F'\t' -v k="$kind" -v t="$test" -v users="$USERS" -v dur="$DURATION" '
                $1 == k && $2 == t {
                    split($4, a, " "); want = (t == "register") ? users : $3 * dur
                    if (a[2] == 0 && a[1] == want && a[3] <= want / 100 && a[5] + 0 > best) { best = a[5] + 0; line = $0; rate = $3; p99 = a[7]; c = $6; r = $7 }
                }
                END {
                    if (line == "") printf "  %-19s %-9s none without failures\n", k, t
                    else printf "  %-19s %-9s %s/s (offered %s/s), p99 %s ms, %s CPU-s per 1000, peak RSS %s MiB\n", k, t, best, rate, p99, c, r
                }' "$ROWS"
        done
    done
    if [ -s "$WORK/best.tsv" ]; then
        echo
        echo "Overload: twice the best rate without failures offered; what still completed (goodput):"
        while IFS=$'\t' read -r kind best; do
            awk -F'\t' -v k="$kind" -v b="$best" '
                $1 == k && $2 == "overload" {
                    split($4, a, " ")
                    printf "  %-19s offered %s/s (2 x %s): %s/s completed = %.0f%% of the best rate, %s failed, p99 %s ms, %s CPU-s per 1000\n", k, $3, b, a[5], 100 * a[5] / b, a[2], a[7], $6
                }' "$ROWS"
        done < "$WORK/best.tsv"
    fi
    if [ -s "$WORK/memory.tsv" ]; then
        echo
        echo "Memory per registration (Pss summed over processes: idle, right after the users registered at 5000/s,"
        echo "and 36 s later when their REGISTER transactions have ended):"
        while IFS=$'\t' read -r kind ok rss0 rss1 rss2 note; do
            awk -v k="$kind" -v n="$ok" -v a="$rss0" -v b="$rss1" -v c="$rss2" -v note="$note" 'BEGIN {
                printf "  %-19s %s users: %.0f -> %.0f -> %.0f MiB; %.0f bytes per registration with its transaction, %.0f settled%s\n",
                    k, n, a / 1024, b / 1024, c / 1024, (n > 0 ? (b - a) * 1024 / n : 0), (n > 0 ? (c - a) * 1024 / n : 0),
                    (note == "-" ? "" : " (" note ")") }'
        done < "$WORK/memory.tsv"
    fi
    echo
    echo "SIPp's own CPU-s per run (if near the run's wall time, SIPp, not the target, was the limit):"
    while IFS=$'\t' read -r kind test rate a cpu cpu1k rss scpu dir pss note; do
        read -r ok failed retrans elapsed achieved p50 p99 max <<<"$a"
        printf '  %-19s %-9s %6s/s: sipp %s s CPU over %s s\n' "$kind" "$test" "$rate" "$scpu" "$elapsed"
    done < "$ROWS"
} | tee "$RESULTS"
echo
echo "results written to $RESULTS (SIPp files under $WORK)"
