"""MQTT end to end (docs/FLEET.md): the real daemon publishes to a real
Mosquitto broker (tests/e2e/broker.py: password file, per-site ACL,
persistence, a TLS listener with a test CA), read by mosquitto_sub. What
arrives over MQTT is compared with what the daemon published on ZeroMQ."""
import json
import os
import re
import shutil
import socket
import signal
import threading
import time

import pytest

import proto
from broker import Broker, MqttSubscriber, make_ca, unique_events
from conftest import BUILD, wait_subscribed

# Messages the ring from the pipeline to the MQTT thread holds.
with open(os.path.join(os.path.dirname(__file__), "..", "..", "daemon", "mqtt.h")) as _h:
    MQTT_RING_CAPACITY = int(re.search(r"#define MQTT_RING_CAPACITY (\d+)", _h.read()).group(1))

pytestmark = pytest.mark.skipif(not shutil.which("mosquitto") or not shutil.which("mosquitto_sub"),
                                reason="Debian's mosquitto and mosquitto-clients are not installed")


class Place:
    """One treatment place's daemon with a ball on a pty and a ZeroMQ tap,
    and the brokers and MQTT subscribers of a test (stopped at its end)."""

    def __init__(self, tmp_path, daemon_factory, subscriber_factory, pty_factory):
        self.tmp_path = tmp_path
        self.daemon_factory = daemon_factory
        self.subscriber_factory = subscriber_factory
        self.pty_factory = pty_factory
        self.processes = []
        self.daemon_env = None  # extra environment of the daemon

    def broker(self, sites=("place1",), tls=False):
        b = Broker(self.tmp_path / "broker", sites, tls)
        self.processes.append(b)
        return b

    def mqtt_subscriber(self, broker, client_id="test-sub"):
        s = MqttSubscriber(broker, client_id=client_id)
        self.processes.append(s)
        # Subscribed once the broker logs the client's SUBSCRIBE; the session
        # survives a SIGKILL of the broker once it has been saved after that.
        subscribe = "Received SUBSCRIBE from " + client_id
        deadline = time.monotonic() + 10
        while "Saving in-memory database" not in broker.log().partition(subscribe)[2]:
            assert time.monotonic() < deadline, broker.log()[-2000:]
            time.sleep(0.05)
        return s

    def start(self, mqtt_section):
        """Starts the daemon; returns it, its ZeroMQ Tap (which has seen the
        ball's connected event) and the ball."""
        # The device answers only once the subscription is live, so that the
        # ZeroMQ subscriber sees the first event (connected) too.
        dev = self.pty_factory(name="ball", answer_hello=False)
        d = self.daemon_factory(devices=[("ball", "ball", dev.link)], extra=mqtt_section,
                                env=self.daemon_env)
        sub = self.subscriber_factory(d.endpoint)
        wait_subscribed(sub)
        dev.send_hello()
        dev.start_heartbeat(0.2)
        tap = Tap(sub)
        tap.until("connected")
        return d, tap, dev


@pytest.fixture
def place(tmp_path, daemon_factory, subscriber_factory, pty_factory):
    p = Place(tmp_path, daemon_factory, subscriber_factory, pty_factory)
    yield p
    for proc in reversed(p.processes):
        proc.stop()


def press(dev, n, pause=0.01):
    """n presses of the device's button: n mark events."""
    for _ in range(n):
        dev.write(dev.next_frame(proto.BUTTON, bytes([1])))
        dev.write(dev.next_frame(proto.BUTTON, bytes([0])))
        dev.t_us += 10000
        time.sleep(pause)


class Tap:
    """Everything the ZeroMQ subscriber receives, events kept in order while
    the test waits for status messages."""

    def __init__(self, sub):
        self.sub = sub
        self.events = []
        self.raw = []

    def _wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            topic, msg = self.sub.recv(0.2)
            if topic is None:
                continue
            if topic.startswith("event."):
                self.events.append((topic, msg))
            elif topic.startswith("raw."):
                self.raw.append(msg)
            if pred(topic, msg):
                return msg
        raise AssertionError("timed out; last events %s" % self.events[-3:])

    def status(self, pred, timeout=10.0):
        return self._wait(lambda t, m: t == "status.daemon" and pred(m), timeout)

    def until(self, event_type, timeout=20.0):
        """Receives until an event of event_type; returns every event so far."""
        self._wait(lambda t, m: t.startswith("event.") and m["type"] == event_type, timeout)
        return self.events


def mqtt_events(msub, site, count, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        got = unique_events(msub.messages(), "massaged/%s/" % site)
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_every_event_arrives_once_in_order_with_the_same_payload(place):
    broker = place.broker()
    msub = place.mqtt_subscriber(broker)
    d, sub, dev = place.start(broker.config("place1"))
    sub.status(lambda m: m["mqtt_connected"] and m["mqtt_error"] is None)
    press(dev, 40)
    st = sub.status(lambda m: m["mqtt_sent"] >= 41)
    assert st["online"] is True and st["mqtt_dropped"] == 0 and st["mqtt_connects"] == 1
    assert d.stop() == 0
    published = [(t, m) for t, m in sub.until("disconnected")]
    got = mqtt_events(msub, "place1", len(published))
    print("zmq", len(published), "mqtt", len(got))
    assert len(published) == 42  # connected, 40 marks, disconnected
    assert got == published
    msgs = msub.messages()
    # Device status: retained QoS 0, the same payload as status.ball.
    statuses = [m for t, m in msgs if t == "massaged/place1/ball/status"]
    assert statuses and statuses[0]["device"] == "ball"
    # The daemon's status, then its clean stop marks it offline.
    daemon = [m for t, m in msgs if t == "massaged/place1/daemon/status"]
    assert daemon[0]["online"] is True and daemon[-1] == {"v": 1, "online": False}
    assert "mqtt" in d.log_text()


def test_last_will_marks_a_vanished_daemon_offline(place):
    broker = place.broker()
    msub = place.mqtt_subscriber(broker)
    d, sub, dev = place.start(broker.config("place1", keepalive_s=5))
    msub.wait_for(lambda t, m: t == "massaged/place1/daemon/status" and m.get("online"))
    d.stop(signal.SIGKILL)
    # The broker notices the dead connection at once (the socket closes) and
    # publishes the will.
    msub.wait_for(lambda t, m: t == "massaged/place1/daemon/status" and m.get("online") is False,
                  10)


def test_broker_killed_and_restarted_mid_session_loses_no_event(place):
    broker = place.broker()
    msub = place.mqtt_subscriber(broker)
    d, sub, dev = place.start(broker.config("place1"))
    sub.status(lambda m: m["mqtt_connected"])
    done = threading.Event()

    def presser():
        while not done.is_set():
            press(dev, 1, 0.02)
    t = threading.Thread(target=presser, daemon=True)
    t.start()
    time.sleep(1.0)
    broker.kill(signal.SIGKILL)
    # The daemon notices, queues, keeps streaming on ZeroMQ.
    st = sub.status(lambda m: not m["mqtt_connected"] and m["mqtt_queued"] > 0)
    assert st["mqtt_error"]
    time.sleep(1.0)
    broker.start()
    sub.status(lambda m: m["mqtt_connected"] and m["mqtt_connects"] >= 2, 15)
    time.sleep(1.0)
    done.set()
    t.join()
    assert d.stop() == 0
    published = sub.until("disconnected")
    got = mqtt_events(msub, "place1", len(published), 20)
    print("zmq", len(published), "mqtt", len(got), "duplicates",
          sum(1 for t, _ in msub.messages() if "/event/" in t) - len(got))
    assert len(published) > 80
    assert got == published
    assert "connection lost" in d.log_text()


def test_queue_overflow_is_counted_and_the_newest_events_are_delivered(place):
    broker = place.broker()
    msub = place.mqtt_subscriber(broker)
    broker.kill(signal.SIGTERM)  # saves the subscriber's session, then away
    d, sub, dev = place.start(broker.config("place1", queue_kib=16))
    # 150 marks, in groups that the ring to the MQTT thread holds, each taken
    # before the next is sent: so the drops are the full queue's, oldest
    # first, however slow the machine, never the ring's (which would drop
    # from the middle).
    marks = 0
    for _ in range(5):
        press(dev, MQTT_RING_CAPACITY // 2, 0.002)
        marks += MQTT_RING_CAPACITY // 2
        sub.status(lambda m: m["mqtt_queued"] + m["mqtt_dropped"] >= marks)
    st = sub.status(lambda m: m["mqtt_dropped"] > 0)
    assert not st["mqtt_connected"] and st["mqtt_queued"] > 10
    assert "queue of 16 KiB is full" in d.log_text()
    broker.start()
    sub.status(lambda m: m["mqtt_connected"] and m["mqtt_queued"] == 0, 15)
    dropped = sub.status(lambda m: True)["mqtt_dropped"]
    assert d.stop() == 0
    published = sub.until("disconnected")
    got = mqtt_events(msub, "place1", len(published) - dropped, 20)
    print("zmq", len(published), "dropped", dropped, "mqtt", len(got))
    # The oldest were dropped: what arrives is the end of what was published.
    assert len(got) == len(published) - dropped
    assert got == published[dropped:]


def test_a_burst_larger_than_the_ring_reaches_the_queue_whole(place):
    broker = place.broker()
    broker.kill(signal.SIGTERM)  # away: every event waits in the queue
    d, sub, dev = place.start(broker.config("place1"))
    # The MQTT thread has been idle (its long sleep); three rings' worth of
    # marks come faster than it would wake by itself. The ring waking it at a
    # quarter full brings them all to the queue.
    sub.status(lambda m: m["mqtt_queued"] > 0)  # the connected event is queued
    queued = sub.status(lambda m: True)["mqtt_queued"]
    time.sleep(0.6)
    marks = 3 * MQTT_RING_CAPACITY
    press(dev, marks, 0.001)
    st = sub.status(lambda m: m["mqtt_queued"] + m["mqtt_dropped"] >= queued + marks)
    assert st["mqtt_dropped"] == 0 and st["mqtt_queued"] == queued + marks, st
    assert d.stop() == 0


def test_acl_refuses_a_publish_outside_the_sites_prefix(place):
    broker = place.broker(sites=("place1", "place2"))
    msub = place.mqtt_subscriber(broker)
    # The daemon logs in as place1 but claims site place2's topics.
    d, sub, dev = place.start(broker.config("place2", username="place1",
                                      password="pw-place1"))
    press(dev, 3)
    # MQTT 5: the broker's PUBACK says it refused them.
    st = sub.status(lambda m: m["mqtt_connected"] and m["mqtt_refused"] >= 4)
    assert st["mqtt_sent"] == 0 and st["mqtt_error"] is None
    assert "the broker refused an event under massaged/place2/: Not authorized" in d.log_text()
    deadline = time.monotonic() + 10
    while "Denied PUBLISH" not in broker.log():
        assert time.monotonic() < deadline, broker.log()[-2000:]
        time.sleep(0.1)
    assert "'massaged/place2/ball/event/" in broker.log()
    assert d.stop() == 0
    time.sleep(0.5)
    assert not [t for t, _ in msub.messages() if t.startswith("massaged/place2/")]


def test_bad_credentials_are_reported_and_streaming_goes_on(place):
    broker = place.broker()
    d, sub, dev = place.start(broker.config("place1", password="wrong"))
    st = sub.status(lambda m: m["mqtt_error"] is not None)
    assert "refused the connection: Not authorized" in st["mqtt_error"]
    assert not st["mqtt_connected"]
    press(dev, 2)
    sub.status(lambda m: len(sub.events) >= 3)
    assert [m["type"] for t, m in sub.events] == ["connected", "mark", "mark"]
    assert d.stop() == 0
    assert "refused the connection" in d.log_text()


def test_tls_with_the_right_ca_delivers(place):
    broker = place.broker(tls=True)
    msub = place.mqtt_subscriber(broker)
    # MQTT 3.1.1 here, 5 in the other tests.
    d, sub, dev = place.start(broker.config("place1", tls=True, protocol="3.1.1"))
    press(dev, 5)
    assert d.stop() == 0
    published = sub.until("disconnected")
    assert mqtt_events(msub, "place1", len(published)) == published


def test_a_bad_certificate_is_reported_and_streaming_goes_on(place, tmp_path):
    broker = place.broker(tls=True)
    other_ca = make_ca(tmp_path, "other")  # did not sign the broker's certificate
    d, sub, dev = place.start(broker.config("place1", tls=True, ca_file=other_ca))
    st = sub.status(lambda m: m["mqtt_error"] is not None)
    assert "TLS" in st["mqtt_error"] and not st["mqtt_connected"]
    print(st["mqtt_error"])
    press(dev, 2)
    sub.status(lambda m: len(sub.events) >= 3)
    assert [m["type"] for t, m in sub.events] == ["connected", "mark", "mark"]
    assert d.stop() == 0


def test_an_unknown_host_is_reported(place):
    d, sub, dev = place.start("[mqtt]\nbroker = mqtt://no-such-host.invalid:1883\nsite = x\n\n")
    st = sub.status(lambda m: m["mqtt_error"] is not None)
    assert "resolve" in st["mqtt_error"]
    press(dev, 1)
    sub.until("mark")
    assert d.stop() == 0


def test_without_libmosquitto_mqtt_is_off_and_streaming_goes_on(place, tmp_path):
    # The daemon loads libmosquitto by the soname the build found, only when
    # a broker is configured; here the dynamic loader finds a file of that
    # name that is no library, as if the package were missing or broken.
    with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
        soname = re.search(r"^MOSQUITTO_SONAME:INTERNAL=(.+)$", f.read(), re.M).group(1)
    libdir = tmp_path / "nolib"
    libdir.mkdir()
    (libdir / soname).write_text("not a library\n")
    broker = place.broker()
    place.daemon_env = {"LD_LIBRARY_PATH": str(libdir)}
    d, sub, dev = place.start(broker.config("place1"))
    st = sub.status(lambda m: m["mqtt_error"] is not None)
    assert "cannot load " + soname in st["mqtt_error"] and not st["mqtt_connected"]
    press(dev, 2)
    sub.status(lambda m: len(sub.events) >= 3)
    assert [m["type"] for t, m in sub.events] == ["connected", "mark", "mark"]
    assert d.stop() == 0
    assert "MQTT is off (streaming goes on)" in d.log_text()
    assert "New client connected" not in broker.log()


def test_raw_every_sends_every_nth_block_with_the_same_payload(place):
    broker = place.broker()
    msub = place.mqtt_subscriber(broker)
    d, sub, dev = place.start(broker.config("place1", raw_every=10))
    sub.status(lambda m: m["mqtt_connected"])
    for i in range(100):
        dev.send_samples([(100000 + i, (i, 2, 3), (4, 5, i))] * 10)
        time.sleep(0.002)
    sub.status(lambda m: sub.raw and sub.raw[-1]["i0"] == 990)
    assert d.stop() == 0
    assert [m["i0"] for m in sub.raw] == list(range(0, 1000, 10))
    deadline = time.monotonic() + 10
    while True:
        raw = [m for t, m in msub.messages() if t == "massaged/place1/ball/raw"]
        if len(raw) >= 10 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # Every tenth block of the device, the first one included, as on ZeroMQ.
    assert raw == sub.raw[::10]
    size = sum(len(json.dumps(m)) for m in sub.raw) / len(sub.raw)
    print("raw block of 10 samples: about %.0f bytes of JSON" % size)


def test_home_assistant_discovery_reads_the_retained_status(place):
    """The discovery messages, read by a client that comes later (so they
    are retained), point at topics that exist, and their templates, rendered
    by Jinja2 as Home Assistant does, give the battery, the connection and
    the availability from the daemon's payloads."""
    import jinja2.sandbox
    env = jinja2.sandbox.ImmutableSandboxedEnvironment()
    broker = place.broker()
    d, sub, dev = place.start(broker.config("place1", ha_discovery="true"))
    sub.status(lambda m: m["mqtt_connected"] and m["mqtt_sent"] >= 3)
    ha = place.mqtt_subscriber(broker, client_id="home-assistant")

    def latest(topic):
        got = ha.wait_for(lambda t, m: t == topic)
        return got[-1][1]
    configs = ha.wait_for(lambda t, m: t.startswith("homeassistant/"))
    deadline = time.monotonic() + 10
    while len(configs) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        configs = [(t, m) for t, m in ha.messages() if t.startswith("homeassistant/")]
    by_topic = dict(configs)
    assert sorted(by_topic) == ["homeassistant/binary_sensor/place1/ball_connected/config",
                                "homeassistant/sensor/place1/ball_battery/config"]
    battery = by_topic["homeassistant/sensor/place1/ball_battery/config"]
    connected = by_topic["homeassistant/binary_sensor/place1/ball_connected/config"]
    assert battery["unique_id"] == "massaged_place1_ball_battery"
    assert battery["device"]["identifiers"] == connected["device"]["identifiers"]
    assert battery["device"]["model"] == "ball"
    status = latest(battery["state_topic"])  # the ball's retained status
    assert status["device"] == "ball" and status["battery_mv"] == 4000  # the heartbeat's
    render = lambda template, payload: env.from_string(template).render(value_json=payload)  # noqa: E731
    assert render(battery["value_template"], status) == "4000"
    assert render(connected["value_template"], status) == "ON"
    assert render(battery["value_template"], {"connected": False}) == "None"  # no STATUS yet
    daemon = latest(battery["availability_topic"])
    assert render(battery["availability_template"], daemon) == "online"
    assert d.stop() == 0
    offline = ha.wait_for(lambda t, m: t == battery["availability_topic"] and not m["online"])
    assert render(battery["availability_template"], offline[-1][1]) == "offline"


def test_a_broker_that_never_answers_is_given_up_and_retried(place):
    """A server that accepts TCP connections and never answers CONNECT."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    try:
        d, sub, dev = place.start("[mqtt]\nbroker = mqtt://127.0.0.1:%d\nsite = x\n"
                                  "keepalive_s = 5\nreconnect_max_s = 1\n\n" % port)
        st = sub.status(lambda m: m["mqtt_error"] is not None, 15)
        assert "no answer to the connection within 5 s" in st["mqtt_error"]
        press(dev, 1)
        sub.until("mark")
        # It tried again: a second connection reached the silent server.
        accepted = []
        silent.settimeout(10)
        while len(accepted) < 2:
            accepted.append(silent.accept()[0])
        assert d.stop() == 0
    finally:
        for c in locals().get("accepted", []):
            c.close()
        silent.close()
