"""A fleet of treatment places on one MQTT broker (docs/FLEET.md,
docs/BENCHMARKS.md): N daemons on this machine, each with its own simulated
ball and scraper (massaged-sim in real time), publish to one Mosquitto
(tests/e2e/broker.py: passwords, per-site ACL, persistence); one
mosquitto_sub sees every site. Reports whether every event each daemon
published on ZeroMQ arrived over MQTT (after removing QoS 1 repeats), and
the CPU and memory of the daemons, the broker and the subscriber, against a
reference daemon with the same simulated tools and MQTT off, in the same run.

Usage: /usr/bin/python3 bench/fleet.py [--build DIR] [--daemons N] [--seconds S]
"""
import json
import os
import shutil
import signal
import sys
import tempfile
import time

import zmq

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "e2e"))
from broker import Broker, MqttSubscriber, unique_events  # noqa: E402
from place import Place, arguments, memory_kib, wait_for  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """User plus system CPU seconds of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def place(build, root, name, broker, seed):
    """A place with a ball (seed) and a scraper (seed + 1) whose daemon
    publishes to broker as site name (MQTT off without a broker)."""
    return Place(build, root, name, {"ball": seed, "scraper": seed + 1},
                 broker.config(name) if broker else "")


def main():
    ap = arguments(60)
    ap.add_argument("--daemons", type=int, default=12)
    args = ap.parse_args()
    for tool in ("mosquitto", "mosquitto_sub", "mosquitto_passwd"):
        if not shutil.which(tool):
            print("fleet: %s is not installed (tools/deps.sh installs it)" % tool)
            return 0
    root = tempfile.mkdtemp(prefix="massaged-fleet.")
    names = ["place%02d" % (i + 1) for i in range(args.daemons)]
    broker = Broker(os.path.join(root, "broker"), names)
    msub = MqttSubscriber(broker, client_id="fleet-sub")
    wait_for(lambda: "Received SUBSCRIBE from fleet-sub" in broker.log(), 10, "the subscriber")
    ctx = zmq.Context.instance()
    places, subs = [], []
    try:
        for i, name in enumerate(names):
            places.append(place(args.build, root, name, broker, 1000 + 10 * i))
        # The reference: the same tools as place01, MQTT off.
        reference = place(args.build, root, "reference", None, 1000)
        for p in places:
            s = ctx.socket(zmq.SUB)
            s.setsockopt(zmq.RCVHWM, 1000000)
            s.setsockopt_string(zmq.SUBSCRIBE, "event.")
            s.setsockopt_string(zmq.SUBSCRIBE, "status.")
            if p is places[0]:
                s.setsockopt_string(zmq.SUBSCRIBE, "raw.")
            s.connect(p.endpoint)
            subs.append(s)
        published = {p.name: [] for p in places}
        sizes = {}  # topic class ("raw.ball", "status.ball", "event" ...): [count, bytes]
        poller = zmq.Poller()
        for s in subs:
            poller.register(s, zmq.POLLIN)

        def pump(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for sock, _ in poller.poll(100):
                    topic, payload = sock.recv_multipart()
                    if sock is subs[0]:
                        cls = "event" if topic.startswith(b"event.") else topic.decode()
                        entry = sizes.setdefault(cls, [0, 0])
                        entry[0] += 1
                        entry[1] += len(payload)
                    if topic.startswith(b"event."):
                        name = places[subs.index(sock)].name
                        published[name].append((topic.decode(), json.loads(payload)))

        deadline = time.monotonic() + 30
        while not all(published.values()):
            if time.monotonic() > deadline:
                raise SystemExit("not every place streams: %s" % {
                    k: len(v) for k, v in published.items()})
            pump(0.5)
        procs = {"daemons (each)": [p.proc.pid for p in places],
                 "reference daemon, MQTT off": [reference.proc.pid],
                 "broker": [broker.proc.pid], "subscriber (mosquitto_sub)": [msub.proc.pid]}
        cpu0 = {k: [cpu_s(pid) for pid in v] for k, v in procs.items()}
        t0 = time.monotonic()
        sizes.clear()
        pump(args.seconds)
        elapsed = time.monotonic() - t0
        cpu1 = {k: [cpu_s(pid) for pid in v] for k, v in procs.items()}
        mem = {k: [memory_kib(pid) for pid in v] for k, v in procs.items()}
        for p in places + [reference]:
            p.proc.send_signal(signal.SIGTERM)
        pump(3.0)
        for p in places + [reference]:
            p.stop()
        pump(0.5)
        total = sum(len(v) for v in published.values())
        deadline = time.monotonic() + 30
        while True:
            got = unique_events(msub.messages())
            if len(got) >= total or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        all_mqtt = [t for t, _ in msub.messages() if "/event/" in t]
        missing = 0
        for p in places:
            # The ZeroMQ subscription may miss a daemon's very first events
            # (PUB drops what precedes it): compare from its first event on.
            mine = unique_events(msub.messages(), "massaged/%s/" % p.name)
            first = mine.index(published[p.name][0]) if published[p.name][0] in mine else 0
            if mine[first:] != published[p.name]:
                missing += 1
                print("  %s: %d published on ZeroMQ, %d arrived over MQTT" % (
                    p.name, len(published[p.name]), len(mine) - first))
        print("fleet of %d daemons (a simulated ball and scraper each, real time), one broker, "
              "%.0f s:" % (args.daemons, elapsed))
        print("  events published on ZeroMQ: %d; arrived over MQTT once each, in order, same "
              "payload: %d; QoS 1 repeats: %d; sites with a difference: %d" % (
                  total, len(unique_events(msub.messages())), len(all_mqtt) - len(
                      unique_events(msub.messages())), missing))
        print("  %-30s %10s %10s %10s" % ("process", "cpu_%", "rss_kB", "peak_kB"))
        for k in procs:
            n = len(procs[k])
            cpu = sum(b - a for a, b in zip(cpu0[k], cpu1[k])) / n / elapsed * 100
            rss = sum(m[0] for m in mem[k]) / n
            hwm = max(m[1] for m in mem[k])
            print("  %-30s %10.2f %10.0f %10.0f" % (k, cpu, rss, hwm))
        print("  what one place publishes (%s), which MQTT sends as the same bytes:" % names[0])
        for cls, (count, size) in sorted(sizes.items()):
            print("    %-16s %7.1f messages/s, %6.0f bytes each, %8.0f bytes/s%s" % (
                cls, count / elapsed, size / count, size / elapsed,
                "  (raw_every = N: 1/N of it)" if cls.startswith("raw.") else ""))
        print("FLEET daemons %d events %d arrived %d differing_sites %d" % (
            args.daemons, total, len(unique_events(msub.messages())), missing))
        return 1 if missing else 0
    finally:
        for p in places:
            try:
                p.stop()
            except Exception:
                pass
        for s in subs:
            s.close(0)
        msub.stop()
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
