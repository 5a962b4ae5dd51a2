#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole test suite: unit tests and the SIPp/tshark integration tests over
# loopback. Extra arguments go to `swift test` (e.g. --filter Registrar).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
exec swift test --skip-build "$@"
