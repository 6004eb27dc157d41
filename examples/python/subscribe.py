#!/usr/bin/python3
"""Subscribes to massaged and prints its events as they happen, with two live
figures: flexes per hold (massage ball) and the stroke rate (scraping tool).

    /usr/bin/python3 examples/python/subscribe.py [--endpoint tcp://127.0.0.1:5556]
                                                  [--seconds S]

Needs Debian's python3-zmq (apt install python3-zmq). Copy it and change
on_event() to do what you need: every topic and field is in docs/EVENTS.md.
"""
import argparse
import json
import time

import zmq


class Session:
    """The figures a session builds up, from the events alone."""

    def __init__(self):
        self.holds = 0
        self.flexes_in_holds = 0
        self.flexes_now = None          # flexes in the hold under way, None outside a hold
        self.strokes = []               # (t_start_dev, t_dev) of the last minute's strokes

    def on_event(self, topic, e):
        kind, phase = e["type"], e["phase"]
        if kind == "hold" and phase == "start":
            self.flexes_now = 0
        elif kind == "flex" and phase == "end" and self.flexes_now is not None:
            self.flexes_now += 1
        elif kind == "hold" and phase == "end":
            self.holds += 1
            self.flexes_in_holds += e["flex_count"]   # the daemon's own count for the hold
            self.flexes_now = None
        elif kind == "stroke":
            self.strokes.append((e["t_start_dev"], e["t_dev"]))
            # keep one minute of strokes (device time) for the rate
            self.strokes = [s for s in self.strokes if s[1] > e["t_dev"] - 60.0]

    def flexes_per_hold(self):
        return self.flexes_in_holds / self.holds if self.holds else None

    def stroke_rate_per_min(self):
        """Strokes per minute over the last minute's strokes, from the first
        one's start to the last one's end (the daemon's `area` rule)."""
        if len(self.strokes) < 2:
            return None
        span = self.strokes[-1][1] - self.strokes[0][0]
        return (len(self.strokes) - 1) / span * 60.0 if span > 0 else None


def describe(e):
    skip = {"v", "device", "kind", "type", "phase", "t_host", "id"}
    fields = " ".join("%s=%s" % (k, v) for k, v in e.items() if k not in skip)
    return "%s %s" % (e["phase"], fields)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:5556")
    ap.add_argument("--seconds", type=float, default=None, help="stop after S seconds")
    args = ap.parse_args()

    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt_string(zmq.SUBSCRIBE, "event.")   # topic prefix; "" would add raw and status
    sock.connect(args.endpoint)
    print("listening on %s" % args.endpoint, flush=True)

    session = Session()
    deadline = time.monotonic() + args.seconds if args.seconds else None
    try:
        while deadline is None or time.monotonic() < deadline:
            if not sock.poll(200):            # wake up now and then to check the deadline
                continue
            topic, payload = sock.recv_multipart()
            topic = topic.decode()
            e = json.loads(payload)
            session.on_event(topic, e)
            line = "%s %s" % (topic, describe(e))
            if e["kind"] == "ball" and e["type"] in ("hold", "flex"):
                fph = session.flexes_per_hold()
                line += "  | holds %d, flexes per hold %s, flexes this hold %s" % (
                    session.holds, "-" if fph is None else "%.1f" % fph,
                    "-" if session.flexes_now is None else session.flexes_now)
            elif e["type"] == "stroke":
                rate = session.stroke_rate_per_min()
                line += "  | stroke rate %s/min" % ("-" if rate is None else "%.1f" % rate)
            print(line, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        ctx.term()


if __name__ == "__main__":
    main()
