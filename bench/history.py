"""The cost of the history of treatment sessions (docs/HISTORY.md,
docs/BENCHMARKS.md).

1. At the real-time load: two daemons side by side in the same run, each
   with a simulated ball and scraper in real time (the same seeds), one with
   [history] db set and one with it empty; [session] idle_s 1, so that as
   many sessions as the tools' pauses allow end and are written. Reports the
   CPU and memory of each, and the sessions written.
2. The database's size: one daemon records and writes the sessions of long
   simulated runs played as fast as it reads them (each row with the
   recording file that covers it); the bytes in use after the stop (WAL
   checkpointed) less those of an empty history, per session, and per year
   of every-other-day use of both tools.

Usage: /usr/bin/python3 bench/history.py [--build DIR] [--seconds S] [--device-s S]
"""
import os
import shutil
import sqlite3
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from place import Place, arguments, memory_kib  # noqa: E402


def cpu_s(pid):
    """CPU seconds of every thread of a process so far, from the scheduler's
    nanosecond accounting (the clock-tick figures of /proc/PID/stat are too
    coarse for a short window of a daemon using half a percent)."""
    total = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended meanwhile
    return total / 1e9


def history_place(build, root, name, db, idle_s, seeds, sim_args=(), extra=""):
    """A place (bench/place.py) whose daemon writes its sessions to db ("":
    no history), ending them after idle_s without activity; extra: more of
    its configuration."""
    return Place(build, root, name, seeds,
                 "[log]\nlevel = warn\n[session]\nidle_s = %d\n[history]\ndb = %s\n%s"
                 % (idle_s, db, extra), sim_args)


def cost(build, root, seconds):
    seeds = {"ball": 31, "scraper": 32}
    on = history_place(build, root, "on", os.path.join(root, "on.db"), 1, seeds)
    off = history_place(build, root, "off", "", 1, seeds)
    time.sleep(min(5.0, seconds))  # connected, detectors warmed up
    t0 = time.monotonic()
    c0 = {d: cpu_s(d.proc.pid) for d in (on, off)}
    time.sleep(seconds)
    wall = time.monotonic() - t0
    cpu = {d: 100.0 * (cpu_s(d.proc.pid) - c0[d]) / wall for d in (on, off)}
    mem = {d: memory_kib(d.proc.pid) for d in (on, off)}
    st = on.status()
    for d in (on, off):
        assert d.stop() == 0
    con = sqlite3.connect(os.path.join(root, "on.db"))
    rows = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
    con.close()
    print("history on : CPU %.2f %% of one core, VmRSS %.1f MB (peak %.1f); "
          "%d sessions written during the window, %d in all (history_lost %d)"
          % (cpu[on], mem[on][0] / 1024, mem[on][1] / 1024, st["history_sessions"], rows,
             st["history_lost"]))
    print("history off: CPU %.2f %% of one core, VmRSS %.1f MB (peak %.1f)"
          % (cpu[off], mem[off][0] / 1024, mem[off][1] / 1024))
    print("on / off   : CPU x%.3f, VmRSS %+.1f MB" % (cpu[on] / cpu[off],
                                                     (mem[on][0] - mem[off][0]) / 1024))


def used_bytes(db):
    """(bytes of the pages' content in use, from SQLite's dbstat table;
    the file's size)."""
    con = sqlite3.connect(db)
    used = con.execute("SELECT sum(pgsize - unused) FROM dbstat").fetchone()[0]
    pages, page = (con.execute("PRAGMA %s" % p).fetchone()[0] for p in ("page_count", "page_size"))
    con.close()
    return used, pages * page


def size(build, root, device_s):
    # An empty history: a daemon without devices creates the schema.
    empty_db = os.path.join(root, "empty.db")
    empty = history_place(build, root, "empty", empty_db, 2, {})
    time.sleep(1.5)
    assert empty.stop() == 0
    db = os.path.join(root, "size.db")
    d = history_place(build, root, "size", db, 2, {"ball": 41, "scraper": 42},
                      ("--fast", "--duration", str(device_s), "--linger", "0.3"),
                      "[record]\ndir = %s\n" % os.path.join(root, "rec"))
    for p in d.sims:
        p.wait(600)
    time.sleep(4)  # lost after 2 s of silence, the last sessions end idle_s later
    assert d.stop() == 0
    con = sqlite3.connect(db)
    n = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
    by_kind = dict(con.execute("SELECT kind, count(*) FROM sessions GROUP BY kind"))
    files = con.execute("SELECT count(*) FROM recordings").fetchone()[0]
    con.close()
    (used, size), (base_used, base_size) = used_bytes(db), used_bytes(empty_db)
    per = (used - base_used) / n
    fill = (used - base_used) / (size - base_size) if size > base_size else 1.0
    year = 365 / 2 * 2  # every other day, one session with each tool
    print("empty history: file %d bytes; with %d sessions (%s; %d recording rows): file %d "
          "bytes, %d of them in use" % (base_size, n, ", ".join(
              "%s %d" % kv for kv in sorted(by_kind.items())), files, size, used))
    print("per session: %.0f bytes in use; pages %.0f %% full; a year of every-other-day use "
          "of both tools (%.0f sessions): about %.0f kB" % (
              per, 100 * fill, year, (base_size + per * year / fill) / 1000))


def main():
    ap = arguments(60)
    ap.add_argument("--device-s", type=float, default=3600)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="massaged-history-bench.")
    try:
        print("-- cost at the real-time load, %.0f s" % args.seconds)
        cost(args.build, root, args.seconds)
        print("-- size, simulated runs of %.0f device seconds per tool" % args.device_s)
        size(args.build, root, args.device_s)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
