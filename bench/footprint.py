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
import tempfile

STACK_FROM = 0x1000000000  # valgrind places the main stack near 0x1ffefff000


def symbols(binary):
    """Sorted (start, end, name) of the text symbols of binary, the same of its
    data symbols, and every symbol's address by name."""
    out = subprocess.run(["nm", "--defined-only", "-S", binary], check=True,
                         capture_output=True, text=True).stdout
    syms, objs, data = [], [], {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4:
            value, size, kind, name = int(f[0], 16), int(f[1], 16), f[2], f[3]
            if kind in "tT":
                syms.append((value, value + size, name))
            elif kind in "bBdDrR" and size > 0:
                objs.append((value, value + size, name))
            data[name] = value
        elif len(f) == 3:
            data[f[2]] = int(f[0], 16)
    syms.sort()
    objs.sort()
    return syms, objs, data


def sections(binary):
    """Sorted (start, end, name) of binary's allocated sections."""
    out = subprocess.run(["readelf", "-SW", binary], check=True, capture_output=True,
                         text=True).stdout
    secs = []
    for m in re.finditer(r"\]\s+(\.\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", out):
        start, size = int(m.group(2), 16), int(m.group(3), 16)
        if start and size:
            secs.append((start, start + size, "(" + m.group(1) + ")"))
    secs.sort()
    return secs


def find(table, starts, key):
    """The name of the (start, end, name) of table holding key, or None."""
    i = bisect.bisect_right(starts, key) - 1
    if i >= 0 and key < table[i][1]:
        return table[i][2]
    return None


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
    ap.add_argument("--region", action="append", default=[],
                    help="also print which lines of this data region a frame touches")
    a = ap.parse_args()
    pipeline = os.path.join(a.build, "bench", "bench_pipeline")
    lines_tool = os.path.join(a.build, "bench", "lackey_lines")
    cmd = [pipeline, "%g" % a.seconds, "--footprint"]
    begin, end = marks(cmd)
    syms, objs, named = symbols(pipeline)
    base = int(begin, 16) - named["footprint_begin"]
    starts = [s[0] for s in syms]
    obj_starts = [s[0] for s in objs]
    secs = sections(pipeline)
    sec_starts = [s[0] for s in secs]

    def name_of(addr):
        name = find(syms, starts, addr - base)
        if name:
            return name
        return "(libraries)" if addr >= 0x4000000 else "(other)"

    out = tempfile.TemporaryFile(mode="w+")
    lackey = subprocess.Popen(["valgrind", "--tool=lackey", "--trace-mem=yes"] + cmd,
                              stdout=out, stderr=subprocess.PIPE)
    proc = subprocess.Popen([lines_tool, begin[2:], end[2:]], stdin=lackey.stderr,
                            stdout=subprocess.PIPE, text=True)
    lackey.stderr.close()

    kinds = ("ball", "scraper")
    seen = [0, 0]
    total = {k: collections.Counter() for k in kinds}
    fn_lines = {k: collections.Counter() for k in kinds}
    fn_instr = {k: collections.Counter() for k in kinds}
    data_lines = {k: [] for k in kinds}
    counted = [0, 0]
    index = -1
    use = False
    pages = None  # the frame's distinct 4 kB pages: code, data, stack

    def count_pages():
        if pages is not None:
            for name, seen in zip(("code_pages", "data_pages", "stack_pages"), pages[1:]):
                total[pages[0]][name] += len(seen)

    for line in proc.stdout:
        tag = line[0]
        if tag == "F":
            count_pages()
            pages = None
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
                pages = (kinds[k], set(), set(), set())
            continue
        if not use:
            continue
        kind = kinds[index % 2]
        if tag == "C":
            _, _, first, count = line.split()
            name = name_of(int(first, 16))
            fn_lines[kind][name] += 1
            fn_instr[kind][name] += int(count)
            pages[1].add(int(line.split()[1], 16) >> 6)
        elif tag == "D":
            addr = int(line.split()[1], 16) << 6
            total[kind]["stack_lines" if addr >= STACK_FROM else "data_lines"] += 1
            data_lines[kind].append(addr)
            pages[3 if addr >= STACK_FROM else 2].add(addr >> 12)
    count_pages()
    proc.wait()
    lackey.wait()
    # The regions bench_pipeline printed (its runs' state), then the
    # program's own static data by symbol; the rest by where it lies.
    out.seek(0)
    regions = []
    for line in out:
        f = line.split()
        if len(f) == 4 and f[0] == "region":
            regions.append((int(f[2], 16), int(f[2], 16) + int(f[3]), f[1]))
    regions.sort()
    region_starts = [r[0] for r in regions]
    data_names = {k: collections.Counter() for k in kinds}
    region_lines = {r: collections.Counter() for r in a.region}
    for kind in kinds:
        for addr in data_lines[kind]:
            name = (find(regions, region_starts, addr + 63) or find(regions, region_starts, addr)
                    or find(objs, obj_starts, addr - base) or find(objs, obj_starts, addr + 63 - base)
                    or find(secs, sec_starts, addr - base))
            if not name:
                name = ("(stack)" if addr >= STACK_FROM else
                        "(libraries)" if addr >= 0x4000000 else "(other data)")
            data_names[kind][name] += 1
            if name in a.region:
                start = regions[bisect.bisect_right(region_starts, addr + 63) - 1][0]
                region_lines[name][(addr - start) // 64] += 1
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
    print("%-34s %13s %13s" % ("data (lines per frame)", "ball", "scraper"))
    both = data_names["ball"] + data_names["scraper"]
    for name, _ in both.most_common(a.top):
        print("%-34s %13.1f %13.1f" % (name[:34], data_names["ball"][name] / counted[0],
                                       data_names["scraper"][name] / counted[1]))
    for name in a.region:
        print("%s: lines touched (line from the region's start: frames of %d)" %
              (name, max(counted)))
        print("  " + " ".join("%d:%d" % (line, n) for line, n in sorted(region_lines[name].items())))
    for k, kind in enumerate(kinds):
        t = total[kind]
        print("FOOTPRINT %s instructions %.0f code_lines %.1f data_lines %.1f stack_lines %.1f "
              "code_bytes %.0f code_pages %.1f data_pages %.1f stack_pages %.1f" %
              (kind, t["instructions"] / counted[k], t["code_lines"] / counted[k],
               t["data_lines"] / counted[k], t["stack_lines"] / counted[k],
               t["code_bytes"] / counted[k], t["code_pages"] / counted[k],
               t["data_pages"] / counted[k], t["stack_pages"] / counted[k]))


if __name__ == "__main__":
    main()
