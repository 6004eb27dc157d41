#!/bin/sh
# The daemon's cost while nothing streams, as on a Pi left running between
# sessions: one device whose port is absent (unplugged) and one whose port is
# present but silent (a Bluetooth link to a tool that is off). Prints CPU and
# voluntary wake-ups per second for each thread over a window, from the
# scheduler's accounting (/proc/PID/task/*/schedstat and status).
# Usage: bench/idle.sh DAEMON [seconds]   (default 30)
set -eu
. "$(dirname "$0")/../tools/ini.sh"
daemon=$1
seconds=${2:-30}
dir=$(mktemp -d /tmp/massaged-idle.XXXXXX)
trap 'kill $dpid $ppid 2>/dev/null || true; rm -rf "$dir"' EXIT
{
    cat <<INI
[publish]
endpoint = ipc://$dir/pub.sock
[history]
db = $dir/history.db
INI
    ini_device unplugged ball "$dir/absent.tty"
    ini_device silent scraper "$dir/silent.tty"
} | ini_write "$dir/idle.ini"
# A pty that never answers: its master is held open and drained.
/usr/bin/python3 - "$dir/silent.tty" "$((seconds + 10))" <<'PY' &
import os, pty, select, sys, time, tty
master, slave = pty.openpty()
tty.setraw(slave)
os.symlink(os.ttyname(slave), sys.argv[1])
os.close(slave)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    if select.select([master], [], [], 0.5)[0]:
        try:
            os.read(master, 4096)
        except OSError:
            time.sleep(0.05)
PY
ppid=$!
while [ ! -e "$dir/silent.tty" ]; do sleep 0.05; done
"$daemon" --config "$dir/idle.ini" 2>"$dir/daemon.log" &
dpid=$!
sleep 3
snap() {
    for t in /proc/$dpid/task/*; do
        printf '%s %s %s\n' "$(tr ' ' _ < "$t/comm")" "$(cut -d' ' -f1 "$t/schedstat")" \
            "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status")"
    done
}
snap > "$dir/before"
sleep "$seconds"
snap > "$dir/after"
echo "idle daemon over $seconds s (one device unplugged, one silent port):"
paste "$dir/before" "$dir/after" | awk -v s="$seconds" '
    { cpu = ($5 - $2) / s / 1e7; w = ($6 - $3) / s; c += cpu; t += w
      printf "  %-14s CPU %.4f %%   wake-ups %.1f/s\n", $1, cpu, w }
    END { printf "  total          CPU %.4f %%   wake-ups %.1f/s\n", c, t }'
