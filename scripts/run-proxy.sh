#!/usr/bin/env bash
# Sets up a fresh machine, builds SIPProxy and runs `sipctl serve` from the repository root, so runtime files
# (traces/, the call journal, the control socket) land here. Extra arguments go to `sipctl serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product sipctl
exec .build/release/sipctl serve "$@"
