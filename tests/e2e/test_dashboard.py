"""The live dashboard end to end: two simulated devices (massaged-sim), the
daemon, massaged-web, and Debian's headless Chromium driven over the DevTools
protocol (--remote-debugging-pipe: JSON on file descriptors 3 and 4, so no
WebSocket client is needed).

MASSAGED_DASHBOARD_PNG=path saves the browser test's screenshot there
(docs/dashboard.png is made this way, with MASSAGED_DASHBOARD_WAIT=30 and
MASSAGED_DASHBOARD_SETTLE=10 to catch the ball in a hold with full traces)."""
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import instrumented, rss_kib, tool

WEB = tool("massaged-web")
CHROMIUM = shutil.which("chromium")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Session:
    """Simulated ball and scraper, the daemon, and massaged-web."""

    def __init__(self, tmp_path, daemon_factory, web_keys=""):
        self.port = free_port()
        self.procs = []
        ball, scraper = tmp_path / "ball.tty", tmp_path / "scraper.tty"
        for kind, seed, link in (("ball", 1, ball), ("scraper", 2, scraper)):
            self.procs.append(subprocess.Popen(
                [tool("massaged-sim"), "--kind", kind, "--seed", str(seed), "--link", str(link),
                 "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        extra = "[web]\nlisten = 127.0.0.1:%d\n%s\n" % (self.port, web_keys)
        self.daemon = daemon_factory(devices=[("ball", "ball", str(ball)),
                                              ("scraper", "scraper", str(scraper))], extra=extra)
        self.web_log = open(tmp_path / "web.log", "wb")
        self.web = subprocess.Popen([WEB, "--config", str(self.daemon.config)],
                                    stdout=self.web_log, stderr=subprocess.STDOUT)
        self.procs.append(self.web)
        deadline = time.monotonic() + 10
        while True:
            try:
                status, _, _ = self.get("/")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "massaged-web did not start"
            assert self.web.poll() is None, "massaged-web exited"
            time.sleep(0.1)
        self.url = "http://127.0.0.1:%d/" % self.port

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, r.getheader("Content-Type"), body

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.web_log.close()


@pytest.fixture
def session(tmp_path, daemon_factory):
    s = Session(tmp_path, daemon_factory)
    yield s
    s.stop()


def read_events(port, seconds, rcvbuf=None):
    """Reads /events for seconds; returns the parsed messages."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], 0.1)
        if r:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"200" in head.split(b"\r\n")[0] and b"text/event-stream" in head, head
    out = []
    for line in body.split(b"\n"):
        # chunked transfer: lines of hex sizes sit between the SSE lines
        if line.startswith(b"data: "):
            out.append(json.loads(line[6:]))
    return out


def test_serves_page_and_bridges_the_stream(session):
    status, ctype, body = session.get("/")
    assert status == 200 and ctype.startswith("text/html") and b"dashboard.js" in body
    for path, kind in (("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css")):
        status, ctype, _ = session.get(path)
        assert status == 200 and ctype.startswith(kind)
    assert session.get("/../etc/passwd")[0] == 404
    assert session.get("/nothing")[0] == 404

    time.sleep(5)  # a stroke or two and the ball's first roll happen by then
    msgs = read_events(session.port, 3.0)
    topics = [m["topic"] for m in msgs]
    assert topics[0] == "web.hello"
    for name in ("ball", "scraper"):
        traces = [m["payload"] for m in msgs if m["topic"] == "trace." + name]
        # 50 a second ([web] trace_hz default) for 3 s
        assert 100 <= len(traces) <= 170, len(traces)
        for t in traces:
            assert t["p_min"] <= t["p_mean"] <= t["p_max"]
            assert t["acc_min"] <= t["acc_max"] and t["gyr_max"] >= 0
        assert traces[-1]["samples"] > traces[0]["samples"] > 0
        # consecutive buckets tile device time
        for a, b in zip(traces, traces[1:]):
            assert abs(a["t_dev"] + a["dt"] - b["t_dev"]) < 1e-4
        assert any(m["topic"] == "status." + name for m in msgs)
    assert not any(t.startswith("raw.") for t in topics)
    assert "status.daemon" in topics and "web.bridge" in topics
    # events from before the connection are replayed, marked as such
    replayed = [m for m in msgs if m.get("replay")]
    assert any(m["topic"] == "event.scraper.stroke" for m in replayed), topics


def test_a_stalled_browser_is_dropped_not_buffered(tmp_path, daemon_factory):
    s = Session(tmp_path, daemon_factory, web_keys="queue_kib = 16\n")
    try:
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", s.port))
        stalled.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        rss0 = rss_kib(s.web.pid)
        time.sleep(12)  # never read: its queue fills within seconds
        msgs = read_events(s.port, 2.5)
        bridge = [m["payload"] for m in msgs if m["topic"] == "web.bridge"]
        daemon = [m["payload"] for m in msgs if m["topic"] == "status.daemon"]
        assert bridge and bridge[-1]["clients"] == 2
        assert bridge[-1]["dropped"] > 0, bridge[-1]        # the stalled one's
        assert bridge[-1]["client_dropped"] == 0            # not this one's
        assert daemon and daemon[-1]["publish_dropped"] == 0  # nor the daemon's
        assert sum(1 for m in msgs if m["topic"] == "trace.ball") > 50
        grown = rss_kib(s.web.pid) - rss0
        print("stalled browser: dropped %d, rss grew %d KiB" % (bridge[-1]["dropped"], grown))
        # Under a sanitizer the allocator's quarantine grows resident memory
        # by more than the queue could; there the bounded queue shows in
        # `dropped` above, and the sanitizer checks for leaks itself.
        assert instrumented() or grown < 4096
        stalled.close()
    finally:
        s.stop()
    assert s.web.returncode == 0


def test_config_switches(tmp_path):
    cfg = tmp_path / "off.ini"
    cfg.write_text("[web]\nenabled = false\n")
    os.chmod(cfg, 0o644)
    r = subprocess.run([WEB, "--config", str(cfg)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "enabled = false" in r.stderr
    cfg.write_text("[web]\nlisten = 127.0.0.1:99999\n")
    r = subprocess.run([WEB, "--config", str(cfg)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "[web] listen" in r.stderr, r.stderr
    r = subprocess.run([WEB, "--listen", "192.0.2.1:8080"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1 and "cannot serve" in r.stderr, r.stderr


class Chromium:
    """Headless Chromium on the DevTools protocol over a pipe."""

    def __init__(self, log_path, width=1400, height=1000):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="massaged-chromium-")
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--hide-scrollbars",
                "--user-data-dir=" + self.profile, "--remote-debugging-pipe",
                "--window-size=%d,%d" % (width, height), "about:blank"]
        cmd = "exec \"$@\" 3<&%d 4>&%d" % (to_chrome_r, from_chrome_w)
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(["bash", "-c", cmd, "chromium", *args],
                                     pass_fds=(to_chrome_r, from_chrome_w),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def call(self, method, params=None, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self.buf:
                raw, _, self.buf = self.buf.partition(b"\0")
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    assert "error" not in reply, reply
                    return reply["result"]
            left = deadline - time.monotonic()
            assert left > 0, "chromium did not answer %s" % method
            r, _, _ = select.select([self.from_chrome], [], [], left)
            if r:
                chunk = os.read(self.from_chrome, 1 << 20)
                assert chunk, "chromium closed the pipe"
                self.buf += chunk

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_chrome)
        os.close(self.from_chrome)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


# What the page shows, read from its DOM and canvases.
PAGE_STATE = r"""
JSON.stringify({
  link: document.getElementById("link").dataset.state,
  devices: [...document.querySelectorAll("section.device")].map(card => {
    const canvas = card.querySelector("canvas");
    const ctx = canvas.getContext("2d");
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let blue = 0, orange = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 2] > 150 && px[i] < 90) blue++;                       // pressure/force line
      if (px[i] > 170 && px[i + 1] > 90 && px[i + 1] < 150 && px[i + 2] < 80) orange++;  // |gyr|
    }
    return {
      name: card.dataset.device,
      connected: card.dataset.connected,
      state: card.querySelector(".state").dataset.state,
      samples: Number(card.querySelector('[data-counter="samples"]').textContent.replace(/,/g, "")),
      events: [...card.querySelectorAll(".event-list li")].map(li => li.dataset.type),
      battery: card.querySelector('[data-health="battery"]').textContent,
      blue, orange,
    };
  }),
})
"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_browser_shows_live_devices_events_and_traces(session, tmp_path):
    wait = float(os.environ.get("MASSAGED_DASHBOARD_WAIT", "4"))
    time.sleep(wait)  # the scraper's first strokes come 3 to 4 s in
    browser = Chromium(tmp_path / "chromium.log")
    try:
        browser.call("Page.enable")
        browser.call("Page.navigate", {"url": session.url})
        first = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.5)
            state = json.loads(browser.evaluate(PAGE_STATE))
            devs = {d["name"]: d for d in state["devices"]}
            ready = (set(devs) == {"ball", "scraper"} and
                     all(d["connected"] == "true" and d["samples"] > 0 for d in devs.values()))
            if ready and first is None:
                first = devs
                continue
            if ready and first is not None and \
                    all(devs[n]["samples"] > first[n]["samples"] for n in devs) and \
                    "stroke" in devs["scraper"]["events"] and \
                    all(d["blue"] > 200 and d["orange"] > 50 for d in devs.values()):
                break
        print("page:", json.dumps(state))
        assert state["link"] == "live"
        assert set(devs) == {"ball", "scraper"}
        for d in devs.values():
            assert d["connected"] == "true"
            assert d["samples"] > first[d["name"]]["samples"] > 0   # live, still counting
            assert d["battery"].endswith("V")                        # status reached the page
            assert d["blue"] > 200 and d["orange"] > 50              # both traces drawn
        assert "stroke" in devs["scraper"]["events"]
        assert devs["scraper"]["state"] in ("scraping", "idle")
        assert devs["ball"]["state"] in ("idle", "rolling", "holding", "flexing", "rocking")
        # For a picture with full traces (docs), let the page run on a while.
        time.sleep(float(os.environ.get("MASSAGED_DASHBOARD_SETTLE", "0")))
        shot = browser.call("Page.captureScreenshot", {"format": "png"})["data"]
        import base64
        png = base64.b64decode(shot)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000
        (tmp_path / "dashboard.png").write_bytes(png)
        out = os.environ.get("MASSAGED_DASHBOARD_PNG")
        if out:
            with open(out, "wb") as f:
                f.write(png)
    finally:
        browser.close()


HISTORY_STATE = r"""
JSON.stringify({
  note: document.getElementById("hist-note").textContent,
  rows: [...document.querySelectorAll("#hist-rows tr")].map(tr =>
    [...tr.children].map(td => td.textContent)),
  inked: [...document.querySelectorAll("canvas[data-chart]")].map(c => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  }),
})
"""


def history_ready(path):
    """True once the daemon has committed the history database's schema."""
    import sqlite3
    if not os.path.exists(path):
        return False
    try:
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=1)
        try:
            return con.execute("PRAGMA application_id").fetchone()[0] != 0
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return False


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_history_view_shows_the_sessions_and_follows_their_ends(tmp_path, daemon_factory):
    """The page's history view (GET /history, massaged-history's overview)
    lists the finished sessions and fetches again when one ends."""
    import sqlite3
    port = free_port()
    link = tmp_path / "scraper.tty"
    d = daemon_factory(devices=[("scraper", "scraper", str(link))],
                       extra="[session]\nidle_s = 2\n\n[web]\nlisten = 127.0.0.1:%d\n\n" % port)
    # The daemon creates its history database at start, which under qemu
    # takes seconds: the view is tested on the committed schema (before it,
    # massaged-history reads the empty file as no sessions).
    deadline = time.monotonic() + 30
    while not history_ready(d.history_db):
        assert time.monotonic() < deadline, "the daemon did not create its history database"
        time.sleep(0.1)
    web_log = open(tmp_path / "web.log", "wb")
    web = subprocess.Popen([WEB, "--config", str(d.config)], stdout=web_log,
                           stderr=subprocess.STDOUT)
    browser = None
    sim = None
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/history")
                r = c.getresponse()
                first = json.loads(r.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "massaged-web did not start"
                time.sleep(0.1)
        assert r.status == 200 and first["sessions"] == [], first
        browser = Chromium(tmp_path / "chromium.log")
        browser.call("Page.enable")
        browser.call("Page.navigate", {"url": "http://127.0.0.1:%d/" % port})
        # The page's stream must be open before the last session ends: an end
        # replayed to a later stream does not make the page fetch again (a
        # fixed 1.5 s sleep was this wait, short if Chromium loads slowly).
        deadline = time.monotonic() + 30
        while browser.evaluate('document.getElementById("link")?.dataset.state') != "live":
            assert time.monotonic() < deadline, "the page's stream did not open"
            time.sleep(0.1)
        sim = subprocess.Popen([tool("massaged-sim"), "--kind", "scraper", "--seed", "22",
                                "--link", str(link), "--quiet", "--fast", "--duration", "240",
                                "--linger", "0.3"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The last session ends 2 s after the device is lost; the page must
        # then list every session the database holds.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.5)
            state = json.loads(browser.evaluate(HISTORY_STATE))
            con = sqlite3.connect("file:%s?mode=ro" % d.history_db, uri=True)
            n = con.execute("SELECT count(*) FROM sessions WHERE end_reason = 'disconnected'"
                            ).fetchone()[0]
            # Newest first: by start time. The session is sent faster than
            # real time, so its host times come from a mapping that is not
            # physical (docs/RECORDING.md, replay) and a later session may
            # start before an earlier one: the database says which is newest.
            newest_first = [r[0] for r in con.execute(
                "SELECT end_reason FROM sessions ORDER BY t_start DESC, id DESC")]
            con.close()
            if n == 1 and len(state["rows"]) == len(newest_first):
                break
        print("history view:", json.dumps(state))
        assert n == 1 and len(newest_first) >= 2
        assert [row[-1] for row in state["rows"]] == newest_first
        assert all(row[1] == "scraper" for row in state["rows"])
        assert state["note"].startswith("updated")
        assert min(state["inked"]) > 100                   # every chart drawn
    finally:
        if browser:
            browser.close()
        if sim:
            sim.wait(10)
        web.send_signal(signal.SIGTERM)
        web.wait(10)
        web_log.close()
