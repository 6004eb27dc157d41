#!/bin/bash
# Installs the Debian packages massaged needs to build, test and run, if any
# are missing. Debian bookworm (and Raspberry Pi OS bookworm); uses sudo when
# not run as root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libserialport-dev libkissfft-dev libzmq3-dev libinih-dev
  libck-dev libfftw3-dev                          # benchmark references only
  python3 python3-pytest python3-zmq python3-numpy strace  # end-to-end tests and tools
  socat valgrind clang libclang-rt-14-dev         # tests, fuzzing, sanitizers
  g++ libxdf-dev python3-matplotlib               # recording: libxdf cross-check, massaged-plot
  libmicrohttpd-dev chromium                      # dashboard: massaged-web; its headless browser test
  libmosquitto-dev                                # MQTT client ([mqtt], docs/FLEET.md)
  mosquitto mosquitto-clients openssl             # MQTT tests: the broker, mosquitto_sub, a test CA
)
# The Node.js subscriber example (examples/node) needs node and npm; a node
# installed otherwise (e.g. NodeSource, which bundles npm) is used as it is.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

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
