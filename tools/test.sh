#!/bin/bash
# Sets up (Debian packages, configure, build) and runs the whole test suite.
# Usage: tools/test.sh [BUILD_DIR] [extra cmake arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
tools/deps.sh
cmake -S . -B "$build" -DMASSAGED_WERROR=ON "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" ${CTEST_ARGS:-}
