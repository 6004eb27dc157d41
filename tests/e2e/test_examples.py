"""The subscriber examples (examples/python, examples/node) against the real
daemon fed by massaged-sim: each must print the events as published and its
live figure (flexes per hold, stroke rate) must match the one computed here
from an independent subscriber."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

from conftest import (events_until_disconnected, sim_done, skip_without_npm, start_sim,
                      wait_subscribed)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
PYTHON_EXAMPLE = os.path.join(ROOT, "examples", "python", "subscribe.py")
NODE_DIR = os.path.join(ROOT, "examples", "node")


def node_ready():
    """Installs examples/node's locked dependencies if missing (npm ci, from
    the npm registry); returns why not when it can't."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node or npm missing"
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "zeromq")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            return "npm ci failed: " + r.stderr[-500:]
    return None


def run_example(tmp_path, daemon_factory, subscriber_factory, cmd, cwd=None):
    ball, scraper = tmp_path / "ball.tty", tmp_path / "scraper.tty"
    d = daemon_factory(devices=[("ball", "ball", str(ball)), ("scraper", "scraper", str(scraper))])
    ref = subscriber_factory(d.endpoint, topics=("event.", "status.daemon"))
    wait_subscribed(ref)
    example = subprocess.Popen(cmd + ["--endpoint", d.endpoint, "--seconds", "60"], cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(example.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 15
    while not any(line.startswith("listening") for line in lines):
        assert time.monotonic() < deadline and example.poll() is None, lines
        time.sleep(0.05)
    time.sleep(0.5)  # the subscription reaches the daemon
    # Faster than real time: a few minutes of session in seconds, so holds,
    # flexes and strokes all happen while the example listens.
    sims = [start_sim(kind, link, seed, "--fast", "--duration", "150", "--linger", "0.5")
            for kind, seed, link in (("ball", 1, ball), ("scraper", 2, scraper))]
    events, _ = events_until_disconnected(ref, ("ball", "scraper"), 22)
    for s in sims:
        sim_done(s)
    time.sleep(1.0)  # the example has printed the last events too
    example.send_signal(signal.SIGINT)  # Ctrl-C: both examples exit 0
    example.wait(30)
    reader.join(5)
    assert example.returncode == 0, "".join(lines[-20:])
    return events, [line.rstrip("\n") for line in lines]


def check_output(events, lines):
    printed = [line for line in lines if line.startswith("event.")]
    # every event, in order, with its topic and phase
    assert [p.split(" ")[0] for p in printed] == [t for t, _ in events], (printed[:5], events[:5])
    holds = [m for _, m in events if m["type"] == "hold" and m["phase"] == "end"]
    strokes = [m for _, m in events if m["type"] == "stroke"]
    assert holds and strokes, "the simulated session had no hold or no stroke"

    # flexes per hold after the last hold, as the example should compute it
    expected_fph = sum(h["flex_count"] for h in holds) / len(holds)
    hold_lines = [p for p in printed if p.startswith("event.ball.hold end")]
    m = re.search(r"flexes per hold ([0-9.]+)", hold_lines[-1])
    assert m and abs(float(m.group(1)) - expected_fph) < 0.051, (hold_lines[-1], expected_fph)

    # stroke rate after the last stroke: the last minute's strokes, first start to last end
    last = strokes[-1]["t_dev"]
    recent = [s for s in strokes if s["t_dev"] > last - 60]
    expected_rate = (len(recent) - 1) / (recent[-1]["t_dev"] - recent[0]["t_start_dev"]) * 60
    stroke_lines = [p for p in printed if p.startswith("event.scraper.stroke")]
    m = re.search(r"stroke rate ([0-9.]+)/min", stroke_lines[-1])
    assert m and abs(float(m.group(1)) - expected_rate) < 0.051, (stroke_lines[-1], expected_rate)
    print("%d events; %d holds, flexes per hold %.2f; %d strokes, rate %.1f/min"
          % (len(events), len(holds), expected_fph, len(strokes), expected_rate))


def test_python_example(tmp_path, daemon_factory, subscriber_factory):
    events, lines = run_example(tmp_path, daemon_factory, subscriber_factory,
                                ["/usr/bin/python3", PYTHON_EXAMPLE])
    check_output(events, lines)


def test_node_example(tmp_path, daemon_factory, subscriber_factory):
    why = node_ready()
    if why:
        skip_without_npm(why)
    events, lines = run_example(tmp_path, daemon_factory, subscriber_factory,
                                ["node", "subscribe.js"], cwd=NODE_DIR)
    check_output(events, lines)
