"""The benchmark command of docs/BENCHMARKS.md, `bench/run.sh`, run for a
moment of each part (SMOKE=1), so that a change that breaks a benchmark shows
here and not months later. It asserts what every run must show whatever the
machine: each part prints its figures, nothing is lost or dropped at the
real-time and scaling loads, the recording that part 1b replays holds every
sample, and the daemon itself allocates nothing in steady state. Speed
figures are printed, never compared with a bound (docs/BENCHMARKS.md)."""
import os
import re
import subprocess

import pytest

from conftest import BUILD, instrumented

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")

pytestmark = [
    pytest.mark.skipif(bool(os.environ.get("MASSAGED_EXEC_WRAPPER")),
                       reason="bench/run.sh runs the build's programs directly; under "
                              "emulation that needs binfmt_misc, which CI's arm64 stage has not"),
    pytest.mark.skipif(instrumented(),
                       reason="the benchmarks measure the optimised build; a sanitizer's "
                              "runtime must come first and refuses the malloc-counting preload"),
]


@pytest.fixture(scope="module")
def output():
    env = dict(os.environ, SMOKE="1")
    out = subprocess.run(["sh", os.path.join(ROOT, "bench", "run.sh"), os.path.abspath(BUILD)],
                         capture_output=True, text=True, timeout=600, env=env)
    print(out.stdout)
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout


def number(pattern, text):
    m = re.search(pattern, text)
    assert m, "no match for %r" % pattern
    return float(m.group(1))


def test_every_part_runs(output):
    for part in ("1.", "1b.", "2.", "3.", "4-6.", "6b.", "6c.", "7.", "8.", "9.", "10.", "11.", "12."):
        assert "\n== %s " % part in output, part


def test_memory_prints_the_daemons_resident_memory(output):
    assert number(r"MEMORY build 0 \S+ rss_kb ([0-9]+)", output) > 1000


def test_pipeline_replay_prints_its_rate(output):
    assert number(r"whole pipeline but the send \(full\), both kinds: ([0-9.]+) M", output) > 0


def test_replay_of_the_recording_runs_every_sample(output):
    # 10 device seconds of a ball at 1 kHz and a scraper at 500 Hz, recorded
    # by the daemon and replayed five times: all 15000 samples each time.
    runs = re.findall(r"massaged-replay: 2 devices, (\d+) samples", output)
    assert runs == ["15000"] * 5, runs
    assert number(r"median of 5: ([0-9.]+) M samples/s", output) > 0
    assert number(r"from bytes in memory: ([0-9.]+)\n", output) > 0


def test_stft_and_ring_report_or_say_why_not(output):
    assert re.search(r"FFT only|bench_stft not built", output)
    assert re.search(r"ck_ring|bench_ring not built", output)


def test_real_time_load_loses_nothing_and_allocates_nothing(output):
    results = re.findall(r"^RESULT .*$", output, re.M)
    assert results, "no RESULT line"
    for line in results:
        f = dict(zip(line.split()[1::2], line.split()[2::2]))
        assert int(f["sent"]) > 0 and f["received"] == f["sent"], line
        assert f["samples_lost"] == f["ring_dropped"] == f["publish_dropped"] == "0", line
        assert float(f["cpu_pct"]) > 0 and int(f["rss_kb"]) > 0, line
    own = number(r"and the rest ([0-9.]+)/s", output)
    assert own == 0.0, "the daemon's own code allocated in steady state"


def test_recording_part_writes_a_file(output):
    part = output[output.index("== 6c."):output.index("== 7.")]
    assert "recording off:" in part and "recording on:" in part
    assert re.search(r"recording: 1 file\(s\), \d+ kB over the run", part), part
    assert number(r"recording: .* ([0-9.]+) kB/s", part) > 0


def test_scaling_table_has_every_size_and_no_loss(output):
    rows = re.findall(r"^([1248])\s+(\d+)\s+[0-9.]+\s+[0-9.]+\s+\d+\s+\d+\s+[0-9.]+\s+[0-9.]+"
                      r"\s+(\d+)\s+(\d+)$", output, re.M)
    assert [r[0] for r in rows] == ["1", "2", "4", "8"], rows
    for n, rate, lost, dropped in rows:
        assert int(rate) == 1000 * int(n) and lost == "0" and dropped == "0", (n, lost, dropped)


def test_idle_part_reports_every_thread(output):
    idle = output[output.index("== 8."):]
    # One loop serves every port: no thread per device.
    assert "pipeline" in idle and "rd:" not in idle, idle
    assert number(r"total\s+CPU ([0-9.]+) %", idle) >= 0


def test_floor_compares_daemon_and_relay_on_every_frame(output):
    part = output[output.index("== 9."):output.index("== 10.")]
    rows = re.findall(r"^\d+\s+(daemon|relay)\s+([0-9.]+)\s+([0-9.]+)\s+\S+\s+\S+\s+\d+\s+(\d+)\s+(\d+)/(\d+)$",
                      part, re.M)
    assert sorted(r[0] for r in rows) == ["daemon", "relay"], part
    for who, cpu, wakeups, lost, received, sent in rows:
        assert float(cpu) > 0 and float(wakeups) > 0, (who, part)
        assert lost == "0" and int(sent) > 0 and received == sent, (who, part)
    assert re.search(r"massaged threads, .* pipeline \d+", part)
    assert re.search(r"bench_relay threads, .* bench_relay \d+", part)
    assert number(r"FLOOR cpu_ratio ([0-9.]+)", part) > 0
    assert number(r"wakeup_ratio ([0-9.]+)", part) > 0
    # Each frame alone: every stage, warm and cold, each a median and a mean.
    stages = re.findall(r"^(decode|chain|detect|full)\s+([0-9.]+) /\s+([0-9.]+)\s+([0-9.]+) /\s+([0-9.]+)",
                        part, re.M)
    assert [s[0] for s in stages] == ["decode", "chain", "detect", "full"], part
    assert all(float(x) > 0 for s in stages for x in s[1:]), part


def test_fleet_delivers_every_event_of_every_site(output):
    part = output[output.index("== 10."):]
    if "is not installed" in part:
        pytest.skip(part.splitlines()[1])
    m = re.search(r"FLEET daemons (\d+) events (\d+) arrived (\d+) differing_sites (\d+)", part)
    assert m, part
    assert int(m.group(1)) == 2 and int(m.group(2)) > 0 and m.group(4) == "0", part
    assert re.search(r"broker +[0-9.]+ +\d+", part), part


def test_history_part_reports_cost_and_size(output):
    part = output[output.index("== 11."):]
    assert number(r"history on : CPU ([0-9.]+) %", part) >= 0, part
    assert number(r"history off: CPU ([0-9.]+) %", part) >= 0, part
    assert number(r"on / off   : CPU x([0-9.]+)", part) > 0, part
    assert re.search(r"history_lost 0\)", part), part
    assert number(r"per session: ([0-9.]+) bytes", part) > 0, part
