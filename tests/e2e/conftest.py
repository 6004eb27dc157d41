"""Fixtures for end-to-end tests: the real daemon binary, real pseudo-terminals
playing devices, and real ZeroMQ subscribers."""
import fcntl
import json
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty

import pytest
import zmq

sys.path.insert(0, os.path.dirname(__file__))
import proto  # noqa: E402

BUILD = os.environ.get("MASSAGED_BUILD_DIR",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build"))
DAEMON = os.path.join(BUILD, "daemon", "massaged")


# MASSAGED_VALGRIND=1 runs every daemon the Daemon fixture starts under
# memcheck: any error (or definite leak) makes it exit 99, which fails the
# test's check of the exit status (docs/RELIABILITY.md).
VALGRIND = (["valgrind", "--error-exitcode=99", "--leak-check=full",
             "--errors-for-leak-kinds=definite", "--quiet"]
            if os.environ.get("MASSAGED_VALGRIND") == "1" else [])


def tool(name):
    return os.path.join(BUILD, "tools", name)


def run_daemon(*args):
    """Runs the daemon binary with args to its end; returns the finished
    process, its output as text."""
    return subprocess.run([DAEMON, *map(str, args)], capture_output=True, text=True, timeout=10)


def write_config(path, text):
    """Writes text to path (a pathlib.Path) with mode 0644: the daemon refuses
    a configuration or client list that others may write. Returns path."""
    path.write_text(text)
    path.chmod(0o644)
    return path


def free_port():
    """A loopback TCP port no one listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Subscriber:
    def __init__(self, endpoint, topics=("",)):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.RCVHWM, 1000000)
        for t in topics:
            self.sock.setsockopt_string(zmq.SUBSCRIBE, t)
        self.sock.connect(endpoint)

    def recv(self, timeout=5.0):
        if not self.sock.poll(int(timeout * 1000)):
            return None, None
        topic, payload = self.sock.recv_multipart()
        return topic.decode(), json.loads(payload)

    def wait_for(self, pred, timeout=10.0):
        """Receives until pred(topic, msg) is true; returns (topic, msg, skipped)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while time.monotonic() < deadline:
            topic, msg = self.recv(max(0.01, deadline - time.monotonic()))
            if topic is None:
                break
            if pred(topic, msg):
                return topic, msg, skipped
            skipped.append((topic, msg))
        raise AssertionError("timed out waiting; got %d other messages: %s" %
                             (len(skipped), [t for t, _ in skipped[-10:]]))

    def close(self):
        self.sock.close(linger=0)


def instrumented():
    """True when the binaries run under a sanitizer or valgrind, whose shadow
    memory and quarantines make resident memory meaningless as a leak test
    (they find leaks themselves)."""
    if os.environ.get("MASSAGED_VALGRIND") == "1":
        return True
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return any(line.startswith("MASSAGED_SANITIZE:") and line.strip().split("=", 1)[1]
                       for line in f)
    except OSError:
        return False


def npm_package(spec, exe):
    """An npm package (spec as `npm install` takes it, e.g.
    "bids-validator@1.15") installed once per machine into
    ~/.cache/massaged-npm/SPEC (XDG_CACHE_HOME is honoured), outside every
    build tree, so that the build trees of one machine (CI has three)
    download it once. Returns (path of node_modules/.bin/EXE, None), or
    (None, why) when node or npm is missing or the install fails. Tests run
    in parallel: one installs under a lock, into a temporary folder renamed
    into place whole."""
    if not shutil.which("node") or not shutil.which("npm"):
        return None, "node or npm missing"
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                         "massaged-npm")
    prefix = os.path.join(cache, spec)
    path = os.path.join(prefix, "node_modules", ".bin", exe)
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            work = tempfile.mkdtemp(dir=cache, prefix=".install-")
            r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", work,
                                spec], capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                shutil.rmtree(work, ignore_errors=True)
                return None, "npm install %s failed: %s" % (spec, r.stderr[-500:])
            shutil.rmtree(prefix, ignore_errors=True)  # a partial one, if any
            os.rename(work, prefix)
    return path, None


def skip_without_npm(why):
    """Skips a test whose npm package could not be had, with the reason; where
    the registry must be reachable (MASSAGED_REQUIRE_NPM=1, as CI sets) it
    fails instead."""
    if os.environ.get("MASSAGED_REQUIRE_NPM") == "1":
        pytest.fail("npm package required (MASSAGED_REQUIRE_NPM=1): " + why)
    pytest.skip(why)


def rss_kib(pid):
    """A process's resident memory (VmRSS), KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class Daemon:
    def __init__(self, tmp_path, devices=(), extra="", endpoint=None, env=None, args=(),
                 publish="", history=None):
        """publish: more key lines for the [publish] section; history: the
        [history] section's key lines (default: the database in tmp_path, so
        that no test ever writes the system's /var/lib/massaged)."""
        self.endpoint = endpoint or "ipc://%s/pub.sock" % tmp_path
        self.config = tmp_path / "massaged.ini"
        text = "[publish]\nendpoint = %s\nstatus_interval_ms = 200\n%s\n[log]\nlevel = debug\n\n" % (
            self.endpoint, publish)
        self.history_db = tmp_path / "history.db"
        if history is None:
            history = "db = %s\n" % self.history_db
        text += "[history]\n%s\n" % history
        text += extra
        for name, kind, port in devices:
            text += "[device.%s]\nkind = %s\nport = %s\n\n" % (name, kind, port)
        self.config.write_text(text)
        os.chmod(self.config, 0o644)
        self.log_path = tmp_path / "daemon.log"
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen([*VALGRIND, DAEMON, "--config", str(self.config), *args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=full_env)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")


class PtyDevice:
    """A device played by the test through a pty. The daemon opens `link`, a
    symlink to the pty's slave, so a replug can move it to a new pty."""

    def __init__(self, tmp_path, name="dev", kind=proto.BALL, rate_hz=1000, answer_hello=True,
                 hello_kwargs=None):
        self.link = str(tmp_path / ("%s.tty" % name))
        self.kind = kind
        self.rate_hz = rate_hz
        self.answer_hello = answer_hello
        self.hello_kwargs = dict(hello_kwargs or {})
        self.hello_kwargs.setdefault("kind", kind)
        self.hello_kwargs.setdefault("rate_hz", rate_hz)
        if kind == proto.SCRAPER:
            self.hello_kwargs.setdefault("p_scale", 0.001)
        self.seq = 0
        self.t_us = 0
        self.requests = 0
        self.hellos = 0  # HELLO frames sent (one per request answered)
        self.lock = threading.Lock()
        self.master = None
        self.plug()

    def plug(self):
        master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        path = os.ttyname(slave)
        os.close(slave)  # the daemon opens it by name; the master keeps it alive
        self.master = master
        tmp = self.link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(path, tmp)
        os.replace(tmp, self.link)
        self.stop_reader = False
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    def unplug(self):
        self.stop_reader = True
        os.unlink(self.link)
        with self.lock:
            os.close(self.master)
            self.master = None
        self.reader.join(2)

    def _read_loop(self):
        buf = bytearray()
        while not self.stop_reader:
            master = self.master
            if master is None:
                return
            try:
                import select
                r, _, _ = select.select([master], [], [], 0.05)
                if not r:
                    continue
                data = os.read(master, 4096)
            except OSError:
                time.sleep(0.05)  # no slave open yet: EIO until the daemon opens it
                continue
            buf += data
            for ftype, _seq, _t, _payload in proto.parse_frames(buf):
                if ftype == proto.HELLO_REQUEST:
                    self.requests += 1
                    if self.answer_hello:
                        self.send_hello()

    def write(self, data: bytes, timeout=5.0):
        """Writes all of data; raises TimeoutError when nobody reads the pty
        for timeout seconds (the master is non-blocking, so a test never
        hangs on a full pty)."""
        import select
        deadline = time.monotonic() + timeout
        with self.lock:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.master, view)
                    view = view[n:]
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError("pty %s: nobody reads" % self.link)
                    select.select([], [self.master], [], min(left, 0.05))

    def next_frame(self, ftype, payload, t_us=None):
        with self.lock:
            seq = self.seq
            self.seq = (self.seq + 1) & 0xFFFF
        return proto.frame(ftype, seq, self.t_us if t_us is None else t_us, payload)

    def send_hello(self, **overrides):
        kw = dict(self.hello_kwargs)
        kw.update(overrides)
        self.write(self.next_frame(proto.HELLO, proto.hello_payload(**kw)))
        self.hellos += 1

    def samples_frame(self, samples):
        """Builds the frame for samples (LSB tuples) at the current time and
        advances the device clock."""
        f = self.next_frame(proto.SAMPLES, proto.samples_payload(samples))
        self.t_us = (self.t_us + len(samples) * 1000000 // self.rate_hz) & 0xFFFFFFFF
        return f

    def send_samples(self, samples):
        self.write(self.samples_frame(samples))

    def start_heartbeat(self, period=0.3):
        """Sends a STATUS frame every period seconds, as a live device does,
        so the daemon's silence detector never fires while the test waits."""
        def beat():
            while not self.stop_reader:
                try:
                    if self.master is not None:
                        self.write(self.next_frame(proto.STATUS, proto.status_payload()), 0.2)
                except (OSError, TimeoutError):
                    pass
                time.sleep(period)
        threading.Thread(target=beat, daemon=True).start()

    def close(self):
        self.stop_reader = True
        with self.lock:
            if self.master is not None:
                os.close(self.master)
                self.master = None


def _factory(make_one, close):
    """A fixture's maker of objects, each closed when the test ends."""
    made = []

    def make(*args, **kwargs):
        obj = make_one(*args, **kwargs)
        made.append(obj)
        return obj
    yield make
    for obj in made:
        close(obj)


def _stop_if_running(d):
    if d.proc.poll() is None:
        d.stop(signal.SIGKILL)


@pytest.fixture
def subscriber_factory():
    yield from _factory(Subscriber, Subscriber.close)


@pytest.fixture
def daemon_factory(tmp_path):
    yield from _factory(lambda *a, **kw: Daemon(tmp_path, *a, **kw), _stop_if_running)


@pytest.fixture
def pty_factory(tmp_path):
    yield from _factory(lambda *a, **kw: PtyDevice(tmp_path, *a, **kw), PtyDevice.close)


def start_sim(kind, link, seed, *options):
    """Starts massaged-sim as one device of kind on a pty linked at link,
    quiet, with further options (--fast, --duration S, ...)."""
    return subprocess.Popen([tool("massaged-sim"), "--kind", kind, "--seed", str(seed),
                             "--link", str(link), "--quiet", *options],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# How long a test waits for a simulator to end its run. A passing run does
# not wait for it (the simulator is done by then); under qemu on a loaded
# machine (the arm64 stage) 240 s of --fast data took more than 10 s.
SIM_DONE_S = 60


def sim_done(proc):
    """Waits for a simulator started by start_sim to end; its exit status."""
    return proc.wait(SIM_DONE_S)


def events_until_disconnected(sub, names, timeout, poll=0.5):
    """Receives event.* messages until every device in names has published
    its disconnected event, or for timeout seconds. Returns the (topic,
    message) pairs in arrival order and the set of devices that ended."""
    events, ended = [], set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not set(names) <= ended:
        topic, msg = sub.recv(poll)
        if topic and topic.startswith("event."):
            events.append((topic, msg))
            if msg["type"] == "disconnected":
                ended.add(msg["device"])
    return events, ended


def wait_subscribed(sub, timeout=30.0):
    """Waits for the first status.daemon, proving the subscription is live.
    The bound is generous: it includes the daemon's start, which under
    valgrind on a loaded machine took over 5 s (it costs nothing when the
    daemon is quick)."""
    sub.wait_for(lambda t, m: t == "status.daemon", timeout)
