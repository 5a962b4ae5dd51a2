#!/usr/bin/env bash
# Writes sipctl's man page (sipctl.1, every subcommand with its options and EXAMPLES) with swift-argument-parser's
# generate-manual plugin, into the directory given (default: .build/man), and installs it when asked:
#   scripts/man-page.sh                      # then: man -l .build/man/sipctl.1
#   scripts/man-page.sh --install            # to /usr/local/share/man/man1 (then: man sipctl)
# The plugin builds sipctl in release mode first (a few minutes the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
install=0
out=.build/man
for arg in "$@"; do
    case "$arg" in
        --install) install=1 ;;
        -h|--help) sed -n 2,6p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) out="$arg" ;;
    esac
done
mkdir -p "$out"
swift package --allow-writing-to-directory "$out" generate-manual --output-directory "$out" >&2
echo "wrote $out/sipctl.1"
if [ "$install" = 1 ]; then
    target=/usr/local/share/man/man1
    mkdir -p "$target"
    cp "$out/sipctl.1" "$target/sipctl.1"
    echo "installed $target/sipctl.1 (man sipctl)"
fi
