"""SIGHUP reloads the configuration: added devices start, removed ones stop,
changed ones restart, untouched ones keep streaming without a gap; a bad new
configuration is refused, its errors logged, and the old one kept."""
import random
import signal
import threading
import time

import proto
from conftest import wait_subscribed
from test_ingest import bursts, make_samples, wait_connected


def stream(dev, stop, rng, period=0.01):
    while not stop.is_set():
        try:
            dev.send_samples(make_samples(rng, 10))
        except OSError:
            return
        time.sleep(period)


def write_config(d, devices, extra=""):
    text = "[publish]\nendpoint = %s\nstatus_interval_ms = 200\n\n[log]\nlevel = debug\n\n" \
        "[history]\ndb = %s\n\n" % (d.endpoint, d.history_db) + extra
    for name, kind, port in devices:
        text += "[device.%s]\nkind = %s\nport = %s\n\n" % (name, kind, port)
    d.config.write_text(text)


def start_streaming_ball(daemon_factory, subscriber_factory, pty_factory, name, seed):
    """A daemon with one ball that streams a frame every 10 ms from a thread;
    returns (daemon, subscriber, device, stop event, thread)."""
    rng = random.Random(seed)
    dev = pty_factory(name=name, kind=proto.BALL)
    d = daemon_factory(devices=[(name, "ball", dev.link)])
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    wait_connected(sub, name)
    stop = threading.Event()
    t = threading.Thread(target=stream, args=(dev, stop, rng), daemon=True)
    t.start()
    return d, sub, dev, stop, t


def test_sighup_adds_removes_restarts_and_keeps_untouched_devices(daemon_factory,
                                                                   subscriber_factory,
                                                                   pty_factory):
    rng = random.Random(21)
    keep = pty_factory(name="keep", kind=proto.BALL)
    gone = pty_factory(name="gone", kind=proto.BALL)
    change = pty_factory(name="change", kind=proto.SCRAPER)
    change2 = pty_factory(name="change2", kind=proto.SCRAPER)
    new = pty_factory(name="new", kind=proto.BALL)
    for dev in (gone, change, change2, new):
        dev.start_heartbeat()
    d = daemon_factory(devices=[("keep", "ball", keep.link), ("gone", "ball", gone.link),
                                ("change", "scraper", change.link)])
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    for name in ("keep", "gone", "change"):
        wait_connected(sub, name)
    stop = threading.Event()
    t = threading.Thread(target=stream, args=(keep, stop, rng), daemon=True)
    t.start()
    time.sleep(0.5)

    write_config(d, [("keep", "ball", keep.link), ("change", "scraper", change2.link),
                     ("new", "ball", new.link)])
    d.proc.send_signal(signal.SIGHUP)
    seen = {"gone.disconnected": False, "change.disconnected": False, "new.connected": False,
            "change.connected": False}
    keep_raw = []
    keep_lost = False
    deadline = time.monotonic() + 8
    while not all(seen.values()) and time.monotonic() < deadline:
        topic, msg = sub.recv(0.5)
        if topic is None:
            continue
        if topic == "raw.keep":
            keep_raw.append(msg)
        for key in seen:
            name, typ = key.split(".")
            if topic == "event.%s.%s" % (name, typ):
                seen[key] = True
            if typ == "connected" and topic == "status." + name and msg["connected"]:
                seen[key] = seen[key] or name == "new"
        if topic == "event.keep.disconnected":
            keep_lost = True
    time.sleep(0.5)
    stop.set()
    t.join(2)
    drain_until = time.monotonic() + 1.0
    while time.monotonic() < drain_until:
        topic, msg = sub.recv(0.3)
        if topic is None:
            break
        if topic == "raw.keep":
            keep_raw.append(msg)
        if topic == "event.keep.disconnected":
            keep_lost = True
    assert all(seen.values()), seen
    assert not keep_lost, "an untouched device must keep streaming"
    # No gap in the untouched device's samples across the reload.
    idx = [m["i0"] for m in keep_raw]
    assert len(idx) > 50
    assert all(b - a == 10 for a, b in zip(idx, idx[1:])), "gap in the untouched device"
    log = d.log_text()
    assert "reload: device gone removed" in log
    assert "reload: device change changed, restarting it" in log
    assert "1 device kept streaming, 1 started, 1 restarted, 1 stopped" in log
    st = sub.wait_for(lambda t, m: t == "status.daemon", 3)[1]
    assert sorted(x["name"] for x in st["devices"]) == ["change", "keep", "new"]
    assert d.stop() == 0


def test_bad_configuration_on_sighup_is_refused_and_the_old_one_kept(daemon_factory,
                                                                     subscriber_factory,
                                                                     pty_factory):
    d, sub, keep, stop, t = start_streaming_ball(daemon_factory, subscriber_factory, pty_factory,
                                                 "keep", 22)
    good = d.config.read_text()
    d.config.write_text(good + "[device.bad]\nkind = toaster\nport = /dev/null\nspeed = 3\n")
    d.proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    stop.set()
    t.join(2)
    log = d.log_text()
    assert "refused" in log and "keeping the running configuration" in log
    assert "kind" in log and "toaster" in log and "speed" in log
    assert "%s:" % d.config in log
    st = sub.wait_for(lambda t, m: t == "status.daemon", 3)[1]
    assert [x["name"] for x in st["devices"]] == ["keep"]
    assert st["devices"][0]["connected"] is True
    assert d.proc.poll() is None
    assert d.stop() == 0


def receive_raw(sub, n_messages, timeout=20.0):
    """Receives n_messages raw messages; returns their i0 values and arrival
    times."""
    arrivals, index = [], []
    deadline = time.monotonic() + timeout
    while len(index) < n_messages and time.monotonic() < deadline:
        topic, msg = sub.recv(0.002)
        if topic and topic.startswith("raw."):
            arrivals.append(time.monotonic())
            index.append(msg["i0"])
    return index, arrivals


def test_sighup_changes_batch_ms_without_restarting_devices(daemon_factory, subscriber_factory,
                                                            pty_factory):
    d, sub, ball, stop, t = start_streaming_ball(daemon_factory, subscriber_factory, pty_factory,
                                                 "ball", 23)
    before, _ = receive_raw(sub, 50)
    write_config(d, [("ball", "ball", ball.link)])
    text = d.config.read_text().replace("status_interval_ms = 200\n",
                                        "status_interval_ms = 200\nbatch_ms = 80\n")
    d.config.write_text(text)
    d.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    after, arrivals = receive_raw(sub, 150)
    stop.set()
    t.join(2)
    # The first ones were queued during the sleep; judge the last 90, which
    # came one every 10 ms: per frame that is about 90 bursts, gathered for
    # 80 ms a handful (load only makes them fewer).
    n_bursts = bursts(arrivals[-90:])
    print("after the reload: the last 90 raw messages came in %d bursts" % n_bursts)
    assert len(after) == 150 and n_bursts <= 30
    steps = [b - a for a, b in zip(before + after, (before + after)[1:])]
    assert set(steps) == {10}, "the stream went on without a gap or a repeat"
    log = d.log_text()
    assert "reload: 1 device kept streaming" in log and "connected on" in log
    assert log.count("connected on") == 1, "the device was not restarted"
    assert d.stop() == 0
