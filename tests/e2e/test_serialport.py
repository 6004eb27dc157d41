"""The libserialport code path against a real pty, through the test-only
LD_PRELOAD shim (tests/shim/) that answers the sysfs look-up and modem-line
ioctls libserialport 0.1.1 makes and a pty cannot."""
import os
import random

import proto
from conftest import BUILD, wait_subscribed
from test_ingest import collect_raw, make_samples, wait_connected

SHIM = os.path.join(BUILD, "tests", "shim", "serialport_pty_shim.so")


def test_libserialport_reads_a_pty_through_the_shim(daemon_factory, subscriber_factory,
                                                    pty_factory, tmp_path):
    assert os.path.exists(SHIM), SHIM
    shim_log = tmp_path / "shim.log"
    dev = pty_factory(name="ball", kind=proto.BALL)
    env = {"LD_PRELOAD": SHIM, "SERIALPORT_SHIM_LOG": str(shim_log),
           # a sanitizer runtime must otherwise come first in the preload list
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    d = daemon_factory(devices=[], env=env,
                       extra="[device.ball]\nkind = ball\nport = %s\ndriver = serialport\n\n"
                       % dev.link)
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    wait_connected(sub, "ball")
    rng = random.Random(11)
    sent = []
    for _ in range(50):
        batch = make_samples(rng, 10)
        sent += batch
        dev.send_samples(batch)
    raw = collect_raw(sub, "ball", len(sent))
    assert sum(m["n"] for m in raw) == len(sent)
    assert [m["i0"] for m in raw] == list(range(0, len(sent), 10))
    assert abs(raw[-1]["p"][-1] - sent[-1][0]) < 0.01
    assert "(serialport, low latency)" in d.log_text(), \
        "the port was opened by libserialport and its driver asked for low latency"
    calls = shim_log.read_text().split()
    assert "lstat" in calls and "readlink" in calls and "TIOCMGET" in calls
    # the serial settings were read, then written back with only the
    # low-latency flag added: a latency-timer driver now passes bytes on at 1 ms
    assert calls.count("TIOCGSERIAL") >= 1
    assert [c for c in calls if c.startswith("TIOCSSERIAL")] == ["TIOCSSERIAL:latency_timer=1"]
    assert d.stop() == 0
    # closed at the stop: the flag is put back as the port was found
    calls = shim_log.read_text().split()
    assert [c for c in calls if c.startswith("TIOCSSERIAL")] == [
        "TIOCSSERIAL:latency_timer=1", "TIOCSSERIAL:latency_timer=16"]


def test_without_the_shim_libserialport_refuses_the_pty_and_says_why(daemon_factory,
                                                                     subscriber_factory,
                                                                     pty_factory):
    dev = pty_factory(name="ball", kind=proto.BALL)
    d = daemon_factory(devices=[],
                       extra="[device.ball]\nkind = ball\nport = %s\ndriver = serialport\n\n"
                       % dev.link)
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    st = sub.wait_for(lambda t, m: t == "status.ball", 5)[1]
    assert st["connected"] is False
    assert "cannot open" in d.log_text()
    assert d.stop() == 0


def test_a_pty_refuses_the_low_latency_request_and_streams_as_before(daemon_factory,
                                                                     subscriber_factory,
                                                                     pty_factory):
    dev = pty_factory(name="ball", kind=proto.BALL)
    d = daemon_factory(devices=[],
                       extra="[device.ball]\nkind = ball\nport = %s\n\n" % dev.link)
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    wait_connected(sub, "ball")
    dev.send_samples(make_samples(random.Random(5), 10))
    assert sum(m["n"] for m in collect_raw(sub, "ball", 10)) == 10
    # a pty has no serial settings (TIOCGSERIAL: ENOTTY), so no low latency
    assert "(termios)" in d.log_text()
    assert d.stop() == 0
