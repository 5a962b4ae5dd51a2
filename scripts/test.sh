#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole test suite: unit tests and the SIPp/tshark integration tests over
# loopback with the proxy on two shards (`--workers 2`), the integration tests again on one shard, then the
# libFuzzer harnesses in Tests/Fuzz for a bounded time (scripts/fuzz.sh: $FUZZ_SECONDS per target,
# 60 by default; FUZZ_SECONDS=0 skips them). Extra arguments go to `swift test` (e.g. --filter Registrar) and skip
# the fuzzing. The fuzz summary comes after swift test's own summary; the exit status covers both.
set -euo pipefail
cd "$(dirname "$0")/.."
# Swift Testing runs every test of a process at once unless told otherwise: on a 2-core machine that is a dozen
# baresip phones, SIPp instances, PostgreSQL and a headless browser together, and the media tests judge audio that
# a starved phone never sent. Three at a time keeps the suite fast and what it measures meaningful.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-3}"
scripts/setup.sh
swift build --build-tests
test_status=0
SIPPROXY_TEST_WORKERS=2 swift test --skip-build "$@" || test_status=$?
if [ $# -eq 0 ]; then
    echo "integration tests again with one shard (--workers 1)"
    SIPPROXY_TEST_WORKERS=1 swift test --skip-build --filter SIPProxyIntegrationTests || test_status=$?
fi
fuzz_status=0
if [ $# -gt 0 ]; then
    echo "fuzz: skipped (arguments were given to swift test); run scripts/fuzz.sh"
elif [ "${FUZZ_SECONDS:-60}" = 0 ]; then
    echo "fuzz: skipped (FUZZ_SECONDS=0)"
else
    scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-60}" || fuzz_status=$?
fi
[ $test_status -eq 0 ] || exit $test_status
exit $fuzz_status
