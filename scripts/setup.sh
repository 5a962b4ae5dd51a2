#!/usr/bin/env bash
# Installs what SIPProxy needs on a fresh Debian machine: libpcap and spandsp (the CPcap and CSpanDSP system
# libraries: pcap files, G.722 in conference rooms), libopus (COpus: Opus in conference rooms) and libsqlite3-dev
# (GRDB: registrations.sqlite) for building, SIPp,
# tshark, tcpdump and sngrep for the tests, binutils (ar, ld.gold) for linking the fuzz harnesses. Safe to run
# again: it only installs what is missing. libFuzzer itself comes with the Swift toolchain (libclang_rt.fuzzer).
set -euo pipefail

# baresip-core, openssl, python3, iproute2 and util-linux (unshare, prlimit) for the real-phone, TLS and hardening
# tests (the voice test's baresip modules, ausine, sndfile and cons, are all in baresip-core);
# binutils (ar, ld.gold) for linking the fuzz harnesses; chromium (headless) for the HTML ladder tests; dnsmasq-base
# (the dnsmasq binary without its system service) for the RFC 3263 tests, which start their own on loopback;
# postgresql for the shared location store tests, which start a throwaway cluster of their own on loopback.
packages=(libpcap-dev libspandsp-dev libopus-dev libsqlite3-dev pkg-config sip-tester tshark tcpdump sngrep baresip-core openssl iproute2 util-linux
    binutils python3 chromium dnsmasq-base postgresql)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # tshark asks whether non-root users may capture; the noninteractive default (no) is what we want.
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6.1 or newer is required)" >&2; exit 1; }
