"""Treatment sessions and their history (docs/EVENTS.md, docs/HISTORY.md), end
to end: the real daemon, simulated tools on ptys over several sessions
separated by idle gaps, a real ZeroMQ subscriber, and the real SQLite file
read back with Python's sqlite3 module (a reader we did not write)."""
import json
import math
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import (free_port, run_daemon, sim_done, start_sim, tool, wait_subscribed,
                      write_config)

HISTORY = tool("massaged-history")
PYTHON = "/usr/bin/python3"
BALL_COUNTS = ("holds", "flexes", "rocks", "rolls")


def session_summary(kind, events):
    """What a session's own events add up to, computed here from the
    published events alone (docs/EVENTS.md, "Treatment sessions")."""
    def ends(t):
        return [e for e in events if e["type"] == t and e["phase"] == "end"]
    if kind == "ball":
        holds, rolls = ends("hold"), ends("roll")
        release = [h["release_per_flex"] for h in holds if "release_per_flex" in h]
        hold_total = sum(h["duration_s"] for h in holds)
        out = {
            "active_s": hold_total + sum(r["duration_s"] for r in rolls),
            "time_under_load_s": sum(h["time_under_load_s"] for h in holds),
            "holds": len(holds), "hold_total_s": hold_total,
            "hold_mean_s": hold_total / len(holds) if holds else 0.0,
            "flexes": len(ends("flex")),
            "flexes_per_hold": len(ends("flex")) / len(holds) if holds else 0.0,
            "rocks": len(ends("rock")), "rolls": len(rolls),
            "release_holds": len(release),
        }
        if release:
            out["release_trend"] = sum(release) / len(release)
        return out
    strokes = ends("stroke")
    by_dir = {d: sum(1 for s in strokes if s["direction"] == d) for d in ("up", "down", "level")}
    span = strokes[-1]["t_dev"] - strokes[0]["t_start_dev"] if strokes else 0.0
    areas, changed = 0, True
    for e in events:
        if e["type"] == "area":
            changed = True
        elif e["type"] == "stroke":
            areas += changed
            changed = False
    n = len(strokes)
    return {
        "active_s": sum(s["duration_s"] for s in strokes),
        "strokes": n, "strokes_up": by_dir["up"], "strokes_down": by_dir["down"],
        "strokes_level": by_dir["level"],
        "stroke_rate_per_min": 60.0 * n / span if n >= 2 and span > 0 else 0.0,
        "direction_consistency": max(by_dir.values()) / n if n else 0.0,
        "length_total_m": sum(s["length_m"] for s in strokes),
        "mean_force_n": sum(s["mean_force_n"] for s in strokes) / n if n else 0.0,
        "peak_force_n": max((s["peak_force_n"] for s in strokes), default=0.0),
        "areas": areas,
    }


def close(a, b):
    # The daemon sums in double and prints 17 significant digits; the
    # published per-event figures it sums are themselves rounded to 6
    # decimals for durations.
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=2e-5 * max(1, abs(b)))


def split_sessions(events):
    """Per device: a list of (start, [events inside], end) for every
    session whose start and end were both received."""
    out = {}
    for device in sorted({e["device"] for e in events}):
        mine = [e for e in events if e["device"] == device]
        sessions, current = [], None
        for e in mine:
            if e["type"] == "session" and e["phase"] == "start":
                assert current is None, "a session started inside another"
                current = (e, [])
            elif e["type"] == "session" and e["phase"] == "end":
                assert current is not None and e["id"] == current[0]["id"]
                sessions.append((current[0], current[1], e))
                current = None
            elif current is not None:
                current[1].append(e)
        out[device] = sessions
    return out


def run_tools(daemon_factory, subscriber_factory, tmp_path, history_keys, idle_s, seeds,
              duration="240"):
    links = {"ball": tmp_path / "ball.tty", "scraper": tmp_path / "scraper.tty"}
    d = daemon_factory(devices=[(k, k, str(v)) for k, v in links.items()],
                       extra="[session]\nidle_s = %d\n\n" % idle_s, history=history_keys)
    sub = subscriber_factory(d.endpoint, topics=("event.", "status.daemon"))
    wait_subscribed(sub)
    # --fast: device time runs ahead of the wall clock, so idle gaps of
    # device time come quickly; the sessions' ending by idle is on device
    # time, the same live and in replay.
    sims = [start_sim(kind, link, seeds[kind], "--fast", "--duration", duration,
                      "--linger", "0.3") for kind, link in links.items()]
    events, last_status = [], None
    ended = set()
    deadline = time.monotonic() + 90
    # Until both devices are gone and the daemon has ended their last
    # session after idle_s without them (reason "disconnected").
    while time.monotonic() < deadline and ended != set(links):
        topic, msg = sub.recv(0.5)
        if topic is None:
            continue
        if topic == "status.daemon":
            last_status = msg
            continue
        events.append(msg)
        if msg["type"] == "session" and msg["phase"] == "end" and \
                msg["reason"] == "disconnected":
            ended.add(msg["device"])
    for s in sims:
        sim_done(s)
    return d, sub, events, last_status, ended


def rows(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM sessions ORDER BY id")]
    finally:
        con.close()


def test_sessions_add_up_and_land_in_the_history(daemon_factory, subscriber_factory, tmp_path):
    db = tmp_path / "sessions.db"
    d, sub, events, status, ended = run_tools(
        daemon_factory, subscriber_factory, tmp_path,
        "db = %s\nparticipant = P01\n" % db, idle_s=2, seeds={"ball": 21, "scraper": 22})
    assert ended == {"ball", "scraper"}, "no disconnected session end within the time"
    assert status["history"] is True and status["history_error"] is None, status
    assert d.stop(signal.SIGTERM) == 0
    sessions = split_sessions(events)
    for device, kind in (("ball", "ball"), ("scraper", "scraper")):
        got = sessions[device]
        print("%s: %d sessions, reasons %s" % (device, len(got), [e["reason"] for _, _, e in got]))
        assert len(got) >= 2, "the simulated use should make several sessions"
        assert got[-1][2]["reason"] == "disconnected"
        assert all(e["reason"] == "idle" for _, _, e in got[:-1])
        for start, inside, end in got:
            # The contract's fields for every event apply.
            for e in (start, end):
                assert e["v"] == 1 and e["kind"] == kind and e["device"] == device
            assert end["t_start_dev"] == start["t_dev"]
            assert inside, "a session holds at least the activity that began it"
            # Every event of the session lies within it (the last activity
            # ends the session; the idle gap after it is not part of it).
            for e in inside:
                if e["type"] in ("roll", "hold", "stroke") and e["phase"] == "end":
                    assert start["t_dev"] - 1e-6 <= e.get("t_start_dev", e["t_dev"])
                    assert e["t_dev"] <= end["t_dev"] + 1e-6
            want = session_summary(kind, inside)
            for key, value in want.items():
                assert key in end, (key, end)
                assert close(end[key], value), (device, key, end[key], value)
            if kind == "ball":
                assert "release_trend" in end or end["release_holds"] == 0
        # Idle gaps separate consecutive sessions.
        for (_, _, e1), (s2, _, _) in zip(got, got[1:]):
            assert s2["t_dev"] - e1["t_dev"] >= 2.0

    # The history holds one row per session, with the same figures.
    got_rows = rows(db)
    ends = [e for e in events if e["type"] == "session" and e["phase"] == "end"]
    assert len(got_rows) == len(ends)
    by_key = {(r["device"], r["event_id"]): r for r in got_rows}
    for e in ends:
        r = by_key[(e["device"], e["id"])]
        assert r["kind"] == e["kind"] and r["participant"] == "P01"
        assert r["end_reason"] == e["reason"]
        assert r["serial"] != ""
        assert abs(r["t_end"] - e["t_host"]) < 1e-3
        assert abs(r["duration_s"] - e["duration_s"]) < 0.05
        for key in session_summary(e["kind"], []):
            if key in e:
                assert close(r[key], e[key]), (key, r[key], e[key])
        other = "strokes" if e["kind"] == "ball" else "holds"
        assert r[other] is None
    con = sqlite3.connect(str(db))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()

    # massaged-history --json gives the same sessions under the events' names.
    out = subprocess.run([PYTHON, HISTORY, "--db", str(db), "--json"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert len(listed) == len(ends)
    for item in listed:
        e = next(x for x in ends if x["device"] == item["device"] and x["id"] == item["event_id"])
        assert item["kind"] == e["kind"]
        assert item["t_end"] >= item["t_start"]
        for key in session_summary(e["kind"], []):
            if key in e:
                assert close(item[key], e[key]), key

    # Progress: every session counted once, the sums the rows' sums; the
    # table, CSV, one session shown, and the plot.
    def cli(*args):
        out = subprocess.run([PYTHON, HISTORY, "--db", str(db), *args], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout
    for by in ("day", "week"):
        periods = json.loads(cli("progress", "--by", by, "--json"))
        assert sum(p["sessions"] for p in periods) == len(ends)
        assert sum(p["holds"] for p in periods) == sum(e.get("holds", 0) for e in ends)
        assert sum(p["strokes"] for p in periods) == sum(e.get("strokes", 0) for e in ends)
        assert all(p["adherence"] is None or 0 <= p["adherence"] <= 1 for p in periods)
    csv_text = cli("progress", "--csv").splitlines()
    assert csv_text[0].startswith("period,sessions,active_days,adherence")
    assert len(cli("list").splitlines()) == len(ends) + 1  # a header and a line each
    shown = cli("show", str(listed[0]["id"]))
    assert "participant" in shown and "P01" in shown
    assert json.loads(cli("--device", "ball", "--json")) == [
        s for s in listed if s["device"] == "ball"]
    png = tmp_path / "trends.png"
    cli("progress", "--plot", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def scraper_daemon(daemon_factory, subscriber_factory, tmp_path, extra, history,
                   topics=("event.", "status.daemon")):
    """The daemon with one scraper on tmp_path/scraper.tty, extra sections and
    [history] keys, and a subscriber to topics that it serves: (daemon,
    subscriber, link)."""
    link = tmp_path / "scraper.tty"
    d = daemon_factory(devices=[("scraper", "scraper", str(link))], extra=extra, history=history)
    sub = subscriber_factory(d.endpoint, topics=topics)
    wait_subscribed(sub)
    return d, sub, link


def scraper_run(daemon_factory, subscriber_factory, tmp_path, db, extra="", linger="0.3"):
    """The daemon with one scraper (idle_s 2) and a fast simulated run of it:
    several sessions end by idle while it streams, the last one ends 2 s
    after the device is lost."""
    d, sub, link = scraper_daemon(daemon_factory, subscriber_factory, tmp_path,
                                  "[session]\nidle_s = 2\n\n" + extra, "db = %s\n" % db)
    sim = start_sim("scraper", link, 22, "--fast", "--duration", "240", "--linger", linger)
    return d, sub, sim


def daemon_status(sub, pred, timeout=15.0):
    return sub.wait_for(lambda t, m: t == "status.daemon" and pred(m), timeout)[1]


def test_kill9_in_a_session_loses_only_that_session(daemon_factory, subscriber_factory,
                                                    tmp_path):
    db = tmp_path / "history.db"
    d, sub, sim = scraper_run(daemon_factory, subscriber_factory, tmp_path, db)
    ends, open_session = [], False
    # Until the device is lost: its last session is then still open (it
    # ends idle_s later), every earlier one has ended.
    while True:
        _, m, _ = sub.wait_for(lambda t, m: t.startswith("event."), 30)
        if m["type"] == "session":
            open_session = m["phase"] == "start"
            if m["phase"] == "end":
                ends.append(m)
        if m["type"] == "disconnected":
            break
    assert open_session and len(ends) >= 2
    daemon_status(sub, lambda m: m["history_sessions"] == len(ends))
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    sim_done(sim)
    con = sqlite3.connect(str(db))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    got = [r[0] for r in con.execute("SELECT event_id FROM sessions ORDER BY id")]
    con.close()
    assert got == [e["id"] for e in ends], "every finished session, and only those"
    # The next start takes the file up again and adds to it.
    d2 = daemon_factory(history="db = %s\n" % db)
    sub2 = subscriber_factory(d2.endpoint, topics=("status.daemon",))
    st = daemon_status(sub2, lambda m: True)
    assert st["history"] is True and st["history_error"] is None, st
    assert d2.stop() == 0
    assert len(rows(db)) == len(ends)


def test_readers_never_block_the_writer(daemon_factory, subscriber_factory, tmp_path):
    db = tmp_path / "history.db"
    d, sub, sim = scraper_run(daemon_factory, subscriber_factory, tmp_path, db)
    # (The daemon created the file before it published its first status.)
    # A reader holds a read transaction open for the whole run, and
    # massaged-history and sqlite3 read meanwhile.
    reader = sqlite3.connect(str(db), isolation_level=None)
    reader.execute("BEGIN")
    before = reader.execute("SELECT count(*) FROM sessions").fetchone()[0]
    ends = []
    while True:
        _, m, _ = sub.wait_for(lambda t, m: t.startswith("event.session") or
                               t.startswith("event.scraper.session"), 30)
        if m["phase"] == "end":
            ends.append(m)
            out = subprocess.run([PYTHON, HISTORY, "--db", str(db), "--json"],
                                 capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            cli = subprocess.run(["sqlite3", str(db), "SELECT count(*) FROM sessions"],
                                 capture_output=True, text=True, timeout=30)
            assert cli.returncode == 0, cli.stderr
            if m["reason"] == "disconnected":
                break
    st = daemon_status(sub, lambda m: m["history_sessions"] + m["history_lost"] >= len(ends))
    assert st["history_lost"] == 0 and st["history"] is True
    # The reader's snapshot did not move; a new one sees every row.
    assert reader.execute("SELECT count(*) FROM sessions").fetchone()[0] == before
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM sessions").fetchone()[0] == len(ends)
    reader.close()
    sim_done(sim)
    assert d.stop() == 0


def make_foreign(path):
    con = sqlite3.connect(str(path))
    con.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO accounts (name) VALUES ('someone else')")
    con.commit()
    con.close()


def make_corrupt(path):
    con = sqlite3.connect(str(path))
    con.execute("PRAGMA application_id = %d" % 0x4D534744)
    con.execute("CREATE TABLE t (x TEXT)")
    con.executemany("INSERT INTO t VALUES (?)", [("row %d " % i * 20,) for i in range(2000)])
    con.commit()
    con.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page:3 * page + 200] = b"\xa5" * 200  # a b-tree page's header and cells
    path.write_bytes(bytes(data))


def make_newer(path):
    con = sqlite3.connect(str(path))
    con.execute("PRAGMA application_id = %d" % 0x4D534744)
    con.execute("PRAGMA user_version = 99")
    con.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, future TEXT)")
    con.commit()
    con.close()


@pytest.mark.parametrize("case", ["text", "foreign", "corrupt", "newer"])
def test_a_file_that_is_not_ours_is_refused_and_left_alone(daemon_factory, subscriber_factory,
                                                           tmp_path, case):
    db = tmp_path / ("%s.db" % case)
    if case == "text":
        db.write_text("these are my notes, not a database\n" * 100)
    elif case == "foreign":
        make_foreign(db)
    elif case == "newer":
        make_newer(db)
    else:
        make_corrupt(db)
    before = db.read_bytes()
    link = tmp_path / "ball.tty"
    d = daemon_factory(devices=[("ball", "ball", str(link))], history="db = %s\n" % db)
    sub = subscriber_factory(d.endpoint, topics=("status.daemon", "raw.ball"))
    st = daemon_status(sub, lambda m: True)
    assert st["history"] is False
    print(case, ":", st["history_error"])
    assert str(db) in st["history_error"] and "left as it is" in st["history_error"]
    want = {"text": "not a usable SQLite database", "foreign": "another program's database",
            "corrupt": "corrupt", "newer": "schema version 99, newer than"}[case]
    assert want in st["history_error"] or (case == "corrupt" and "malformed" in
                                           st["history_error"])
    assert "history stopped" in d.log_text()
    # Streaming goes on.
    sim = start_sim("ball", link, 5, "--duration", "3")
    sub.wait_for(lambda t, m: t == "raw.ball", 15)
    sim_done(sim)
    assert d.stop() == 0
    assert db.read_bytes() == before
    assert not os.path.exists(str(db) + "-wal")


def test_the_tool_reads_an_empty_database_as_no_sessions_and_refuses_a_foreign_one(tmp_path):
    """Between the daemon creating its database and committing the schema the
    file is empty: no sessions yet, not an error. Another program's file is
    still refused."""
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    run = lambda db, *args: subprocess.run([PYTHON, HISTORY, "--db", str(db), *args],
                                           capture_output=True, text=True, timeout=30)
    out = run(empty, "list")
    assert out.returncode == 0 and "no sessions yet" in out.stderr, out
    out = run(empty, "overview")
    assert out.returncode == 0, out
    overview = json.loads(out.stdout)
    assert overview["sessions"] == [] and overview["by_week"] == []
    assert json.loads(run(empty, "--json").stdout) == []
    foreign = tmp_path / "foreign.db"
    make_foreign(foreign)
    out = run(foreign, "list")
    assert out.returncode != 0 and "not a massaged history" in out.stderr, out
    assert empty.read_bytes() == b""


def small_tmpfs(path, options):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (%s): needs root" % r.stderr.strip())


def test_a_read_only_directory_stops_history_not_streaming(daemon_factory, subscriber_factory,
                                                           tmp_path):
    ro = tmp_path / "ro"
    small_tmpfs(ro, "ro,size=64k")
    try:
        db = ro / "history.db"
        rec = tmp_path / "rec"
        d, sub, sim = scraper_run(daemon_factory, subscriber_factory, tmp_path, db,
                                  extra="[record]\ndir = %s\n\n" % rec)
        st = daemon_status(sub, lambda m: True)
        assert st["history"] is False
        print(st["history_error"])
        assert str(db) in st["history_error"] and "Read-only file system" in st["history_error"]
        # Streaming and recording go on; the sessions still end and are
        # counted as not written.
        sub.wait_for(lambda t, m: t == "event.scraper.session" and m["phase"] == "end", 30)
        st = daemon_status(sub, lambda m: m["history_lost"] >= 1)
        assert st["recording"] is True and st["recording_error"] is None
        sim_done(sim)
        assert d.stop() == 0
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)


def test_a_full_disk_stops_history_not_streaming(daemon_factory, subscriber_factory, tmp_path):
    small = tmp_path / "small"
    small_tmpfs(small, "size=256k")
    try:
        db = small / "history.db"
        rec = tmp_path / "rec"
        d, sub, link = scraper_daemon(daemon_factory, subscriber_factory, tmp_path,
                                      "[session]\nidle_s = 2\n\n[record]\ndir = %s\n\n" % rec,
                                      "db = %s\n" % db)
        daemon_status(sub, lambda m: m["history"] is True)
        # The database is open (its WAL index allocated): now the disk fills.
        fd = os.open(small / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        sim = start_sim("scraper", link, 22, "--fast", "--duration", "240", "--linger", "0.3")
        st = daemon_status(sub, lambda m: m["history_error"] is not None, 30)
        print(st["history_error"])
        assert st["history"] is False and "full" in st["history_error"]
        assert "history stopped" in d.log_text()
        # Streaming and recording go on.
        _, m, _ = sub.wait_for(lambda t, m: t == "event.scraper.session" and
                               m["phase"] == "end" and m["reason"] == "disconnected", 30)
        st = daemon_status(sub, lambda m: True)
        assert st["recording"] is True and st["recording_error"] is None
        assert st["history_lost"] >= 1
        sim_done(sim)
        assert d.stop() == 0
        os.unlink(small / "filler")
        con = sqlite3.connect(str(db))
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)


def test_bad_history_keys_name_file_line_and_key(tmp_path):
    cfg = write_config(tmp_path / "bad.ini",
                       "[session]\nidle_s = 0\n[history]\ndatabase = x.db\nparticipant = P-01\n")
    out = run_daemon("--check-config", cfg)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    print(lines)
    assert any(l.startswith("%s:2: [session] idle_s:" % cfg) for l in lines)
    assert any(l.startswith("%s:4: [history] database:" % cfg) for l in lines)
    assert any(l.startswith("%s:5: [history] participant:" % cfg) and "letters and digits" in l
               for l in lines)


def test_a_session_in_progress_survives_a_reload(daemon_factory, subscriber_factory, tmp_path):
    db = tmp_path / "history.db"
    link = tmp_path / "scraper.tty"
    devices = "[device.scraper]\nkind = scraper\nport = %s\n\n" % link
    d = daemon_factory(extra="[session]\nidle_s = 60\n\n" + devices,
                       history="db = %s\nparticipant = P01\n" % db)
    sub = subscriber_factory(d.endpoint, topics=("event.scraper.session", "status.daemon"))
    wait_subscribed(sub)
    sim = start_sim("scraper", link, 7)  # real time
    try:
        _, start, _ = sub.wait_for(lambda t, m: t.startswith("event.") and m["phase"] == "start",
                                   20)
        # A reload that keeps the device (a new participant for the sessions
        # that end from now on) leaves the session going.
        text = d.config.read_text().replace("participant = P01", "participant = P02")
        d.config.write_text(text)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "reload:" not in d.log_text():
            assert time.monotonic() < deadline, "no reload in the log"
            time.sleep(0.1)
        time.sleep(1.0)
        assert d.stop() == 0
    finally:
        sim.terminate()
        sim_done(sim)
    got = rows(db)
    assert len(got) == 1, got
    assert got[0]["event_id"] == start["id"] and got[0]["end_reason"] == "stopped"
    assert got[0]["participant"] == "P02"
    # (mapped again at the end, with what the clock model learnt meanwhile)
    assert abs(got[0]["t_start"] - start["t_host"]) < 0.05


def test_a_study_names_its_sessions_and_its_stop_ends_them(daemon_factory, subscriber_factory,
                                                           tmp_path):
    """Through the control socket (LabRecorder's lines): the study's labels
    go into the rows of its sessions, its stop ends the open session at once
    (reason "study"), and the row names the study's recording file."""
    from test_study import Rcs
    port = free_port()
    db = tmp_path / "history.db"
    root = tmp_path / "study"
    d, sub, link = scraper_daemon(
        daemon_factory, subscriber_factory, tmp_path,
        "[control]\nrcs = 127.0.0.1:%d\n\n[session]\nidle_s = 60\n\n" % port,
        "db = %s\nparticipant = NOBODY\n" % db, topics=("event.scraper.session", "status.daemon"))
    rcs = Rcs.once_listening(port)
    rcs.send(b"filename {root:%s} {participant:P07} {session:2} {task:calf}\nstart\n"
             % str(root).encode())
    rcs.expect(b"OKOK")
    sim = start_sim("scraper", link, 7)  # real time
    try:
        _, start, _ = sub.wait_for(lambda t, m: t.startswith("event.") and
                                   m["phase"] == "start", 20)
        assert rcs.reply(b"stop\n") == b"OK"
        _, end, _ = sub.wait_for(lambda t, m: t.startswith("event.") and m["phase"] == "end", 5)
        assert end["id"] == start["id"] and end["reason"] == "study"
        daemon_status(sub, lambda m: m["history_sessions"] == 1)
    finally:
        sim.terminate()
        sim_done(sim)
        rcs.close()
    assert d.stop() == 0
    got = rows(db)[0]
    assert got["event_id"] == start["id"] and got["end_reason"] == "study"
    assert (got["participant"], got["study_session"], got["task"]) == ("P07", "2", "calf")
    con = sqlite3.connect(str(db))
    files = [r[0] for r in con.execute("SELECT file FROM recordings WHERE session_id = ?",
                                       (got["id"],))]
    con.close()
    study_files = sorted(str(p) for p in root.rglob("*.xdf"))
    assert files and files == study_files[:len(files)], (files, study_files)


def test_an_older_file_is_migrated_and_keeps_its_rows(daemon_factory, subscriber_factory,
                                                      tmp_path):
    """A history written before a figure existed (its column missing, as a
    file of an older massaged would be) gets the column, keeps its rows, and
    takes new ones."""
    db = tmp_path / "history.db"
    d, sub, sim = scraper_run(daemon_factory, subscriber_factory, tmp_path, db)
    sub.wait_for(lambda t, m: t == "event.scraper.session" and m["reason"] == "disconnected"
                 if m.get("phase") == "end" else False, 30)
    sim_done(sim)
    assert d.stop() == 0
    before = rows(db)
    # Drop the areas column (SQLite 3.35+), as if the file predated it.
    con = sqlite3.connect(str(db))
    con.execute("ALTER TABLE sessions DROP COLUMN areas")
    con.commit()
    con.close()
    d2 = daemon_factory(history="db = %s\n" % db)
    sub2 = subscriber_factory(d2.endpoint, topics=("status.daemon",))
    st = daemon_status(sub2, lambda m: True)
    assert st["history"] is True and st["history_error"] is None, st
    assert d2.stop() == 0
    after = rows(db)
    assert [r["event_id"] for r in after] == [r["event_id"] for r in before]
    assert all(r["areas"] is None for r in after)  # the old rows knew no areas
    for b, a in zip(before, after):
        assert {k: v for k, v in a.items() if k != "areas"} == \
            {k: v for k, v in b.items() if k != "areas"}
