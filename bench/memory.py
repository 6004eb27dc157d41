"""Resident memory of the daemon at the real-time load in its default
configuration (history on), and where it goes (docs/BENCHMARKS.md
"Resident memory").

One daemon per build directory given, side by side in the same run, each
with a simulated ball and scraper in real time (the same seeds) and
[history] db set (the default configuration keeps a history). After the
warm-up and the window, prints each daemon's VmRSS and VmHWM and its
resident memory by mapping from /proc/PID/smaps: each shared library's
(all its segments), the heap, the threads' stacks and other anonymous
memory. Give two builds (before and after a change) to compare them in one
command.

Usage: /usr/bin/python3 bench/memory.py [--seconds S] BUILD [BUILD ...]
"""
import collections
import os
import shutil
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from history import history_place  # noqa: E402
from place import arguments, memory_kib  # noqa: E402


def by_mapping(pid):
    """{mapping name: resident KiB}; anonymous mappings are "[anon]"."""
    rss = collections.Counter()
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):
                parts = line.split(None, 5)
                name = os.path.basename(parts[5].strip()) if len(parts) > 5 else "[anon]"
            elif first == "Rss:":
                rss[name] += int(line.split()[1])
    return rss


def main():
    ap = arguments(20, build=False)
    ap.add_argument("builds", nargs="+")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="massaged-memory-bench.")
    seeds = {"ball": 31, "scraper": 32}
    try:
        daemons = [history_place(os.path.abspath(b), root, "d%d" % i,
                                 os.path.join(root, "h%d.db" % i), 1, seeds)
                   for i, b in enumerate(args.builds)]
        time.sleep(5 + args.seconds)  # connected, detectors warmed up, sessions written
        got = [(memory_kib(d.proc.pid), by_mapping(d.proc.pid), d.status()) for d in daemons]
        for d in daemons:
            assert d.stop() == 0
        print("load average %s; %.0f s at the real-time load, history on" % (
            " ".join(open("/proc/loadavg").read().split()[:3]), 5 + args.seconds))
        names = sorted(set().union(*(m for _, m, _ in got)),
                       key=lambda n: -max(m[n] for _, m, _ in got))
        print("%-28s" % "resident kB by mapping" + "".join("%12s" % ("build %d" % i)
                                                           for i in range(len(got))))
        for n in names:
            if max(m[n] for _, m, _ in got) >= 40:
                print("%-28s" % n[:28] + "".join("%12d" % m[n] for _, m, _ in got))
        print("%-28s" % "VmRSS" + "".join("%12d" % mem[0] for mem, _, _ in got))
        print("%-28s" % "VmHWM" + "".join("%12d" % mem[1] for mem, _, _ in got))
        print("%-28s" % "sessions written" + "".join(
            "%12s" % (st["history_sessions"] if st else "?") for _, _, st in got))
        for i, (b, (mem, _, _)) in enumerate(zip(args.builds, got)):
            print("MEMORY build %d %s rss_kb %d hwm_kb %d target <= 8192 kB: %s" % (
                i, b, mem[0], mem[1], "met" if mem[0] <= 8192 else "NOT met"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
