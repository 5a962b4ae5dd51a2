#!/usr/bin/env bash
# Sets up a fresh machine (installs only the Debian packages that are missing), builds SIPProxy when the sources
# changed since the last build, and runs `sipctl serve` with the arguments given. Runtime files (traces/, the call
# journal calls.jsonl and calls.log, forwarding.json, the control socket sipproxy.sock) go into $SIPPROXY_DIR,
# by default the repository root, where `sipctl` finds them when run from there (or with SIPPROXY_DIR set).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh
BIN="$ROOT/.build/release/sipctl"
if [ ! -x "$BIN" ] || [ -n "$(find Package.swift Sources -newer "$BIN" -print -quit 2>/dev/null)" ]; then
    echo "run-proxy: building sipctl (release)" >&2
    swift build -c release --product sipctl
fi
DIR=${SIPPROXY_DIR:-$ROOT}
mkdir -p "$DIR"
cd "$DIR"
echo "run-proxy: runtime files in $DIR (traces/, calls.jsonl, calls.log, sipproxy.sock); sipctl finds the proxy from there or with SIPPROXY_DIR=$DIR" >&2
exec "$BIN" serve "$@"
