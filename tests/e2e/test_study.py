"""Study-driven recording (docs/RECORDING.md, "Driving a recording from a
study"): a plain TCP client speaks LabRecorder's remote-control lines to the
real daemon, exactly as study scripts send them (several commands in one
packet, a command split across packets), while a pty device streams; the
files must carry the names and labels asked for and every sample sent
between start and stop, read back by the strict reader."""
import json
import random
import signal
import socket
import subprocess
import time

import numpy as np

import proto
import xdf_strict
from conftest import (free_port, npm_package, sim_done, skip_without_npm, start_sim, tool,
                      wait_subscribed)
from test_record import SAMPLE_INDEX, SENSORS, expected, make_samples, send, wait_raw


class Rcs:
    """A study script's connection: sends bytes as given, reads replies
    (LabRecorder's have no line end, so a reply is what arrives)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    @classmethod
    def once_listening(cls, port, timeout=10.0):
        """Connects as soon as the daemon's control thread listens on port."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return cls(port)
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)

    def send(self, data: bytes):
        self.sock.sendall(data)

    def expect(self, want: bytes):
        got = b""
        while len(got) < len(want):
            chunk = self.sock.recv(4096)
            assert chunk, "connection closed after %r" % got
            got += chunk
        assert got == want
        return got

    def reply(self, line: bytes):
        """Sends one line and returns the whole reply (one recv is enough
        for the short replies; status may come in pieces)."""
        self.send(line)
        got = self.sock.recv(65536)
        while got.startswith(b"{") and not got.endswith(b"}"):
            got += self.sock.recv(65536)
        return got

    def status(self):
        return json.loads(self.reply(b"status\n"))

    def wait(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if pred(st):
                return st
            assert time.monotonic() < deadline, st
            time.sleep(0.05)

    def close(self):
        self.sock.close()


def start_daemon(daemon_factory, subscriber_factory, pty_factory, tmp_path, extra=""):
    port = free_port()
    dev = pty_factory(name="ball")
    d = daemon_factory(devices=[("ball", "ball", dev.link)],
                       extra="[control]\nrcs = 127.0.0.1:%d\n\n%s" % (port, extra))
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    sub.wait_for(lambda t, m: t == "status.ball" and m["connected"], 10)
    return d, sub, dev, Rcs.once_listening(port)


def ball(f):
    return next(s for s in f.streams.values() if s.name == "ball")


def test_study_names_starts_and_stops_recordings(daemon_factory, subscriber_factory, pty_factory,
                                                 tmp_path):
    seed = random.randrange(1 << 30)
    print("seed", seed)
    rng = random.Random(seed)
    root = tmp_path / "study"
    d, sub, dev, rcs = start_daemon(daemon_factory, subscriber_factory, pty_factory, tmp_path)
    silent = socket.create_connection(("127.0.0.1", rcs.sock.getpeername()[1]))  # says nothing
    samples = make_samples(rng, 4000)

    # Before any start nothing is recorded.
    send(dev, samples[:500])
    wait_raw(sub, 499)
    assert not root.exists()

    # What a PsychoPy script sends, the first three lines in one packet.
    rcs.send(b"select all\nfilename {root:%s} {participant:01} {session:02} {task:calf} "
             b"{run:1}\nstart\n" % str(root).encode())
    rcs.expect(b"OKOKOK")
    rcs.wait(lambda st: st["recording"])
    send(dev, samples[500:2000])
    wait_raw(sub, 1999)
    # stop split across packets
    rcs.send(b"st")
    time.sleep(0.1)
    rcs.send(b"op\r\n")
    rcs.expect(b"OK")
    rcs.wait(lambda st: not st["recording"])
    first = root / "sub-01/ses-02/motion/sub-01_ses-02_task-calf_run-001_motion.xdf"
    assert first.exists(), sorted(str(p) for p in root.rglob("*"))

    # Between recordings: not recorded.
    send(dev, samples[2000:2500])
    wait_raw(sub, 2499)

    # A malformed line answers an error and changes nothing.
    assert rcs.reply(b"filename {participant:../x}\n").startswith(b"ERROR: ")
    assert rcs.reply(b"filename {participant:03} {colour:red}\n").startswith(b"ERROR: ")
    assert rcs.reply(b"filename {participant:03\n").startswith(b"ERROR: ")
    assert rcs.reply(b"select some\n").startswith(b"ERROR: ")
    assert rcs.reply(b"begin\n").startswith(b"ERROR: ")
    assert rcs.reply(b"update\n") == b"OK"
    assert rcs.status()["participant"] == "01"

    # A second client runs the next recording: run 2 and an acquisition.
    other = Rcs(rcs.sock.getpeername()[1])
    other.send(b"filename {run:2} {acquisition:ankle}\nstart\n")
    other.expect(b"OKOK")
    assert other.reply(b"start\n").startswith(b"ERROR: ")  # already recording
    other.wait(lambda st: st["recording"])
    send(dev, samples[2500:4000])
    wait_raw(sub, 3999)
    assert rcs.reply(b"stop\n") == b"OK"
    rcs.wait(lambda st: not st["recording"])
    second = root / "sub-01/ses-02/motion/sub-01_ses-02_task-calf_acq-ankle_run-002_motion.xdf"

    silent.close()
    other.close()
    rcs.close()
    assert d.stop(signal.SIGTERM) == 0

    for path, lo, hi, run, acq in ((first, 500, 2000, "001", ""),
                                   (second, 2500, 4000, "002", "ankle")):
        f = xdf_strict.read(path)
        assert f.damage == [] and not f.truncated
        b = ball(f)
        assert b.desc("study/participant") == "01"
        assert b.desc("study/session") == "02"
        assert b.desc("study/task") == "calf"
        assert b.desc("study/run") == run
        assert (b.desc("study/acquisition") or "") == acq
        v = b.values
        assert len(v) == hi - lo, (path, len(v))
        assert np.array_equal(v[:, SENSORS], expected(samples[lo:hi]))
        assert np.array_equal(v[:, SAMPLE_INDEX], np.arange(lo, hi))
        assert b.footer["sample_count"] == str(hi - lo)
        events = next(s for s in f.streams.values() if s.name == "events")
        assert events.desc("study/participant") == "01"
    assert sorted(p.name for p in root.rglob("*.xdf")) == sorted([first.name, second.name])


def test_legacy_template_and_an_existing_file(daemon_factory, subscriber_factory, pty_factory,
                                             tmp_path):
    """LabRecorder's README example: a legacy template (lowercased, %n the
    run), Windows separators; a file already there is moved aside."""
    root = tmp_path / "data"
    target = root / "exp002" / "P003_block_MemoryGuided.xdf"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"earlier")
    d, sub, dev, rcs = start_daemon(daemon_factory, subscriber_factory, pty_factory, tmp_path)
    rcs.send(b"select all\n")
    rcs.send(b"filename {root:%s} {template:EXP%%n\\%%p_block_%%b.xdf} {run:2} "
             b"{participant:P003} {task:MemoryGuided}\n" % str(root).encode())
    rcs.send(b"start\n")
    rcs.expect(b"OKOKOK")
    st = rcs.wait(lambda st: st["recording"])
    assert st["file"] == str(target)
    assert (root / "exp002" / "P003_block_MemoryGuided_old1.xdf").read_bytes() == b"earlier"
    send(dev, make_samples(random.Random(1), 300))
    wait_raw(sub, 299)
    assert rcs.reply(b"stop\n") == b"OK"
    rcs.wait(lambda st: not st["recording"])
    assert d.stop(signal.SIGTERM) == 0
    f = xdf_strict.read(target)
    assert len(ball(f).values) == 300
    assert ball(f).desc("study/participant") == "P003"


def test_sigterm_during_a_controlled_recording_loses_nothing(daemon_factory, subscriber_factory,
                                                             pty_factory, tmp_path):
    rng = random.Random(7)
    d, sub, dev, rcs = start_daemon(daemon_factory, subscriber_factory, pty_factory, tmp_path,
                                    extra="[record]\ndir = %s\n\n" % (tmp_path / "root"))
    # [record] dir is the study's root when filename gives none
    rcs.send(b"filename {participant:07} {session:1} {task:rest}\nstart\n")
    rcs.expect(b"OKOK")
    rcs.wait(lambda st: st["recording"])
    samples = make_samples(rng, 3000)
    send(dev, samples)
    wait_raw(sub, 2999)
    assert d.stop(signal.SIGTERM) == 0
    path = tmp_path / "root/sub-07/ses-1/motion/sub-07_ses-1_task-rest_run-001_motion.xdf"
    f = xdf_strict.read(path)
    assert f.damage == [] and not f.truncated
    v = ball(f).values
    assert len(v) == 3000 and np.array_equal(v[:, SENSORS], expected(samples))
    assert ball(f).footer["sample_count"] == "3000"


def test_massaged_ctl(daemon_factory, subscriber_factory, pty_factory, tmp_path):
    """The same commands from a shell: massaged-ctl record start/stop/status,
    the address read from the daemon's configuration."""
    root = tmp_path / "root"
    d, sub, dev, rcs = start_daemon(daemon_factory, subscriber_factory, pty_factory, tmp_path,
                                    extra="[record]\ndir = %s\n\n" % root)
    rcs.close()
    ctl = [tool("massaged-ctl"), "--config", str(d.config), "record"]

    def run(*args):
        return subprocess.run([*ctl, *args], capture_output=True, text=True, timeout=10)

    r = run("start", "--participant", "01", "--session", "02", "--task", "calf")
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 10
    while not json.loads(run("status").stdout)["recording"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    st = json.loads(run("status").stdout)
    path = root / "sub-01/ses-02/motion/sub-01_ses-02_task-calf_run-001_motion.xdf"
    assert st["file"] == str(path) and st["participant"] == "01" and st["task"] == "calf"
    # a refused name changes nothing, and the start that would follow is not sent
    r = run("start", "--participant", "../up")
    assert r.returncode == 1 and "ERROR: filename: {participant:../up}" in r.stderr
    send(dev, make_samples(random.Random(3), 200))
    wait_raw(sub, 199)
    assert run("stop").returncode == 0
    while json.loads(run("status").stdout)["recording"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r = run("bogus")
    assert r.returncode == 2
    r = run("start", "--bogus", "x")  # an unknown start option is a usage error
    assert r.returncode == 2 and "Usage: massaged-ctl" in r.stderr, r.stderr
    assert d.stop(signal.SIGTERM) == 0
    assert len(ball(xdf_strict.read(path)).values) == 200
    r = run("status")  # the daemon is gone: a clear message
    assert r.returncode == 1 and "cannot connect" in r.stderr


def test_bids_export_of_two_participants_and_two_sessions(daemon_factory, subscriber_factory,
                                                          pty_factory, tmp_path):
    """Four study recordings of a ball and a scraper (two participants, two
    sessions each) exported with massaged-export --bids; the official
    validator must report no error, and the files must hold every sample."""
    validator, why = npm_package("bids-validator@1.15", "bids-validator")
    root = tmp_path / "study"
    port = free_port()
    ball_dev = pty_factory(name="ball")
    scraper_dev = pty_factory(name="scraper", kind=proto.SCRAPER, rate_hz=500)
    d = daemon_factory(devices=[("ball", "ball", ball_dev.link),
                                ("scraper", "scraper", scraper_dev.link)],
                       extra="[control]\nrcs = 127.0.0.1:%d\n\n" % port)
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    for name in ("ball", "scraper"):
        sub.wait_for(lambda t, m, name=name: t == "status." + name and m["connected"], 10)
    rcs = Rcs(port)
    rcs.send(b"filename {root:%s}\n" % str(root).encode())
    rcs.expect(b"OK")
    rng = random.Random(11)
    index = {"ball": 0, "scraper": 0}
    sent = {}
    for participant in ("01", "02"):
        for session in ("1", "2"):
            rcs.send(b"filename {participant:%s} {session:%s} {task:calf}\nstart\n" %
                     (participant.encode(), session.encode()))
            rcs.expect(b"OKOK")
            rcs.wait(lambda st: st["recording"])
            n = 400 + 100 * len(sent)
            for dev, name in ((ball_dev, "ball"), (scraper_dev, "scraper")):
                samples = make_samples(rng, n)
                send(dev, samples)
                index[name] += n
                sub.wait_for(lambda t, m, name=name: t == "raw." + name and
                             m["i0"] + m["n"] >= index[name], 20)
            ball_dev.write(ball_dev.next_frame(proto.BUTTON, bytes([1])))
            sub.wait_for(lambda t, m: t == "event.ball.mark", 10)
            assert rcs.reply(b"stop\n") == b"OK"
            rcs.wait(lambda st: not st["recording"])
            sent[(participant, session)] = n
    rcs.close()
    assert d.stop(signal.SIGTERM) == 0
    files = sorted(str(p) for p in root.rglob("*.xdf"))
    assert len(files) == 4

    out = tmp_path / "bids"
    r = subprocess.run([tool("massaged-export"), "--bids", str(out), *files],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for (participant, session), n in sent.items():
        motion = out / ("sub-%s/ses-%s/motion" % (participant, session))
        stem = "sub-%s_ses-%s_task-calf" % (participant, session)
        for name, unit in (("ball", "Pa"), ("scraper", "N")):
            data = np.loadtxt(motion / ("%s_tracksys-%s_run-001_motion.tsv" % (stem, name)),
                              delimiter="\t", ndmin=2)
            assert data.shape == (n, 8)
            assert data[0, 7] == 0 and np.all(np.diff(data[:, 7]) > 0)
            channels = (motion / ("%s_tracksys-%s_run-001_channels.tsv" % (stem, name))
                        ).read_text().splitlines()
            assert channels[0] == "name\tcomponent\ttype\ttracked_point\tunits"
            assert channels[1].split("\t") == ["p", "n/a", "MISC", name, unit]
            assert channels[2].split("\t") == ["acc_x", "x", "ACCEL", name, "m/s^2"]
            assert channels[5].split("\t") == ["gyr_x", "x", "GYRO", name, "rad/s"]
            sidecar = json.loads((motion / ("%s_tracksys-%s_run-001_motion.json" % (stem, name))
                                  ).read_text())
            assert sidecar["SamplingFrequency"] == (1000 if name == "ball" else 500)
            assert sidecar["TrackingSystemName"] == name
            assert sidecar["DeviceSerialNumber"] == "TEST0001"
        events = (motion / ("%s_run-001_events.tsv" % stem)).read_text().splitlines()
        header = events[0].split("\t")
        assert header[:3] == ["onset", "duration", "trial_type"] and "device" in header
        assert any(line.split("\t")[2] == "mark" for line in events[1:])
        assert (out / "sourcedata" / ("sub-%s/ses-%s/motion" % (participant, session))).is_dir()
        scans = (out / ("sub-%s/ses-%s/sub-%s_ses-%s_scans.tsv" %
                        (participant, session, participant, session))).read_text().splitlines()
        assert scans[0] == "filename\tacq_time" and len(scans) == 3
    assert (out / "participants.tsv").read_text() == "participant_id\nsub-01\nsub-02\n"
    assert json.loads((out / "dataset_description.json").read_text())["BIDSVersion"] >= "1.9"

    if validator is None:
        skip_without_npm(why)
    r = subprocess.run([validator, "--json", str(out)], capture_output=True, text=True,
                       timeout=300)
    report = json.loads(r.stdout)
    errors = report["issues"]["errors"]
    print("bids-validator warnings:",
          [(w["key"], w.get("reason", "")[:80]) for w in report["issues"]["warnings"]])
    assert errors == [], json.dumps(errors, indent=1)[:4000]
    assert report["summary"]["subjects"] == ["01", "02"]
    assert sorted(report["summary"]["sessions"]) == ["1", "2"]
    assert "motion" in report["summary"]["modalities"] or report["summary"]["dataTypes"]


def test_stop_ends_treatment_sessions_and_the_history_has_the_names(daemon_factory,
                                                                    subscriber_factory, tmp_path):
    """A study's stop ends the open treatment session (reason "study") before
    the file closes, so its end event is recorded; the history row carries
    the study's participant, session, task and run."""
    import sqlite3
    link, db, root = tmp_path / "ball.tty", tmp_path / "history.db", tmp_path / "root"
    port = free_port()
    d = daemon_factory(devices=[("ball", "ball", str(link))],
                       extra="[control]\nrcs = 127.0.0.1:%d\n\n[record]\ndir = %s\n\n" %
                       (port, root), history="db = %s\n" % db)
    sub = subscriber_factory(d.endpoint, topics=("event.", "status."))
    wait_subscribed(sub)
    rcs = Rcs(port)
    rcs.send(b"filename {participant:07} {session:03} {task:calf} {run:4}\nstart\n")
    rcs.expect(b"OKOK")
    rcs.wait(lambda st: st["recording"])
    # A fast simulated minute of use, then the tool stays connected.
    sim = start_sim("ball", link, 31, "--fast", "--duration", "60", "--linger", "20")
    started = sub.wait_for(lambda t, m: t == "event.ball.session" and m["phase"] == "start", 30)[1]
    sub.wait_for(lambda t, m: t == "event.ball.hold" and m["phase"] == "end", 30)
    assert rcs.reply(b"stop\n") == b"OK"
    end = sub.wait_for(lambda t, m: t == "event.ball.session" and m["phase"] == "end", 10)[1]
    assert end["reason"] == "study" and end["id"] == started["id"]
    rcs.wait(lambda st: not st["recording"])
    sim.kill()
    sim_done(sim)
    rcs.close()
    assert d.stop(signal.SIGTERM) == 0

    path = root / "sub-07/ses-03/motion/sub-07_ses-03_task-calf_run-004_motion.xdf"
    f = xdf_strict.read(path)
    assert f.damage == [] and not f.truncated
    recorded = [json.loads(x) for x in next(s for s in f.streams.values()
                                             if s.name == "events").values]
    sessions = [e for e in recorded if e["type"] == "session"]
    assert [e["phase"] for e in sessions] == ["start", "end"]
    assert sessions[1]["reason"] == "study"
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    con.row_factory = sqlite3.Row
    got = [dict(r) for r in con.execute("SELECT * FROM sessions")]
    con.close()
    assert len(got) == 1
    r = got[0]
    assert (r["participant"], r["study_session"], r["task"], r["run"], r["end_reason"]) == \
        ("07", "03", "calf", "004", "study")


def test_clients_that_misbehave_block_nobody(daemon_factory, subscriber_factory, pty_factory,
                                             tmp_path):
    """Silent clients up to the limit, one more refused with a message, a line
    longer than the limit refused, a client gone mid-line: the others are
    served throughout and nothing changes."""
    d, sub, dev, rcs = start_daemon(daemon_factory, subscriber_factory, pty_factory, tmp_path)
    port = rcs.sock.getpeername()[1]
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(31)]  # 32 with rcs
    extra = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert extra.recv(100) == b"ERROR: too many clients"
    assert extra.recv(100) == b""  # and closed
    extra.close()
    assert rcs.reply(b"update\n") == b"OK"
    rcs.send(b"filename {participant:" + b"x" * 9000 + b"}\n")
    assert rcs.sock.recv(200).startswith(b"ERROR: line longer than 8191 bytes")
    silent[0].sendall(b"filename {participant:99")  # and goes away mid-line
    silent[0].close()
    time.sleep(0.2)
    st = rcs.status()
    assert st["participant"] == "" and not st["recording"]
    for s in silent[1:]:
        s.close()
    rcs.close()
    assert d.stop(signal.SIGTERM) == 0


def test_a_start_that_cannot_record_says_why_and_the_next_one_works(
        daemon_factory, subscriber_factory, pty_factory, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the root's directory would go")
    d, sub, dev, rcs = start_daemon(daemon_factory, subscriber_factory, pty_factory, tmp_path)
    rcs.send(b"filename {root:%s/study} {participant:01} {task:calf}\nstart\n" %
             str(blocker).encode())
    rcs.expect(b"OKOK")  # as LabRecorder: the start is taken; the status says what came of it
    st = rcs.wait(lambda st: st["error"] is not None)
    assert not st["recording"] and "mkdir" in st["error"] and "Not a directory" in st["error"]
    rcs.send(b"filename {root:%s}\nstart\n" % str(tmp_path / "good").encode())
    rcs.expect(b"OKOK")
    st = rcs.wait(lambda st: st["recording"])
    assert st["error"] is None
    send(dev, make_samples(random.Random(5), 100))
    wait_raw(sub, 99)
    assert rcs.reply(b"stop\n") == b"OK"
    rcs.wait(lambda st: not st["recording"])
    rcs.close()
    assert d.stop(signal.SIGTERM) == 0
    f = xdf_strict.read(tmp_path / "good/sub-01/ses-S001/motion" /
                        "sub-01_ses-S001_task-calf_run-001_motion.xdf")
    assert len(ball(f).values) == 100
