#!/bin/bash
# Proof that a restructuring changed no behaviour: builds two revisions and
# compares, byte for byte, what they produce from the same input.
#
#   bench/same_output.sh BASE_REV [REV]      (REV defaults to HEAD)
#
# Compared, each under its own name in the report:
#   sim-*        massaged-sim's bytes on the line and its ground truth, for
#                both kinds and fixed seeds (one run with line faults)
#   score-ball, score-scraper
#                the scorers' whole output over fixed seeds
#   pipeline     bench_pipeline's sample, byte and message counts
#   replay       every message massaged-replay publishes (raw and events,
#                caught by a ZeroMQ subscriber) for one recording made once
#                by BASE's daemon
#   record       what each revision's daemon records of the same simulated
#                session (the XDF's headers without creation times, every
#                sample value, every event without t_host)
#
# Each revision is exported with git archive (no worktree is left behind) and
# built once into $SAME_OUTPUT_CACHE (default /tmp/massaged-same-output),
# keyed by commit, so that comparing many revisions against one base builds
# the base once. Prints one line per comparison and exits 1 on any
# difference (the differing files are kept and named), 0 when all match.
# Takes a few minutes on two cores, most of it the scorers and the builds.
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BASE_REV [REV]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
py=/usr/bin/python3
helper=$here/same_output.py
. "$repo/tools/ini.sh"
cache=${SAME_OUTPUT_CACHE:-/tmp/massaged-same-output}
base=$(git -C "$repo" rev-parse --verify "$1^{commit}")
rev=$(git -C "$repo" rev-parse --verify "${2:-HEAD}^{commit}")
mkdir -p "$cache"

targets=(massaged massaged-sim massaged-replay massaged-score-ball massaged-score-scraper
         bench_pipeline)

# build COMMIT: exports and builds COMMIT into $cache/COMMIT (once).
build() {
    local dir=$cache/$1
    [ -f "$dir/built" ] && return 0
    rm -rf "$dir"
    mkdir -p "$dir/src"
    git -C "$repo" archive "$1" | tar -x -C "$dir/src"
    echo "building ${1:0:10} in $dir" >&2
    cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$dir/cmake.log" 2>&1 ||
        { cat "$dir/cmake.log" >&2; return 1; }
    cmake --build "$dir/build" -j2 --target "${targets[@]}" >"$dir/build.log" 2>&1 ||
        { tail -40 "$dir/build.log" >&2; return 1; }
    touch "$dir/built"
}

# record BUILD OUT_DIR: the daemon of BUILD records a 30 s ball and scraper
# session from BUILD's simulators (written as fast as the daemon reads).
record() {
    local b=$1 out=$2 run
    run=$(mktemp -d /tmp/massaged-same.XXXXXX)
    {
        printf '%s\n' "[publish]" "endpoint = ipc://$run/pub.sock" "[record]" "dir = $out"
        ini_sim_devices "$run"
    } | ini_write "$run/rec.ini"
    "$b/daemon/massaged" --config "$run/rec.ini" 2>"$run/daemon.log" &
    local dpid=$! sims=()
    for kind in ball scraper; do
        "$b/tools/massaged-sim" --kind $kind --seed 7 --duration 30 --fast --link "$run/$kind.tty" \
            --quiet --linger 1 >/dev/null &
        sims+=($!)
    done
    wait "${sims[@]}"
    kill -TERM $dpid
    wait $dpid || { cat "$run/daemon.log" >&2; return 1; }
    rm -rf "$run"
}

# outputs COMMIT: everything compared, into $cache/COMMIT/out.
outputs() {
    local b=$cache/$1/build out=$cache/$1/out run
    rm -rf "$out"
    mkdir -p "$out"
    run=$(mktemp -d /tmp/massaged-same.XXXXXX)
    for kind in ball scraper; do
        for seed in 1 2 3; do
            $py "$helper" pty "$out/sim-$kind-$seed.bytes" -- "$b/tools/massaged-sim" --kind $kind \
                --seed $seed --duration 20 --fast --quiet --link "$run/$kind-$seed.tty" \
                --truth "$out/sim-$kind-$seed.truth"
        done
        $py "$helper" pty "$out/sim-$kind-faults.bytes" -- "$b/tools/massaged-sim" --kind $kind \
            --seed 4 --duration 20 --fast --quiet --link "$run/$kind-faults.tty" \
            --garbage-rate 0.02 --drop-rate 0.01 --corrupt-rate 0.01 \
            --truth "$out/sim-$kind-faults.truth"
    done
    "$b/tools/massaged-score-ball" --dev 3 --heldout 3 --duration 120 --explain -v \
        >"$out/score-ball" 2>&1
    "$b/tools/massaged-score-scraper" --seeds 1-6 --duration 120 --verbose >"$out/score-scraper" 2>&1
    "$b/bench/bench_pipeline" 60 1 | grep -E '^(pipeline replay on one core|messages formatted)' \
        >"$out/pipeline"
    # shellcheck disable=SC2046
    $py "$helper" sub "ipc://$run/replay.sock" "$out/replay" -- "$b/tools/massaged-replay" \
        $(ls "$cache/recording/"*.xdf) --endpoint "ipc://$run/replay.sock" --wait-subscribers 1 \
        2>"$out.replay.log"
    record "$b" "$run/rec"
    # shellcheck disable=SC2046
    $py "$helper" xdf "$out/record" $(ls "$run/rec/"*.xdf)
    rm -rf "$run"
}

build "$base"
build "$rev"
if [ ! -f "$cache/recording/done-$base" ]; then
    rm -rf "$cache/recording"
    record "$cache/$base/build" "$cache/recording"
    touch "$cache/recording/done-$base"
fi
echo "comparing ${rev:0:10} against ${base:0:10}" >&2
outputs "$base"
outputs "$rev"

status=0
for f in "$cache/$base/out"/*; do
    name=$(basename "$f")
    other=$cache/$rev/out/$name
    size=$(wc -c <"$f")
    if [ "$size" -eq 0 ]; then
        echo "EMPTY    $name (nothing was produced: the comparison proves nothing)"
        status=1
    elif cmp -s "$f" "$other"; then
        echo "same     $name ($size bytes)"
    else
        echo "DIFFERS  $name: diff $f $other"
        status=1
    fi
done
for f in "$cache/$rev/out"/*; do
    [ -e "$cache/$base/out/$(basename "$f")" ] || { echo "EXTRA    $(basename "$f")"; status=1; }
done
if [ $status -eq 0 ]; then echo "all outputs identical"; else echo "outputs differ"; fi
exit $status
