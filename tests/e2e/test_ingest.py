"""Device ingest end to end: ptys playing devices, the real daemon, a real
subscriber. Every sample sent must arrive exactly once, in order, in physical
units; losses and garbage must be counted exactly."""
import glob
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

import proto
from conftest import DAEMON, wait_subscribed

ACC = 16 / 32768
GYR = 2000 / 32768


def make_samples(rng, n):
    return [(rng.randint(90000, 140000), tuple(rng.randint(-32768, 32767) for _ in range(3)),
             tuple(rng.randint(-32768, 32767) for _ in range(3))) for _ in range(n)]


def start(daemon_factory, subscriber_factory, pty_factory, names=("ball",), kinds=None,
          **pty_kwargs):
    kinds = kinds or [proto.BALL] * len(names)
    devs = [pty_factory(name=n, kind=k, **pty_kwargs) for n, k in zip(names, kinds)]
    d = daemon_factory(devices=[(n, "ball" if k == proto.BALL else "scraper", dev.link)
                                for n, k, dev in zip(names, kinds, devs)])
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    return d, sub, devs


def wait_connected(sub, name, timeout=5.0):
    """Waits until the device streams: its `connected` event, or a status
    saying so (the event may precede the subscription)."""
    return sub.wait_for(lambda t, m: t == "event.%s.connected" % name or
                        (t == "status." + name and m["connected"]), timeout)


def start_ball(daemon_factory, subscriber_factory, pty_factory):
    """start() with one ball, returned once it streams: (daemon, subscriber, ball)."""
    d, sub, (dev,) = start(daemon_factory, subscriber_factory, pty_factory)
    wait_connected(sub, "ball")
    return d, sub, dev


def collect_raw(sub, name, n_samples, timeout=20.0):
    got = []
    deadline = time.monotonic() + timeout
    while sum(m["n"] for m in got) < n_samples and time.monotonic() < deadline:
        topic, msg = sub.recv(0.5)
        if topic == "raw." + name:
            got.append(msg)
    return got


def last_status(sub, name, pred=lambda m: True, timeout=5.0):
    """The first status of the device satisfying pred that was made after the
    reader's counter snapshot (taken every 250 ms) caught up."""
    time.sleep(0.4)
    t_min = time.time() - 0.05
    return sub.wait_for(lambda t, m: t == "status." + name and m["t_host"] >= t_min and pred(m),
                        timeout)[1]


def raw_counts(sub, n_devices, timeout=5.0):
    """Samples received per device from raw messages, until n_devices have
    sent some or timeout seconds pass."""
    got = {}
    deadline = time.monotonic() + timeout
    while len(got) < n_devices and time.monotonic() < deadline:
        topic, msg = sub.recv(0.5)
        if topic and topic.startswith("raw."):
            got[msg["device"]] = got.get(msg["device"], 0) + msg["n"]
    return got


def bursts(arrivals):
    """How many groups arrival times came in (gaps under 4 ms join a group)."""
    return 1 + sum(1 for a, b in zip(arrivals, arrivals[1:]) if b - a > 0.004)


def test_every_sample_arrives_once_in_order_in_physical_units(daemon_factory, subscriber_factory,
                                                              pty_factory):
    rng = random.Random(1)
    d, sub, dev = start_ball(daemon_factory, subscriber_factory, pty_factory)
    sent = []
    for _ in range(300):
        batch = make_samples(rng, rng.randint(1, 30))
        sent += batch
        dev.send_samples(batch)
        if rng.random() < 0.2:
            time.sleep(0.002)
    raw = collect_raw(sub, "ball", len(sent))
    assert sum(m["n"] for m in raw) == len(sent)
    index = 0
    for m in raw:
        assert m["v"] == 1 and m["device"] == "ball" and m["kind"] == "ball"
        assert m["rate_hz"] == 1000
        assert m["i0"] == index, (m["i0"], index)
        assert abs(m["t_dev"] - index / 1000) < 1e-6
        for k in range(m["n"]):
            p, acc, gyr = sent[index + k]
            assert abs(m["p"][k] - p) < 0.01
            for a in range(3):
                assert abs(m["acc"][3 * k + a] - acc[a] * ACC) < 2e-6
                assert abs(m["gyr"][3 * k + a] - gyr[a] * GYR) < 2e-4
        index += m["n"]
    st = last_status(sub, "ball", lambda m: m["samples"] == len(sent))
    assert st["samples_lost"] == 0 and st["crc_errors"] == 0 and st["frames_lost"] == 0
    assert st["ring_dropped"] == 0 and st["connected"] is True
    assert st["serial"] == "TEST0001" and st["firmware"] == "1.2"
    assert d.stop() == 0


def test_garbage_and_lost_frames_are_counted_exactly(daemon_factory, subscriber_factory,
                                                     pty_factory):
    rng = random.Random(2)
    d, sub, dev = start_ball(daemon_factory, subscriber_factory, pty_factory)
    sent_samples = lost_frames = lost_samples = corrupted = noise_chunks = garbage = 0
    delivered = []
    for i in range(400):
        batch = make_samples(rng, 10)
        f = dev.samples_frame(batch)
        r = rng.random()
        if r < 0.05:  # lost in transit: seq and time advance, nothing arrives
            lost_frames += 1
            lost_samples += 10
            continue
        if r < 0.10:  # one flipped bit: the CRC (or COBS) must reject it
            b = bytearray(f)
            pos = rng.randrange(1, len(b) - 1)
            b[pos] ^= 1 << rng.randrange(8)
            if b[pos] == 0:
                b[pos] = 0x55
            dev.write(bytes(b))
            garbage += len(b)
            corrupted += 1
            lost_frames += 1
            lost_samples += 10
            continue
        if r < 0.20:  # line noise between frames, ended by a delimiter
            noise = bytes(rng.randint(1, 255) for _ in range(rng.randint(1, 40))) + b"\x00"
            dev.write(noise)
            garbage += len(noise)
            noise_chunks += 1
        dev.write(f)
        sent_samples += 10
        delivered += batch
    dev.send_samples(make_samples(rng, 10))  # a clean final frame closes the last gap
    sent_samples += 10
    raw = collect_raw(sub, "ball", sent_samples)
    assert sum(m["n"] for m in raw) == sent_samples
    st = last_status(sub, "ball", lambda m: m["samples"] == sent_samples)
    assert st["frames_lost"] == lost_frames
    assert st["samples_lost"] == lost_samples
    # Every corrupted frame and every noise chunk is one rejected frame, and
    # every byte of them is counted as garbage.
    assert st["crc_errors"] + st["malformed"] == corrupted + noise_chunks
    assert st["crc_errors"] >= corrupted // 2
    assert st["garbage_bytes"] == garbage
    # i0 jumps exactly where samples were lost
    gaps = sum(b["i0"] - (a["i0"] + a["n"]) for a, b in zip(raw, raw[1:]))
    assert gaps == lost_samples
    assert d.stop() == 0


def test_samples_wait_for_hello(daemon_factory, subscriber_factory, pty_factory):
    rng = random.Random(3)
    d, sub, (dev,) = start(daemon_factory, subscriber_factory, pty_factory, answer_hello=False)
    deadline = time.monotonic() + 5
    while dev.requests == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dev.requests >= 1, "the daemon sends a HELLO REQUEST on open"
    held = make_samples(rng, 20)
    dev.send_samples(held[:10])
    dev.send_samples(held[10:])
    time.sleep(0.3)
    # Nothing is published before the scales are known ...
    while True:
        topic, msg = sub.recv(0.1)
        if topic is None:
            break
        assert not topic.startswith("raw."), "samples published before HELLO"
    assert dev.requests >= 2, "the daemon asks again while no HELLO comes"
    dev.send_hello()
    # ... and then the held samples come, in order, none lost.
    raw = collect_raw(sub, "ball", 20)
    assert [m["i0"] for m in raw] == [0, 10]
    assert abs(raw[0]["p"][0] - held[0][0]) < 0.01
    assert d.stop() == 0


def test_absurd_hello_is_refused_with_a_clear_message(daemon_factory, subscriber_factory,
                                                      pty_factory):
    d, sub, (dev,) = start(daemon_factory, subscriber_factory, pty_factory,
                           hello_kwargs={"rate_hz": 60000, "p_scale": float("nan")})
    rng = random.Random(4)
    time.sleep(0.3)
    dev.send_samples(make_samples(rng, 10))
    st = last_status(sub, "ball", lambda m: m["hello_rejected"] >= 1)
    assert st["connected"] is False
    assert "HELLO refused" in d.log_text()
    assert "rate" in d.log_text()
    assert d.stop() == 0


def test_status_frames_and_button_marks(daemon_factory, subscriber_factory, pty_factory):
    d, sub, dev = start_ball(daemon_factory, subscriber_factory, pty_factory)
    dev.t_us = 5_000_000
    dev.write(dev.next_frame(proto.STATUS, proto.status_payload(3900, -512, 0b101)))
    dev.write(dev.next_frame(proto.BUTTON, bytes([1])))
    dev.write(dev.next_frame(proto.BUTTON, bytes([0])))
    topic, mark, _ = sub.wait_for(lambda t, m: t.startswith("event.ball.mark"))
    assert mark["phase"] == "instant" and abs(mark["t_dev"] - 5.0) < 1e-6
    assert mark["type"] == "mark" and mark["kind"] == "ball"
    assert abs(mark["t_host"] - time.time()) < 5
    st = last_status(sub, "ball", lambda m: "battery_mv" in m)
    assert st["battery_mv"] == 3900 and abs(st["temperature_c"] + 5.12) < 1e-9
    assert st["charging"] is True and st["device_overflow"] is True
    assert st["sensor_fault"] is False
    assert d.stop() == 0


def test_unplug_and_replug(daemon_factory, subscriber_factory, pty_factory):
    rng = random.Random(5)
    d, sub, dev = start_ball(daemon_factory, subscriber_factory, pty_factory)
    dev.send_samples(make_samples(rng, 10))
    collect_raw(sub, "ball", 10)
    dev.unplug()
    sub.wait_for(lambda t, m: t == "event.ball.disconnected", 5)
    time.sleep(0.5)
    dev.plug()
    t_plug = time.monotonic()
    wait_connected(sub, "ball", 3)
    assert time.monotonic() - t_plug < 1.0, "reconnect within 1 s of the port coming back"
    dev.send_samples(make_samples(rng, 10))
    raw = collect_raw(sub, "ball", 10)
    assert raw and raw[0]["i0"] == 10
    assert d.stop() == 0


def test_silence_means_gone(daemon_factory, subscriber_factory, pty_factory):
    rng = random.Random(6)
    d, sub, dev = start_ball(daemon_factory, subscriber_factory, pty_factory)
    dev.answer_hello = False
    dev.send_samples(make_samples(rng, 10))
    t0 = time.monotonic()
    _, msg, _ = sub.wait_for(lambda t, m: t == "event.ball.disconnected", 5)
    assert 1.8 < time.monotonic() - t0 < 3.5
    assert d.stop() == 0


def test_two_devices_do_not_disturb_each_other(daemon_factory, subscriber_factory, pty_factory):
    rng = random.Random(7)
    d, sub, (ball, scraper) = start(daemon_factory, subscriber_factory, pty_factory,
                                    names=("ball", "scraper"),
                                    kinds=[proto.BALL, proto.SCRAPER])
    wait_connected(sub, "ball")
    time.sleep(0.2)
    sent = {"ball": 0, "scraper": 0}
    got = {"ball": 0, "scraper": 0}

    def receive_until_all_sent():
        deadline = time.monotonic() + 15
        while (got["ball"] < sent["ball"] or got["scraper"] < sent["scraper"]) and \
                time.monotonic() < deadline:
            topic, msg = sub.recv(0.5)
            if topic and topic.startswith("raw."):
                got[msg["device"]] += msg["n"]
                if msg["device"] == "scraper":
                    assert msg["kind"] == "scraper"
                    assert all(abs(p) < 200 for p in msg["p"])  # newtons at 0.001 N/LSB

    for i in range(100):
        ball.send_samples(make_samples(rng, 10))
        sent["ball"] += 10
        scraper.send_samples(make_samples(rng, 5))
        sent["scraper"] += 5
    # Unplug the scraper once the daemon has read all it sent (bytes still in
    # a pty when it is closed are lost, as on a real unplug), while the ball
    # keeps streaming.
    receive_until_all_sent()
    assert got == sent
    scraper.unplug()
    for i in range(100):
        ball.send_samples(make_samples(rng, 10))
        sent["ball"] += 10
    receive_until_all_sent()
    assert got == sent
    st = last_status(sub, "ball", lambda m: m["samples"] == sent["ball"])
    assert st["samples_lost"] == 0 and st["connected"] is True
    assert d.stop() == 0


def test_port_auto_finds_each_device_by_its_hello(daemon_factory, subscriber_factory, pty_factory,
                                                  tmp_path):
    rng = random.Random(8)
    # A silent port, a scraper and a ball, all matching the extra_ports glob:
    # each auto device must take the port whose HELLO names its kind.
    silent = pty_factory(name="a-silent", kind=proto.BALL, answer_hello=False)
    scraper = pty_factory(name="b-scraper", kind=proto.SCRAPER)
    ball = pty_factory(name="c-ball", kind=proto.BALL)
    ball.start_heartbeat()
    scraper.start_heartbeat()
    extra = "[auto]\nextra_ports = %s/*.tty\nprobe_ms = 200\n\n" % tmp_path
    d = daemon_factory(devices=[("ball", "ball", "auto"), ("scraper", "scraper", "auto")],
                       extra=extra)
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    wait_connected(sub, "ball", 10)
    wait_connected(sub, "scraper", 10)
    ball.send_samples(make_samples(rng, 10))
    scraper.send_samples(make_samples(rng, 5))
    assert raw_counts(sub, 2) == {"ball": 10, "scraper": 5}
    assert silent.requests >= 1, "the silent port was probed"
    log = d.log_text()
    assert "found it on %s" % ball.link in log and "found it on %s" % scraper.link in log
    assert d.stop() == 0


def test_port_auto_devices_searching_together_each_get_a_port(daemon_factory, subscriber_factory,
                                                               pty_factory, tmp_path):
    """Three balls searching the same ports at once, started together: they
    meet on ports while probing, yet each ends up on its own port."""
    rng = random.Random(10)
    silent = pty_factory(name="a-silent", kind=proto.BALL, answer_hello=False)
    ports = [pty_factory(name="p%d" % i, kind=proto.BALL) for i in range(3)]
    for p in ports:
        p.start_heartbeat()
    extra = "[auto]\nextra_ports = %s/*.tty\nprobe_ms = 200\n\n" % tmp_path
    names = ["b0", "b1", "b2"]
    d = daemon_factory(devices=[(n, "ball", "auto") for n in names], extra=extra)
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    for n in names:
        wait_connected(sub, n, 10)
    log = d.log_text()
    taken = sorted(p.link for p in ports if "found it on %s" % p.link in log)
    assert taken == sorted(p.link for p in ports), log
    for p in ports:
        p.send_samples(make_samples(rng, 7))
    assert raw_counts(sub, 3) == {n: 7 for n in names}
    assert silent.requests >= 1
    assert d.stop() == 0


def test_device_reboot_keeps_time_and_index_increasing(daemon_factory, subscriber_factory,
                                                       pty_factory):
    rng = random.Random(9)
    d, sub, dev = start_ball(daemon_factory, subscriber_factory, pty_factory)
    dev.t_us = 600_000_000  # ten minutes after power-up
    for _ in range(20):
        dev.send_samples(make_samples(rng, 10))
    before = collect_raw(sub, "ball", 200)
    # Power cycle: seq and clock restart, the device says HELLO again.
    dev.seq = 0
    dev.t_us = 0
    dev.send_hello()
    for _ in range(20):
        dev.send_samples(make_samples(rng, 10))
    after = collect_raw(sub, "ball", 200)
    assert [m["i0"] for m in before + after] == list(range(0, 400, 10))
    times = [m["t_dev"] for m in before + after]
    assert all(b > a for a, b in zip(times, times[1:])), "device time keeps increasing"
    st = last_status(sub, "ball", lambda m: m["samples"] == 400)
    assert st["reboots"] == 1 and st["index_errors"] == 0 and st["samples_lost"] == 0
    assert st["frames_lost"] == 0
    assert d.stop() == 0


def test_coalescing_publishes_every_sample_once_in_bursts(daemon_factory, subscriber_factory,
                                                          pty_factory):
    """[publish] batch_ms: frames gather and leave in bursts; nothing is lost,
    duplicated or reordered, and the messages are those of batch_ms = 0."""
    rng = random.Random(11)
    ball = pty_factory(name="ball", kind=proto.BALL)
    scraper = pty_factory(name="scraper", kind=proto.SCRAPER, rate_hz=500)
    d = daemon_factory(devices=[("ball", "ball", ball.link), ("scraper", "scraper", scraper.link)],
                       publish="batch_ms = 60\n")
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    wait_connected(sub, "ball")
    wait_connected(sub, "scraper")
    time.sleep(0.2)
    n_frames = 150
    arrivals, index = [], {"ball": [], "scraper": []}
    next_t = time.monotonic()
    deadline = next_t + 30
    sent = 0
    while sent < n_frames or sum(len(v) for v in index.values()) < 2 * n_frames:
        now = time.monotonic()
        if sent < n_frames and now >= next_t:  # a frame each every 10 ms, as devices send
            ball.send_samples(make_samples(rng, 10))
            scraper.send_samples(make_samples(rng, 5))
            sent += 1
            next_t += 0.010
        topic, msg = sub.recv(0.002)
        if topic and topic.startswith("raw."):
            arrivals.append(time.monotonic())
            index[msg["device"]].append((msg["i0"], msg["n"]))
        assert now < deadline, "raw messages stopped coming: %s" % {k: len(v) for k, v in index.items()}
    assert index["ball"] == [(10 * i, 10) for i in range(n_frames)]
    assert index["scraper"] == [(5 * i, 5) for i in range(n_frames)]
    n_bursts = bursts(arrivals)
    print("%d raw messages in %d bursts" % (len(arrivals), n_bursts))
    # Per frame there would be about one burst per message (300); gathering
    # for 60 ms makes them a fraction of that, and load only makes them fewer.
    assert n_bursts <= len(arrivals) // 3
    st = last_status(sub, "ball", lambda m: m["samples"] == 10 * n_frames)
    assert st["samples_lost"] == 0 and st["ring_dropped"] == 0
    assert d.stop() == 0


def test_port_auto_never_probes_on_board_uarts(tmp_path):
    """On a Pi the on-board UARTs carry Bluetooth and the console: `port =
    auto` must not open them (only USB and Bluetooth serial ports, and what
    extra_ports names). Checked with strace on a machine with a native UART."""
    uarts = [p for p in glob.glob("/sys/class/tty/ttyS*") if os.path.exists(p + "/device")]
    if not shutil.which("strace") or not uarts:
        pytest.skip("needs strace and an on-board UART (/sys/class/tty/ttyS*/device)")
    if os.environ.get("MASSAGED_EXEC_WRAPPER"):
        pytest.skip("strace would start the emulated binary without its emulator")
    cfg = tmp_path / "auto.ini"
    cfg.write_text("[publish]\nendpoint = ipc://%s/pub.sock\n[auto]\nprobe_ms = 50\n[history]\ndb =\n"
                   "[device.ball]\nkind = ball\nport = auto\n" % tmp_path)
    os.chmod(cfg, 0o644)
    trace = tmp_path / "trace.txt"
    # LeakSanitizer cannot work under ptrace; the other tests check for leaks.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    proc = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(trace),
                             DAEMON, "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    time.sleep(2.5)  # the search runs at once and every second
    # Stop the daemon itself (strace, signalled, would detach and leave it).
    with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
        daemon_pid = int(f.read().split()[0])
    os.kill(daemon_pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()
    text = trace.read_text()
    assert "no serial port answered" in err.decode(), err.decode()
    opened = [line for line in text.splitlines() if '"/dev/ttyS' in line]
    assert not opened, opened
