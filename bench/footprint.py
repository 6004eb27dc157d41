"""What one frame touches: instructions and distinct cache lines per frame.

    /usr/bin/python3 bench/footprint.py [--seconds S] [--skip N] [--frames N] [--top N] BUILD

Runs BUILD's `bench_pipeline S --footprint` (a ball and a scraper session,
their frames interleaved as at real time, each alone through decode, chain,
detectors and the JSON of its messages) under valgrind's lackey, which traces
every instruction and data access, and BUILD's `lackey_lines`, which keeps
what lies inside each frame's window. For each kind, over N frames after the
first `--skip` (the filters' start-up), it prints the mean per frame of the
instructions, the distinct 64-byte lines of code and of data (the stack
apart), and the functions with the most lines of code (each line named by
the first instruction run in it). Deterministic: the same build gives the
same figures. About two minutes (lackey's trace is large).

The last lines are `FOOTPRINT kind instructions I code_lines C data_lines D
stack_lines S code_bytes B`, B being the bytes of the distinct instructions
run: the lines move by several per cent with where functions happen to fall
against line boundaries (any change elsewhere in the program moves them);
the bytes do not, so a build variant is judged by both.
Used in docs/BENCHMARKS.md, section "The floor".
"""
import argparse
import bisect
import collections
import os
import re
import subprocess
import sys

STACK_FROM = 0x1000000000  # valgrind places the main stack near 0x1ffefff000


def symbols(binary):
    """Sorted (start, end, name) of the text symbols of binary."""
    out = subprocess.run(["nm", "--defined-only", "-S", binary], check=True,
                         capture_output=True, text=True).stdout
    syms, data = [], {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4:
            value, size, kind, name = int(f[0], 16), int(f[1], 16), f[2], f[3]
            if kind in "tT":
                syms.append((value, value + size, name))
            data[name] = value
        elif len(f) == 3:
            data[f[2]] = int(f[0], 16)
    syms.sort()
    return syms, data


def marks(cmd):
    """The two mark addresses the program prints (the same under any valgrind tool)."""
    out = subprocess.run(["valgrind", "--tool=none", "-q"] + cmd, check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"marks (0x[0-9a-f]+) (0x[0-9a-f]+)", out)
    if not m:
        sys.exit("no marks in: " + out)
    return m.group(1), m.group(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--skip", type=int, default=50, help="frames of each kind left out first")
    ap.add_argument("--frames", type=int, default=250, help="frames of each kind counted")
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args()
    pipeline = os.path.join(a.build, "bench", "bench_pipeline")
    lines_tool = os.path.join(a.build, "bench", "lackey_lines")
    cmd = [pipeline, "%g" % a.seconds, "--footprint"]
    begin, end = marks(cmd)
    syms, named = symbols(pipeline)
    base = int(begin, 16) - named["footprint_begin"]
    starts = [s[0] for s in syms]

    def name_of(addr):
        off = addr - base
        i = bisect.bisect_right(starts, off) - 1
        if i >= 0 and off < syms[i][1]:
            return syms[i][2]
        return "(libraries)" if addr >= 0x4000000 else "(other)"

    lackey = subprocess.Popen(["valgrind", "--tool=lackey", "--trace-mem=yes"] + cmd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc = subprocess.Popen([lines_tool, begin[2:], end[2:]], stdin=lackey.stderr,
                            stdout=subprocess.PIPE, text=True)
    lackey.stderr.close()

    kinds = ("ball", "scraper")
    seen = [0, 0]
    total = {k: collections.Counter() for k in kinds}
    fn_lines = {k: collections.Counter() for k in kinds}
    fn_instr = {k: collections.Counter() for k in kinds}
    counted = [0, 0]
    index = -1
    use = False
    for line in proc.stdout:
        tag = line[0]
        if tag == "F":
            index += 1
            k = index % 2  # the ball's frame first, then the scraper's
            seen[k] += 1
            use = a.skip < seen[k] <= a.skip + a.frames
            if use:
                counted[k] += 1
                f = line.split()
                total[kinds[k]]["instructions"] += int(f[1])
                total[kinds[k]]["code_lines"] += int(f[2])
                total[kinds[k]]["code_bytes"] += int(f[4])
            continue
        if not use:
            continue
        kind = kinds[index % 2]
        if tag == "C":
            _, _, first, count = line.split()
            name = name_of(int(first, 16))
            fn_lines[kind][name] += 1
            fn_instr[kind][name] += int(count)
        elif tag == "D":
            addr = int(line.split()[1], 16) << 6
            total[kind]["stack_lines" if addr >= STACK_FROM else "data_lines"] += 1
    proc.wait()
    lackey.wait()
    if min(counted) == 0:
        sys.exit("no frames counted (lackey_lines exit %d)" % proc.returncode)

    print("per frame, mean of %d ball and %d scraper frames after the first %d of each "
          "(bench_pipeline %g --footprint under lackey)" % (counted[0], counted[1], a.skip,
                                                           a.seconds))
    print("%-34s %13s %13s %13s %13s" % ("", "ball lines", "ball instr", "scraper lines",
                                         "scraper instr"))
    both = fn_lines["ball"] + fn_lines["scraper"]
    for name, _ in both.most_common(a.top):
        print("%-34s %13.1f %13.0f %13.1f %13.0f" % (
            name[:34], fn_lines["ball"][name] / counted[0], fn_instr["ball"][name] / counted[0],
            fn_lines["scraper"][name] / counted[1], fn_instr["scraper"][name] / counted[1]))
    for k, kind in enumerate(kinds):
        t = total[kind]
        print("FOOTPRINT %s instructions %.0f code_lines %.1f data_lines %.1f stack_lines %.1f "
              "code_bytes %.0f" %
              (kind, t["instructions"] / counted[k], t["code_lines"] / counted[k],
               t["data_lines"] / counted[k], t["stack_lines"] / counted[k],
               t["code_bytes"] / counted[k]))


if __name__ == "__main__":
    main()
