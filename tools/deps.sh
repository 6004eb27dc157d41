#!/bin/bash
# Installs the Debian packages massaged needs, if any are missing. Debian
# bookworm (and Raspberry Pi OS bookworm); uses sudo when not run as root.
#
# Usage: tools/deps.sh [--runtime]
#   --runtime  only what building and running the daemon and its tools needs
#              (tools/demo.sh): no browser, no test or benchmark libraries on
#              a Pi that only runs the daemon
#   (none)     that and everything the tests, benchmarks, fuzzers and
#              examples need (tools/test.sh)
# Every library -dev package of both lists is also installed for arm64 by
# packaging/ci-arm64.sh (the cross build), which reads the two lists.
set -euo pipefail

runtime=(
  build-essential cmake pkg-config
  libserialport-dev libkissfft-dev libzmq3-dev libinih-dev
  libsqlite3-dev sqlite3                          # history of sessions ([history], docs/HISTORY.md)
  libmicrohttpd-dev                               # dashboard: massaged-web
  libmosquitto-dev                                # MQTT client ([mqtt], docs/FLEET.md)
  python3                                         # massaged-history (the demo's session list, the dashboard's history view)
)
test_only=(
  libck-dev libfftw3-dev                          # benchmark references only
  python3-pytest python3-zmq python3-numpy strace # end-to-end tests and tools
  socat valgrind clang libclang-rt-14-dev         # tests, fuzzing, sanitizers
  g++ libxdf-dev python3-matplotlib               # recording: libxdf cross-check, massaged-plot
  chromium                                        # the dashboard's headless browser test
  mosquitto mosquitto-clients openssl             # MQTT tests: the broker, mosquitto_sub, a test CA
  python3-jinja2                                  # MQTT tests: Home Assistant's discovery templates
)
case ${1:-} in
  --runtime) packages=("${runtime[@]}") ;;
  "") packages=("${runtime[@]}" "${test_only[@]}")
      # The Node.js subscriber example (examples/node) needs node and npm; a
      # node installed otherwise (e.g. NodeSource, which bundles npm) is used
      # as it is.
      command -v npm >/dev/null 2>&1 || packages+=(nodejs npm) ;;
  *) echo "usage: $0 [--runtime]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
