#!/usr/bin/env node
// Subscribes to massaged and prints its events as they happen, with two live
// figures: the stroke rate (scraping tool) and flexes per hold (massage ball).
//
//   cd examples/node && npm install      # zeromq from the npm registry (prebuilt)
//   node subscribe.js [--endpoint tcp://127.0.0.1:5556] [--seconds S]
//
// Every topic and field is in docs/EVENTS.md.
"use strict";
const zmq = require("zeromq");

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const endpoint = option("--endpoint", "tcp://127.0.0.1:5556");
const seconds = Number(option("--seconds", "0"));

// The figures a session builds up, from the events alone.
const session = {
  holds: 0, flexesInHolds: 0, flexesNow: null,
  strokes: [], // [t_start_dev, t_dev] of the last minute's strokes

  onEvent(e) {
    if (e.type === "hold" && e.phase === "start") this.flexesNow = 0;
    else if (e.type === "flex" && e.phase === "end" && this.flexesNow !== null) this.flexesNow++;
    else if (e.type === "hold" && e.phase === "end") {
      this.holds++;
      this.flexesInHolds += e.flex_count; // the daemon's own count for the hold
      this.flexesNow = null;
    } else if (e.type === "stroke") {
      this.strokes.push([e.t_start_dev, e.t_dev]);
      this.strokes = this.strokes.filter(s => s[1] > e.t_dev - 60);
    }
  },
  // Strokes per minute from the first recent stroke's start to the last one's
  // end (the rule of the daemon's `area` event).
  strokeRate() {
    if (this.strokes.length < 2) return null;
    const span = this.strokes[this.strokes.length - 1][1] - this.strokes[0][0];
    return span > 0 ? (this.strokes.length - 1) / span * 60 : null;
  },
  flexesPerHold() {
    return this.holds ? this.flexesInHolds / this.holds : null;
  },
};

function describe(e) {
  const skip = new Set(["v", "device", "kind", "type", "phase", "t_host", "id"]);
  return e.phase + " " + Object.entries(e).filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}=${v}`).join(" ");
}

async function main() {
  const sock = new zmq.Subscriber({ linger: 0 });
  sock.connect(endpoint);
  sock.subscribe("event."); // topic prefix; omit the argument for everything
  console.log(`listening on ${endpoint}`);
  if (seconds > 0) setTimeout(() => sock.close(), seconds * 1000);

  try {
    for await (const [topic, payload] of sock) {
      const e = JSON.parse(payload.toString());
      session.onEvent(e);
      let line = `${topic} ${describe(e)}`;
      if (e.type === "stroke") {
        const rate = session.strokeRate();
        line += `  | stroke rate ${rate === null ? "-" : rate.toFixed(1)}/min`;
      } else if (e.kind === "ball" && (e.type === "hold" || e.type === "flex")) {
        const fph = session.flexesPerHold();
        line += `  | holds ${session.holds}, flexes per hold ${fph === null ? "-" : fph.toFixed(1)}`;
      }
      console.log(line);
    }
  } catch (err) {
    // closing the socket ends the loop with an error; anything else is real
    if (!sock.closed) throw err;
  }
}

process.on("SIGINT", () => process.exit(0));
main().catch(err => { console.error(err); process.exit(1); });
