"""End-to-end tests of massaged-sim and massaged-sub.

massaged-sim runs on a real pseudo-terminal; the test opens the slave like a
daemon would, asks for a HELLO, and decodes the byte stream with the tests'
COBS and CRC-16/CCITT-FALSE written from protocol.md (tests/e2e/proto.py),
so the C encoder is cross-checked rather than trusted. The summary line of the truth file must
agree exactly with what arrived.

massaged-sub is driven by a real ZeroMQ XPUB socket: the test waits for the
subscription to arrive before publishing, so no message is lost to the
slow-joiner race.

Paths of the executables come from MASSAGED_SIM and MASSAGED_SUB (set by
ctest). Seeds are fixed and printed; set SIM_TEST_SEED to try another.
"""

import errno
import json
import os
import select
import struct
import subprocess
import sys
import termios
import time
import tty

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from proto import (BUTTON, HELLO, HELLO_REQUEST, SAMPLES, STATUS,  # noqa: E402
                   cobs_decode, cobs_encode, crc16, frame as build_frame)

SIM = os.environ.get("MASSAGED_SIM", "massaged-sim")
SUB = os.environ.get("MASSAGED_SUB", "massaged-sub")
SEED = int(os.environ.get("SIM_TEST_SEED", "20240611"))

PAYLOAD_LEN = {HELLO: 34, STATUS: 6, BUTTON: 1}


HELLO_REQUEST_FRAME = build_frame(HELLO_REQUEST, 0, 0)


class Stream:
    """Everything decoded from one byte stream."""

    def __init__(self):
        self.frames = []  # dicts, in arrival order
        self.bad_chunks = 0  # non-empty chunks that were not a valid frame
        self.bad_bytes = 0  # bytes of those chunks and their delimiters
        self.frame_bytes = 0  # bytes of valid frames and their delimiters
        self.total_bytes = 0

    def feed(self, data):
        self.total_bytes += len(data)
        self._pending = getattr(self, "_pending", b"") + data
        *chunks, self._pending = self._pending.split(b"\x00")
        for chunk in chunks:
            if not chunk:
                self.bad_bytes += 1  # a lone delimiter
                continue
            frame = parse_frame(chunk)
            if frame is None:
                self.bad_chunks += 1
                self.bad_bytes += len(chunk) + 1
            else:
                frame["encoded_len"] = len(chunk) + 1
                self.frames.append(frame)
                self.frame_bytes += len(chunk) + 1

    def of(self, ftype):
        return [f for f in self.frames if f["type"] == ftype]


def parse_frame(chunk):
    raw = cobs_decode(chunk)
    if raw is None or len(raw) < 10 or len(raw) > 512:
        return None
    if crc16(raw[:-2]) != struct.unpack("<H", raw[-2:])[0]:
        return None
    ftype, version, seq, t_us = struct.unpack("<BBHI", raw[:8])
    payload = raw[8:-2]
    if version != 1:
        return None
    f = {"type": ftype, "seq": seq, "t_us": t_us}
    if ftype == SAMPLES:
        count = payload[0] if payload else 0
        if not 1 <= count <= 30 or len(payload) != 1 + 16 * count:
            return None
        f["samples"] = [
            struct.unpack("<i3h3h", payload[1 + 16 * i : 17 + 16 * i]) for i in range(count)
        ]
    elif ftype in PAYLOAD_LEN:
        if len(payload) != PAYLOAD_LEN[ftype]:
            return None
        if ftype == HELLO:
            kind, fw_major, fw_minor, reserved = payload[:4]
            f.update(
                kind=kind,
                fw=(fw_major, fw_minor),
                reserved=reserved,
                serial=payload[4:20].rstrip(b"\x00").decode("ascii"),
                serial_raw=payload[4:20],
                rate_hz=struct.unpack("<H", payload[20:22])[0],
                scales=struct.unpack("<3f", payload[22:34]),
            )
        elif ftype == STATUS:
            f["battery_mv"], f["temp_centi_c"], f["flags"] = struct.unpack("<HhH", payload)
        else:
            f["pressed"] = payload[0]
    elif ftype == HELLO_REQUEST:
        if payload or seq or t_us:
            return None
    else:
        return None
    return f


def test_independent_codec_matches_spec():
    assert crc16(b"123456789") == 0x29B1
    for data in (b"", b"\x00", b"\x11\x00\x00\x13", bytes(range(256)) * 2):
        enc = cobs_encode(data)
        assert 0 not in enc
        assert cobs_decode(enc) == data
    # A frame this module builds must come back through its own parser.
    assert parse_frame(HELLO_REQUEST_FRAME[:-1]) == {"type": HELLO_REQUEST, "seq": 0, "t_us": 0}


# --------------------------------------------------------------------------
# Running the simulator


def open_raw(path):
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd, termios.TCSANOW)
    return fd


def read_available(fd, timeout):
    """Bytes from fd within timeout; None at end of stream (EIO: master gone)."""
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return b""
    try:
        data = os.read(fd, 65536)
    except OSError as e:
        if e.errno in (errno.EIO, errno.EBADF):
            return None
        if e.errno == errno.EAGAIN:
            return b""
        raise
    return data if data else None


class Sim:
    def __init__(self, tmp_path, *args, truth=True):
        self.truth_path = tmp_path / "truth.jsonl" if truth else None
        cmd = [SIM, "--quiet", *map(str, args)]
        if truth:
            cmd += ["--truth", str(self.truth_path)]
        print("running:", " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.slave = self.proc.stdout.readline().strip()
        assert self.slave.startswith("/dev/pts/"), self.slave
        self.stream = Stream()

    def read_until_closed(self, fd, limit_s=25.0, on_data=None):
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            data = read_available(fd, 0.2)
            if data is None:
                return True
            if data:
                self.stream.feed(data)
                if on_data:
                    on_data(self)
        return False

    def finish(self):
        assert self.proc.wait(timeout=20) == 0
        return self.truth()

    def truth(self):
        lines = [json.loads(line) for line in self.truth_path.read_text().splitlines()]
        assert lines[0]["type"] == "config"
        assert lines[-1]["type"] == "summary"
        return lines

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def sims():
    started = []
    yield started
    for s in started:
        s.kill()


def run_session(tmp_path, sims, *args, stall_s=0.0):
    """Starts a --wait-request session, requests, reads it all (after
    stall_s, a reader held up on a loaded machine); returns (sim, truth
    lines)."""
    sim = Sim(tmp_path, "--wait-request", *args)
    sims.append(sim)
    fd = open_raw(sim.slave)
    try:
        os.write(fd, HELLO_REQUEST_FRAME)
        time.sleep(stall_s)
        assert sim.read_until_closed(fd), "the simulator never closed its line"
    finally:
        os.close(fd)
    return sim, sim.finish()


def check_seq_and_samples(frames, rate_hz, first_seq=0):
    """seq +1 for every frame; SAMPLES t_us step by the samples before."""
    gaps = 0
    for a, b in zip(frames, frames[1:]):
        gaps += (b["seq"] - a["seq"] - 1) % 65536
    samples = [f for f in frames if f["type"] == SAMPLES]
    step_us = 1e6 / rate_hz
    index = 0
    t_first = samples[0]["t_us"]
    for f in samples:
        expected = (t_first + round(index * step_us)) % 2**32
        assert f["t_us"] == expected, (index, f["t_us"], expected)
        index += len(f["samples"])
    return gaps


# --------------------------------------------------------------------------
# massaged-sim


@pytest.mark.parametrize(
    "kind,rate,per_frame,p_scale",
    [("ball", 1000, 10, 1.0), ("scraper", 500, 5, 0.001)],
)
def test_clean_session(tmp_path, sims, kind, rate, per_frame, p_scale):
    """A clean session: every frame arrives, seq and time are exact, the
    summary agrees with the stream, the clock wraps mid-session."""
    t0 = 2**32 - 1_500_000  # wraps 1.5 s in
    duration = 4
    sim, truth = run_session(
        tmp_path, sims, "--kind", kind, "--seed", SEED, "--duration", duration, "--fast",
        "--t0-us", t0, "--serial", "TEST-0123456789A",
    )
    s = sim.stream
    summary = truth[-1]
    assert s.bad_chunks == 0 and s.bad_bytes == 0
    assert s.frames[0]["type"] == HELLO and s.frames[0]["t_us"] == t0
    hello = s.frames[0]
    assert hello["kind"] == (1 if kind == "ball" else 2)
    assert hello["serial"] == "TEST-0123456789A" and hello["reserved"] == 0
    assert hello["rate_hz"] == rate
    assert hello["scales"][0] == pytest.approx(p_scale, rel=1e-7)
    assert hello["scales"][1] == 16 / 32768 and hello["scales"][2] == 2000 / 32768
    assert [f["seq"] for f in s.frames] == list(range(len(s.frames)))
    assert check_seq_and_samples(s.frames, rate) == 0
    samples = s.of(SAMPLES)
    assert all(len(f["samples"]) == per_frame for f in samples)
    n_samples = sum(len(f["samples"]) for f in samples)
    assert n_samples == duration * rate == summary["samples_sent"] == summary["samples_total"]
    assert samples[0]["t_us"] == t0 and summary["first_t_us"] == t0
    assert any(f["t_us"] < t0 for f in samples), "the clock should have wrapped"
    assert len(s.frames) == summary["frames_sent"] and summary["next_seq"] == len(s.frames)
    assert len(s.of(HELLO)) == summary["hello_sent"] == 1  # 4 s: only the power-on HELLO
    assert len(s.of(STATUS)) == summary["status_sent"] == duration
    assert len(s.of(BUTTON)) == summary["button_sent"]
    for st in s.of(STATUS):
        assert 3500 < st["battery_mv"] < 4200 and st["flags"] == 0
    assert summary["hello_requests"] == 1
    assert summary["frames_dropped"] == summary["garbage_bytes"] == 0
    # Sensor values are plausible physical readings once scaled.
    p = [smp[0] * hello["scales"][0] for f in samples for smp in f["samples"]]
    if kind == "ball":
        assert 80_000 < min(p) and max(p) < 200_000
    else:
        assert -5 < min(p) and max(p) < 200
    for f in samples:
        for smp in f["samples"]:
            assert all(-32768 <= v <= 32767 for v in smp[1:])


def test_fast_session_waits_for_a_stalled_reader(tmp_path, sims):
    """In --fast mode a whole session lies queued in the pty when it ends,
    and closing the line discards what is unread: the simulator waits for a
    reader held up for longer than its real-time wait (2 s) before it goes,
    so every sample it counts as sent arrives."""
    sim, truth = run_session(tmp_path, sims, "--kind", "scraper", "--seed", SEED,
                             "--duration", 2, "--fast", stall_s=3.0)
    summary = truth[-1]
    received = sum(len(f["samples"]) for f in sim.stream.of(SAMPLES))
    assert received == summary["samples_sent"] == 1000
    assert [f["seq"] for f in sim.stream.frames] == list(range(len(sim.stream.frames)))


def test_truth_file_schema(tmp_path, sims):
    """Every truth line parses and lies inside the session."""
    duration = 60
    sim, truth = run_session(
        tmp_path, sims, "--kind", "ball", "--seed", SEED, "--duration", duration, "--fast",
        "--samples-per-frame", 30,
    )
    config, summary = truth[0], truth[-1]
    t0 = config["t0_us"] * 1e-6
    assert config["kind"] == "ball" and config["seed"] == SEED and config["rate_hz"] == 1000
    for line in truth[1:-1]:
        assert isinstance(line["type"], str)
        if "t_start_dev" in line:
            assert t0 - 1e-9 <= line["t_start_dev"] <= line["t_end_dev"] <= t0 + duration + 1e-6
            assert isinstance(line["fields"], dict)
        else:
            assert t0 - 1e-9 <= line["t_dev"] <= t0 + duration + 1e-6
    intervals = [line for line in truth if "t_start_dev" in line]
    print(f"{len(intervals)} truth intervals in {duration} s")
    assert intervals, "a minute of massage-ball physics should contain some activity"
    # One press per mark instant, and the BUTTON frames carry them.
    marks = [line for line in truth if line["type"] == "mark"]
    presses = [f for f in sim.stream.of(BUTTON) if f["pressed"] == 1]
    assert len(presses) == len(marks)
    assert summary["samples_sent"] == duration * 1000
    hellos = sim.stream.of(HELLO)  # at 0, 5, .. 55 s of device time
    assert len(hellos) == 12 == summary["hello_sent"]
    assert all((b["t_us"] - a["t_us"]) % 2**32 == 5_000_000 for a, b in zip(hellos, hellos[1:]))
    statuses = sim.stream.of(STATUS)
    assert len(statuses) == 60
    assert statuses[-1]["battery_mv"] <= statuses[0]["battery_mv"] + 10
    assert all(len(f["samples"]) == 30 for f in sim.stream.of(SAMPLES)[:-1])


def test_faults_are_accounted_exactly(tmp_path, sims):
    """Garbage, drops and bit flips: what arrives matches the summary."""
    sim, truth = run_session(
        tmp_path, sims, "--kind", "ball", "--seed", SEED, "--duration", 5, "--fast",
        "--garbage-rate", 0.2, "--drop-rate", 0.05, "--corrupt-rate", 0.03,
    )
    s, summary = sim.stream, truth[-1]
    print("summary:", summary)
    assert summary["frames_dropped"] > 0 and summary["corrupted_frames"] > 0
    assert summary["garbage_bytes"] > 0
    assert len(s.frames) == summary["frames_sent"]
    received = sum(len(f["samples"]) for f in s.of(SAMPLES))
    assert received == summary["samples_sent"]
    assert (
        received + summary["samples_dropped"] + summary["samples_corrupted"]
        == summary["samples_total"] == 5000
    )
    gaps = sum((b["seq"] - a["seq"] - 1) % 65536 for a, b in zip(s.frames, s.frames[1:]))
    lost_before_first = s.frames[0]["seq"]  # frames lost before the first that arrived
    assert gaps + lost_before_first == summary["frames_dropped"] + summary["corrupted_frames"]
    assert s.bad_chunks == summary["garbage_runs"] + summary["corrupted_frames"]


def test_garbage_bytes_pass_the_line_unaltered(tmp_path, sims):
    """With noise before every frame, every byte value (0x00, XON 0x11,
    XOFF 0x13, CR, LF included) crosses the pty, and the byte count that is
    not frames is exactly the garbage the summary reports."""
    sim, truth = run_session(
        tmp_path, sims, "--kind", "scraper", "--seed", SEED, "--duration", 2, "--fast",
        "--garbage-rate", 1,
    )
    s, summary = sim.stream, truth[-1]
    assert s.bad_bytes == summary["garbage_bytes"]
    assert s.frame_bytes + s.bad_bytes == s.total_bytes
    assert len(s.frames) == summary["frames_sent"]
    assert [f["seq"] for f in s.frames] == list(range(len(s.frames)))
    assert summary["garbage_runs"] > 0 and s.bad_chunks == summary["garbage_runs"]


def test_all_byte_values_pass(tmp_path, sims):
    sim = Sim(tmp_path, "--kind", "ball", "--seed", SEED, "--duration", 2, "--fast",
              "--wait-request", "--garbage-rate", 1)
    sims.append(sim)
    fd = open_raw(sim.slave)
    seen = bytearray()
    try:
        os.write(fd, HELLO_REQUEST_FRAME)
        while (data := read_available(fd, 5.0)) is not None:
            seen += data
    finally:
        os.close(fd)
    sim.finish()
    missing = set(range(256)) - set(seen)
    assert not missing, f"byte values never received: {sorted(missing)}"


def test_hello_request_answered_mid_stream(tmp_path, sims):
    """In real time, a HELLO REQUEST during the stream gets a HELLO at once,
    and the stream keeps the device's pace."""
    sim = Sim(tmp_path, "--kind", "ball", "--seed", SEED, "--duration", 1.5, "--wait-request")
    sims.append(sim)
    fd = open_raw(sim.slave)
    state = {"asked": False}

    def ask_once(sim_):
        if not state["asked"] and len(sim_.stream.of(SAMPLES)) >= 50:
            os.write(fd, HELLO_REQUEST_FRAME)
            state["asked"] = True
            state["frames_then"] = len(sim_.stream.frames)
            state["at"] = time.monotonic()

    try:
        os.write(fd, HELLO_REQUEST_FRAME)
        start = time.monotonic()
        assert sim.read_until_closed(fd, on_data=ask_once)
        elapsed = time.monotonic() - start
    finally:
        os.close(fd)
    summary = sim.finish()[-1]
    s = sim.stream
    hellos = [i for i, f in enumerate(s.frames) if f["type"] == HELLO]
    assert len(hellos) == 2 == summary["hello_sent"] and summary["hello_requests"] == 2
    # The answer comes within the next few frames (100 frames/s; the margin
    # covers frames already in the pty when the request was written).
    assert state["frames_then"] <= hellos[1] <= state["frames_then"] + 30
    assert summary["samples_sent"] == 1500
    assert check_seq_and_samples(s.frames, 1000) == 0
    # Real time: 1.5 s of samples cannot arrive in much less than 1.5 s.
    assert elapsed > 1.2, elapsed


def test_speed_paces_faster_than_real_time(tmp_path, sims):
    """--speed 8: 4 s of device time arrive, complete and in order, paced,
    in about half a second: not at once, and not in real time."""
    sim = Sim(tmp_path, "--kind", "ball", "--seed", SEED, "--duration", 4, "--wait-request",
              "--speed", 8)
    sims.append(sim)
    fd = open_raw(sim.slave)
    try:
        os.write(fd, HELLO_REQUEST_FRAME)
        start = time.monotonic()
        assert sim.read_until_closed(fd)
        elapsed = time.monotonic() - start
    finally:
        os.close(fd)
    summary = sim.finish()[-1]
    assert summary["samples_sent"] == 4000
    assert check_seq_and_samples(sim.stream.frames, 1000) == 0
    # paced: 0.5 s at 8 x (the last frame waits for its time); never real time
    assert 0.45 < elapsed < 3.0, elapsed


def test_pause_replug_and_link(tmp_path, sims):
    """--pause-at/--pause-for: the line disappears (reads fail), the link is
    removed, a new pty appears with a HELLO, seq and device time continue."""
    link = tmp_path / "ball-link"
    sim = Sim(tmp_path, "--kind", "ball", "--seed", SEED, "--duration", 2, "--fast",
              "--wait-request", "--pause-at", 0.5, "--pause-for", 1, "--link", link)
    sims.append(sim)
    assert os.readlink(link) == sim.slave
    fd = open_raw(str(link))
    try:
        os.write(fd, HELLO_REQUEST_FRAME)
        assert sim.read_until_closed(fd, limit_s=10)
    finally:
        os.close(fd)
    before = list(sim.stream.frames)
    assert not os.path.lexists(link), "the link must vanish while unplugged"
    second = sim.proc.stdout.readline().strip()
    assert second.startswith("/dev/pts/")
    assert os.readlink(link) == second
    fd = open_raw(second)
    try:
        assert sim.read_until_closed(fd, limit_s=10)
    finally:
        os.close(fd)
    truth = sim.finish()
    summary = truth[-1]
    after = sim.stream.frames[len(before):]
    assert summary["pauses"] == 1 and summary["samples_unplugged"] == 1000
    assert after[0]["type"] == HELLO
    assert after[0]["seq"] == before[-1]["seq"] + 1, "seq goes on: the device never rebooted"
    samples_before = [f for f in before if f["type"] == SAMPLES]
    samples_after = [f for f in after if f["type"] == SAMPLES]
    t_resume = (samples_before[-1]["t_us"] + 10_000 + 1_000_000) % 2**32
    assert after[0]["t_us"] == t_resume and samples_after[0]["t_us"] == t_resume
    n_before = sum(len(f["samples"]) for f in samples_before)
    n_after = sum(len(f["samples"]) for f in samples_after)
    assert n_before == 500 and n_after == 500 == summary["samples_sent"] - n_before
    assert len(sim.stream.frames) == summary["frames_sent"]
    kinds = [line["type"] for line in truth]
    assert "unplug" in kinds and "replug" in kinds


def test_pause_every_repeats_replug_cycles(tmp_path, sims):
    sim = Sim(tmp_path, "--kind", "scraper", "--seed", SEED, "--duration", 3, "--fast",
              "--wait-request", "--pause-every", 1, "--pause-for", 0.3)
    sims.append(sim)
    paths = [sim.slave]
    fd = open_raw(sim.slave)
    os.write(fd, HELLO_REQUEST_FRAME)
    try:
        assert sim.read_until_closed(fd, limit_s=10)
        for late_s in (3, 0):
            os.close(fd)
            paths.append(sim.proc.stdout.readline().strip())
            # in --fast mode the new line holds a whole segment at once; a
            # reader on a loaded machine that opens it late still gets it all
            time.sleep(late_s)
            fd = open_raw(paths[-1])
            assert sim.read_until_closed(fd, limit_s=10)
    finally:
        os.close(fd)
    summary = sim.finish()[-1]
    assert all(p.startswith("/dev/pts/") for p in paths)
    assert summary["pauses"] == 2 and summary["samples_unplugged"] == 2 * 150
    received = sum(len(f["samples"]) for f in sim.stream.of(SAMPLES))
    assert received == summary["samples_sent"] == 1500 - 300
    assert [f["seq"] for f in sim.stream.frames] == list(range(len(sim.stream.frames)))
    assert len(sim.stream.of(HELLO)) == 3  # power-on and one per replug


def test_existing_port(tmp_path, sims):
    """--port writes to a tty that already exists (here one end of a pty
    pair the test owns) instead of making a pty."""
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo of the request even before the simulator sets it raw
    port = os.ttyname(slave)
    cmd = [SIM, "--quiet", "--kind", "ball", "--seed", str(SEED), "--duration", "1", "--fast",
           "--wait-request", "--port", port, "--truth", str(tmp_path / "t.jsonl")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    stream = Stream()
    try:
        os.set_blocking(master, False)
        os.write(master, HELLO_REQUEST_FRAME)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            data = read_available(master, 0.2)
            if data:
                stream.feed(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        os.close(slave)
    assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == b"", "no pty path is printed with --port"
    summary = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[-1])
    assert stream.bad_chunks == 0 and stream.frames[0]["type"] == HELLO
    assert sum(len(f["samples"]) for f in stream.of(SAMPLES)) == summary["samples_sent"] == 1000


def test_overflow_when_reader_stalls(tmp_path, sims):
    """A reader that stops reading fills the pty: the device drops frames
    (seq gaps), says so in STATUS bit 2, and never blocks for good."""
    sim = Sim(tmp_path, "--kind", "ball", "--seed", SEED, "--duration", 4, "--wait-request",
              "--write-timeout", 0.1)
    sims.append(sim)
    fd = open_raw(sim.slave)
    try:
        os.write(fd, HELLO_REQUEST_FRAME)
        # Not reading for 2 s: the pty holds well under a second of frames,
        # so the device buffer must overflow, and the simulator go on.
        time.sleep(2.0)
        assert sim.read_until_closed(fd)
    finally:
        os.close(fd)
    summary = sim.finish()[-1]
    s = sim.stream
    print("summary:", summary)
    assert summary["frames_overflowed"] > 0
    received = sum(len(f["samples"]) for f in s.of(SAMPLES))
    assert received == summary["samples_sent"]
    assert received + summary["samples_overflowed"] == 4000
    gaps = sum((b["seq"] - a["seq"] - 1) % 65536 for a, b in zip(s.frames, s.frames[1:]))
    assert gaps == summary["frames_overflowed"]
    # A frame cut off mid-write is ended by a delimiter: at most one bad chunk
    # per overflow episode, and never a good frame eaten.
    assert s.bad_chunks <= summary["frames_overflowed"]
    assert any(st["flags"] & 0x4 for st in s.of(STATUS))


def test_bad_options_are_refused():
    for args in (["--kind", "kite"], [], ["--kind", "ball", "--samples-per-frame", "31"],
                 ["--kind", "ball", "--drop-rate", "1.5"], ["--kind", "ball", "--serial", "X" * 17],
                 ["--kind", "ball", "--speed", "0.5"], ["--kind", "ball", "--fast", "--speed", "2"]):
        r = subprocess.run([SIM, *args], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, args
        assert "massaged-sim" in r.stderr


# --------------------------------------------------------------------------
# massaged-sub

zmq = pytest.importorskip("zmq")

EVENT = {"v": 1, "device": "ball", "kind": "ball", "type": "flex", "phase": "end", "t_dev": 12.345,
         "t_host": 1700000000.5, "id": 7, "t_start_dev": 10.0, "duration_s": 2.345,
         "pressure_rise_pa": 812.5}
RAW = {"v": 1, "device": "ball", "kind": "ball", "rate_hz": 1000, "i0": 1234, "t_dev": 1.234,
       "n": 2, "p": [101325.0, 101326.5], "acc": [0, 0, 1, 0, 0, 1], "gyr": [0, 0, 0, 0, 0, 0]}
STATUS_MSG = {"v": 1, "device": "ball", "connected": True, "frames": 1234,
              "nested": {"a": [1, 2]}}


class Publisher:
    def __init__(self):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.LINGER, 1000)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def wait_subscriptions(self, n, timeout_s=10.0):
        topics = []
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        end = time.monotonic() + timeout_s
        while len(topics) < n and time.monotonic() < end:
            if poller.poll(100):
                msg = self.sock.recv()
                if msg[:1] == b"\x01":
                    topics.append(msg[1:].decode())
        assert len(topics) == n, topics
        return topics

    def send(self, topic, payload):
        # The payload exactly as the daemon sends it: compact JSON, no newline.
        self.sock.send_multipart([topic.encode(), json.dumps(payload, separators=(",", ":")).encode()])

    def close(self):
        self.sock.close()
        self.ctx.term()


@pytest.fixture
def publisher():
    pub = Publisher()
    yield pub
    pub.close()


def run_sub(publisher, args, messages, n_subscriptions=1):
    proc = subprocess.Popen([SUB, "--endpoint", publisher.endpoint, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        publisher.wait_subscriptions(n_subscriptions)
        for topic, payload in messages:
            publisher.send(topic, payload)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


def test_sub_json_mode_splices_payload(publisher):
    msgs = [("event.ball.flex", EVENT), ("raw.ball", RAW), ("status.ball", STATUS_MSG)]
    rc, out, err = run_sub(publisher, ["--json", "--count", "3", "--timeout", "10"], msgs)
    assert rc == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [{"topic": t, "payload": p} for t, p in msgs]
    # Spliced, not re-encoded: the payload text appears byte for byte.
    assert json.dumps(RAW, separators=(",", ":")) in out


def test_sub_readable_mode(publisher):
    msgs = [("event.ball.flex", EVENT), ("raw.ball", RAW), ("status.ball", STATUS_MSG)]
    rc, out, err = run_sub(publisher, ["--count", "3", "--timeout", "10"], msgs)
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    time_re = r"\d\d:\d\d:\d\d\.\d\d\d "
    import re

    assert re.match(time_re + r"event\.ball\.flex end id=7 t_dev=12\.345 ", lines[0]), lines[0]
    assert "pressure_rise_pa=812.5" in lines[0] and "duration_s=2.345" in lines[0]
    assert " device=" not in lines[0] and " v=" not in lines[0]
    assert re.match(time_re + r"raw\.ball n=2 i0=1234 t_dev=1\.234 p=\[101325\.0 \.\.\]", lines[1]), lines[1]
    assert re.match(time_re + r"status\.ball ", lines[2]), lines[2]
    assert "connected=true" in lines[2] and 'nested={"a":[1,2]}' in lines[2]


def test_sub_topic_filter_and_count(publisher):
    msgs = [("raw.ball", RAW), ("event.ball.flex", EVENT), ("status.daemon", STATUS_MSG),
            ("event.ball.flex", EVENT)]
    rc, out, err = run_sub(publisher, ["--json", "--topic", "event.", "--topic", "status.daemon",
                                       "--count", "2", "--timeout", "10"], msgs, n_subscriptions=2)
    assert rc == 0, err
    topics = [json.loads(line)["topic"] for line in out.splitlines()]
    assert topics == ["event.ball.flex", "status.daemon"]


def test_sub_timeout_without_messages_fails(publisher):
    rc, out, err = run_sub(publisher, ["--count", "1", "--timeout", "0.5"], [])
    assert rc == 1 and out == ""


def test_sub_exits_cleanly_on_sigint(publisher):
    import signal

    proc = subprocess.Popen([SUB, "--endpoint", publisher.endpoint], stdout=subprocess.PIPE,
                            text=True)
    publisher.wait_subscriptions(1)
    publisher.send("event.ball.mark", {"v": 1, "phase": "instant", "id": 1, "t_dev": 3.0})
    first = proc.stdout.readline()
    assert "event.ball.mark instant id=1 t_dev=3.0" in first
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=5) == 0
