#!/usr/bin/env bash
# Builds the libFuzzer harnesses in Tests/Fuzz and runs each for a bounded time:
#   parser  the SIP message parser, and the serializer round trip of whatever parses   (Tests/Fuzz/ParserFuzzer.swift)
#   stream  TCP stream framing: SIPStreamDecoder fed in arbitrary reads   (Tests/Fuzz/StreamFramingFuzzer.swift)
#   pcap    capture analysis as `sipctl trace calls` and `trace ladder` run it   (Tests/Fuzz/PcapReaderFuzzer.swift)
#   dns     the DNS answer decoder of the RFC 3263 resolver   (Tests/Fuzz/DNSMessageFuzzer.swift; a third of N: it is small)
#
# Usage: scripts/fuzz.sh [--seconds N] [--build-only] [target...]
#   N is the time per target (default $FUZZ_SECONDS, else 60). Targets default to all four.
# Prints one summary line per target and exits non-zero on any finding (crash, trap, sanitizer report, leak,
# timeout, out-of-memory) or build failure. The input is kept in .build/fuzz/findings/; reproduce with
#   SWIFT_BACKTRACE=enable=no .build/fuzz/<target> <input>
# Inputs that found new coverage accumulate in .build/fuzz/corpus/<target> between local runs.
#
# How it builds: `swift build` cannot link -sanitize=fuzzer, so the harnesses are not SwiftPM targets. swiftc
# compiles Sources/SIPProxy/Message, Transport/SIPStreamDecoder.swift, Analysis (without PcapExporter) and
# Control/TextTable.swift into an instrumented static library (module SIPProxy, -enable-testing); each harness
# imports it @testable. NIOCore (the serializer writes ByteBuffers), NIOEmbedded (the stream harness runs the decoder
# in an EmbeddedChannel) and their dependencies come from a normal `swift build`: their .swiftmodules in its Modules
# folder, their objects packed into archives so that the linker takes only what is used.
set -euo pipefail
script="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
build_only=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --build-only) build_only=1; shift ;;
    parser | stream | pcap | dns) targets+=("$1"); shift ;;
    -h | --help) sed -n '2,12p' "$script" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz: unknown argument '$1' (targets: parser stream pcap dns)" >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(parser stream pcap dns)
case "$seconds" in '' | *[!0-9]*) echo "fuzz: --seconds wants a whole number, not '$seconds'" >&2; exit 2 ;; esac

out=.build/fuzz
torture="../shared/testdata/sip-torture"
mkdir -p "$out/lib" "$out/deps" "$out/findings" "$out/logs"

# --- Build -------------------------------------------------------------------------------------------------------

resources="$(swiftc -print-target-info | sed -n 's/.*"runtimeResourcePath": *"\(.*\)".*/\1/p' | head -1)"
if ! compgen -G "$resources/clang/lib/*/libclang_rt.fuzzer*.a" >/dev/null; then
    echo "fuzz: this Swift toolchain has no libFuzzer runtime ($resources/clang/lib/*/libclang_rt.fuzzer*.a)" >&2
    exit 1
fi

bin="$(swift build --show-bin-path)"
# `swift build --build-tests` (scripts/test.sh) has built them; build them alone otherwise.
if [ ! -e "$bin/Modules/NIOEmbedded.swiftmodule" ]; then
    echo "fuzz: building NIOCore and NIOEmbedded (swift build --target NIOEmbedded)"
    swift build --target NIOEmbedded >/dev/null
fi

# The C modules NIOCore's interface imports (CNIOLinux, _AtomicsShims, ...), as SwiftPM passes them.
modulemaps=(-Xcc "-fmodule-map-file=$PWD/Sources/CPcap/module.modulemap" -Xcc "-fmodule-map-file=$PWD/Sources/CSpanDSP/module.modulemap"
    -Xcc "-fmodule-map-file=$PWD/Sources/COpus/module.modulemap")
for f in "$bin"/*.build/module.modulemap "$PWD"/.build/checkouts/*/Sources/*/include/module.modulemap; do
    [ -e "$f" ] && modulemaps+=(-Xcc "-fmodule-map-file=$f")
done

# One archive per dependency module built by SwiftPM (not this package's own targets), all linked as one group
# (through -Xlinker, which keeps them in order between --start-group and --end-group).
deps=()
for dir in "$bin"/*.build; do
    module="$(basename "$dir" .build)"
    case "$module" in SIPProxy | sipctl | *Tests | *Tests.* | *-tool | *PackageTests | *PackageDiscoveredTests) continue ;; esac
    archive="$out/deps/lib$module.a"
    objects=()
    while IFS= read -r -d '' o; do objects+=("$o"); done < <(find "$dir" -maxdepth 1 -name '*.o' -print0)
    [ ${#objects[@]} -gt 0 ] || continue
    if [ ! -e "$archive" ] || [ -n "$(find "$dir" -maxdepth 1 -name '*.o' -newer "$archive" -print -quit)" ]; then
        rm -f "$archive"
        ar qc "$archive" "${objects[@]}"
    fi
    deps+=(-Xlinker "$archive")
done

sources=(Sources/SIPProxy/Message/*.swift Sources/SIPProxy/Transport/SIPStreamDecoder.swift
    Sources/SIPProxy/Control/TextTable.swift Sources/SIPProxy/TerminalText.swift
    Sources/SIPProxy/CallLog/CallOutcome.swift Sources/SIPProxy/Media/SDPDocument.swift
    Sources/SIPProxy/Media/RTPStreamStats.swift Sources/SIPProxy/DNS/DNSMessage.swift
    Sources/SIPProxy/DNS/DNSMessage+Decoding.swift Sources/SIPProxy/DNS/DNSRecord.swift
    Sources/SIPProxy/DNS/DNSError.swift Sources/SIPProxy/DNS/SRVOrdering.swift)
for f in Sources/SIPProxy/Analysis/*.swift; do
    [ "$(basename "$f")" = PcapExporter.swift ] || sources+=("$f")
done
# Pure helpers the analysis may use (Saturating arithmetic, from the hardening branch), when present.
for f in Sources/SIPProxy/Config/Saturating.swift; do [ -e "$f" ] && sources+=("$f"); done
flags=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6)
# Our library's module comes first: SwiftPM's Modules folder has the uninstrumented SIPProxy module too.
imports=(-I "$out/lib" -I "$bin/Modules" "${modulemaps[@]}")
quiet() { grep -v -E ' warning: |Cannot export local symbol' >&2 || true; }

newer() { # newer OUTPUT INPUT...: whether OUTPUT is missing or older than an input
    local output="$1"; shift
    [ ! -e "$output" ] && return 0
    for f in "$@"; do [ "$f" -nt "$output" ] && return 0; done
    return 1
}

library="$out/lib/libSIPProxyFuzz.a"
interfaces=("$bin/Modules/NIOCore.swiftmodule" "$bin/Modules/NIOEmbedded.swiftmodule")
if newer "$library" "${sources[@]}" "${interfaces[@]}" "$script"; then
    echo "fuzz: compiling the instrumented library (${#sources[@]} files from Sources/SIPProxy)"
    rm -f "$library"
    swiftc "${flags[@]}" "${imports[@]}" -emit-library -static -module-name SIPProxy -enable-testing -emit-module \
        -emit-module-path "$out/lib/SIPProxy.swiftmodule" -o "$library" "${sources[@]}" 2>&1 | quiet || true
    [ -e "$library" ] || { echo "fuzz: the library did not build" >&2; exit 1; }
fi

harness() {
    case "$1" in
    parser) echo Tests/Fuzz/ParserFuzzer.swift ;;
    stream) echo Tests/Fuzz/StreamFramingFuzzer.swift ;;
    pcap) echo Tests/Fuzz/PcapReaderFuzzer.swift ;;
    dns) echo Tests/Fuzz/DNSMessageFuzzer.swift ;;
    esac
}

for t in "${targets[@]}"; do
    src="$(harness "$t")"
    if newer "$out/$t" "$src" "$library"; then
        echo "fuzz: linking $out/$t"
        rm -f "$out/$t"
        swiftc "${flags[@]}" "${imports[@]}" -module-name "$(basename "$src" .swift)" "$src" -o "$out/$t" \
            -Xlinker --start-group -Xlinker "$library" "${deps[@]}" -Xlinker --end-group \
            -lpcap -lspandsp -lopus 2>&1 | quiet || true
        [ -e "$out/$t" ] || { echo "fuzz: $t did not build" >&2; exit 1; }
    fi
done
[ $build_only -eq 0 ] || exit 0

# --- Seeds (regenerated on every run, never stored in the repository) -----------------------------------------

seeds="$out/seeds"
rm -rf "$seeds"
mkdir -p "$seeds/parser" "$seeds/stream" "$seeds/pcap" "$seeds/dns"

# SIPp scenario messages: CDATA blocks with [keywords] filled in, CRLF line ends and [len] computed.
for xml in Scenarios/*.xml; do
    LC_ALL=C awk -v prefix="$seeds/parser/$(basename "$xml" .xml)-" '
        function flush(   i, start, end, header, body, len, file) {
            for (i = 1; i <= count; i++) { sub(/^[ \t]+/, "", lines[i]); sub(/[ \t\r]+$/, "", lines[i]) }
            start = 1; while (start <= count && lines[start] == "") start++
            end = count; while (end >= start && lines[end] == "") end--
            if (start > end) return
            header = ""; body = ""; i = start
            while (i <= end && lines[i] != "") header = header lines[i++] "\r\n"
            for (i++; i <= end; i++) body = body lines[i] "\r\n"
            len = length(body)
            gsub(/\[len\]/, len, header)
            file = prefix (++seq) ".sip"
            printf "%s\r\n%s", header, body > file
            close(file)
        }
        /<!\[CDATA\[/ { inside = 1; count = 0; next }
        inside && /\]\]>/ { inside = 0; flush(); next }
        inside {
            line = $0
            gsub(/\[service\]/, "bob", line); gsub(/\[user\]/, "alice", line)
            gsub(/\[(remote_ip|media_ip|local_ip)\]/, "192.0.2.10", line)
            gsub(/\[(remote_port|local_port|media_port)\]/, "5060", line)
            gsub(/\[(local_ip_type|media_ip_type)\]/, "4", line)
            gsub(/\[transport\]/, "UDP", line); gsub(/\[branch\]/, "z9hG4bK-seed-1", line)
            gsub(/\[call_id\]/, "seed-1@192.0.2.10", line); gsub(/\[(pid|cseq)\]/, "1", line)
            gsub(/\[next_url\]/, "sip:bob@192.0.2.10:5060", line); gsub(/\[(tag|call_number)\]/, "1", line)
            gsub(/\[expires\]/, "3600", line); gsub(/\[media_port\+2\]/, "5062", line)
            gsub(/\[last_Via:\]/, "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-seed-2", line)
            gsub(/\[last_From:\]/, "From: <sip:alice@192.0.2.10:5060>;tag=1", line)
            gsub(/\[last_To:\]/, "To: <sip:bob@192.0.2.10:5060>", line)
            gsub(/\[last_Call-ID:\]/, "Call-ID: seed-1@192.0.2.10", line)
            gsub(/\[last_CSeq:\]/, "CSeq: 1 INVITE", line)
            gsub(/\[last_Record-Route:\]/, "Record-Route: <sip:192.0.2.20;lr>", line)
            gsub(/\[routes\]/, "Route: <sip:192.0.2.20;lr>", line)
            lines[++count] = line
        }
    ' "$xml"
done
if [ -d "$torture" ]; then
    for f in "$torture"/*.dat; do [ -e "$f" ] && cp "$f" "$seeds/parser/rfc4475-$(basename "$f")"; done
    for f in "$torture"/rfc5118/*.dat; do [ -e "$f" ] && cp "$f" "$seeds/parser/rfc5118-$(basename "$f")"; done
else
    echo "fuzz: torture corpus not found at $torture (RFC 4475/5118 messages): parser and stream seeds come from Scenarios/*.xml only"
fi
# Streams: two control bytes (size bound, read sizes), then a message, a keep-alive ping and the next message.
messages=("$seeds"/parser/*)
for i in "${!messages[@]}"; do
    next="${messages[$(((i + 1) % ${#messages[@]}))]}"
    {
        printf "\\$(printf '%03o' $((i * 37 % 256)))\\$(printf '%03o' $((i * 11 % 256)))"
        cat "${messages[$i]}"
        printf '\r\n\r\n'
        cat "$next"
    } >"$seeds/stream/$i"
done
cp Tests/SIPProxyTests/Fixtures/Analysis/*.pcap* "$seeds/pcap/"
# DNS answers as dnsmasq gives them in the RFC 3263 tests: NAPTR, SRV with compressed names and additional A
# records, A, NXDOMAIN.
for hex in \
    123485800001000100000000056c61622d6204746573740000230001c00c00230001000000000025000a00320153075349502b44325500045f736970045f756470056c61622d62047465737400 \
    123485800001000200000002045f736970045f756470056c61622d6204746573740000210001c00c002100010000000000170014000013d80473697032056c61622d62047465737400c00c00210001000000000017000a000013ce0473697031c02ac04e000100010000000000047f000016c036000100010000000000047f000017 \
    1234858000010001000000000473697031056c61622d6204746573740000010001c00c000100010000000000047f000016 \
    123481830001000000000000076e6f7468696e6704746573740000010001; do
    python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$hex" \
        >"$seeds/dns/$(printf '%s' "$hex" | cksum | cut -d' ' -f1)"
done

# --- Run ---------------------------------------------------------------------------------------------------------

status=0
summaries=()
for t in "${targets[@]}"; do
    corpus="$out/corpus/$t"
    log="$out/logs/$t.log"
    mkdir -p "$corpus"
    options=(-max_total_time="$seconds" -timeout=15 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$out/findings/$t-")
    case "$t" in
    parser | stream) options+=(-max_len=8192 -dict=Tests/Fuzz/sip.dict) ;;
    pcap) options+=(-max_len=16384) ;;
    dns) options=(-max_total_time="$(((seconds + 2) / 3))" "${options[@]:1}" -max_len=1024) ;;
    esac
    echo "fuzz: running $t for $seconds s (log: $log)"
    start=$SECONDS
    rc=0
    # The Swift runtime's backtracer would intercept the trap before libFuzzer could record the input.
    SWIFT_BACKTRACE=enable=no "$out/$t" "${options[@]}" "$corpus" "$seeds/$t" </dev/null >"$log" 2>&1 || rc=$?
    elapsed=$((SECONDS - start))
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    [ -n "$runs" ] || runs="$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -1)"
    [ -n "$runs" ] || runs=0
    if [ $rc -eq 0 ]; then
        summaries+=("fuzz: $t $elapsed s, $runs runs, 0 findings")
        continue
    fi
    status=1
    input="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    # The most telling line: a Swift trap's message, a runtime failure's kind, a sanitizer's or libFuzzer's verdict.
    reason=""
    for pattern in 'Fatal error: .*' 'Swift runtime failure: [^/]*' 'SUMMARY: [A-Za-z]*Sanitizer: .*' \
        'ERROR: libFuzzer: .*' 'ERROR: .*'; do
        reason="$(grep -m1 -o -E "$pattern" "$log" || true)"
        [ -z "$reason" ] || break
    done
    [ -n "$reason" ] || reason="exit status $rc"
    # The first frame of the crash's stack in the package's own sources.
    where="$(sed -n '/ERROR\|Fatal error/,$p' "$log" | grep -o -E '[^ ]*/(Sources|Tests)/[^ ]*\.swift:[0-9]+' \
        | grep -v '/\.build/' | head -1 || true)"
    where="${where#"$PWD"/}"
    [ -z "$where" ] || reason="${reason% } at $where"
    echo "fuzz: $t found a problem; from $log:"
    sed -n '/ERROR\|Fatal error/,$p' "$log" | grep -v -E '^(#[0-9]|"|.*Uses:)' | head -40 | sed 's/^/    /' || true
    summaries+=("fuzz: $t $elapsed s, $runs runs, 1 finding: ${input:-no input saved} ($reason)")
done

for line in "${summaries[@]}"; do echo "$line"; done
exit $status
