"""The daemon's lifecycle, command line and status.daemon, with the real binary
and a real ZeroMQ subscriber."""
import os
import signal
import subprocess
import time

from conftest import DAEMON, free_port, run_daemon, wait_subscribed, write_config


def test_help_and_version():
    out = run_daemon("--help")
    assert out.returncode == 0
    assert "--check-config" in out.stdout and "--config" in out.stdout
    out = run_daemon("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("massaged ")


def test_bad_usage_is_refused():
    out = run_daemon("--no-such-flag")
    assert out.returncode != 0
    out = run_daemon()
    assert out.returncode != 0


def test_check_config_reports_file_line_key(tmp_path):
    cfg = write_config(tmp_path / "bad.ini",
                       "[publish]\nendpoint = tcp://127.0.0.1:5556\nbogus = 1\n")
    out = run_daemon("--check-config", cfg)
    assert out.returncode != 0
    assert "%s:3:" % cfg in out.stderr and "bogus" in out.stderr


def test_check_config_accepts_example():
    import os
    example = os.path.join(os.path.dirname(__file__), "..", "..", "config",
                           "massaged.example.ini")
    out = run_daemon("--check-config", example)
    assert out.returncode == 0, out.stderr


def test_status_daemon_once_a_second_and_clean_sigterm(daemon_factory, subscriber_factory,
                                                       tmp_path):
    d = daemon_factory(extra="", endpoint="ipc://%s/s.sock" % tmp_path)
    # The default interval is one second; this daemon's config sets 200 ms for
    # the other tests, so check the period against the configured value.
    sub = subscriber_factory(d.endpoint, ["status.daemon"])
    wait_subscribed(sub)
    times = []
    for _ in range(5):
        topic, msg = sub.recv(2.0)
        assert topic == "status.daemon"
        assert msg["v"] == 1
        assert msg["version"]
        assert msg["uptime_s"] >= 0
        assert msg["devices"] == []
        times.append(msg["t_host"])
    periods = [b - a for a, b in zip(times, times[1:])]
    assert all(0.1 < p < 0.5 for p in periods), periods
    assert d.stop(signal.SIGTERM) == 0
    assert "stopping" in d.log_text()


def test_sigint_exits_zero(daemon_factory, subscriber_factory):
    d = daemon_factory()
    sub = subscriber_factory(d.endpoint, ["status.daemon"])
    wait_subscribed(sub)
    assert d.stop(signal.SIGINT) == 0


def test_default_interval_is_one_second_on_loopback_tcp(tmp_path, subscriber_factory):
    port = free_port()
    cfg = write_config(tmp_path / "m.ini",
                       "[publish]\nendpoint = tcp://127.0.0.1:%d\n[history]\ndb =\n" % port)
    proc = subprocess.Popen([DAEMON, "--config", str(cfg)], stderr=subprocess.PIPE)
    try:
        sub = subscriber_factory("tcp://127.0.0.1:%d" % port, ["status.daemon"])
        wait_subscribed(sub)
        t0 = time.monotonic()
        first = sub.recv(3.0)[1]
        second = sub.recv(3.0)[1]
        assert 0.8 < second["t_host"] - first["t_host"] < 1.2
        assert time.monotonic() - t0 < 3.0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_bind_failure_is_reported(tmp_path):
    cfg = write_config(tmp_path / "m.ini",
                       "[publish]\nendpoint = ipc:///nonexistent-dir/x/pub.sock\n[history]\ndb =\n")
    out = run_daemon("--config", cfg)
    assert out.returncode != 0
    assert "cannot bind" in out.stderr


class NotifySocket:
    """The datagram socket systemd gives a Type=notify service, played by the
    test: NOTIFY_SOCKET names it, the daemon sends it its state."""

    def __init__(self, tmp_path, abstract=False):
        import socket
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "massaged-test-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = str(tmp_path / "notify.sock")
            self.sock.bind(self.address)

    def messages(self, until, timeout=10.0):
        """Receives datagrams until one contains `until`; returns them all."""
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                got.append(self.sock.recv(4096).decode())
            except OSError:
                break
            if until in got[-1]:
                return got
        raise AssertionError("no %r from the daemon; got %r" % (until, got))


def test_systemd_notify_ready_reloading_stopping(tmp_path, daemon_factory, subscriber_factory):
    ns = NotifySocket(tmp_path)
    d = daemon_factory(env={"NOTIFY_SOCKET": ns.address})
    first = ns.messages("READY=1")
    assert first[-1].split("\n")[0] == "READY=1"
    # READY comes once the publisher is bound: a subscriber now gets status.
    sub = subscriber_factory(d.endpoint)
    wait_subscribed(sub)
    d.proc.send_signal(signal.SIGHUP)
    reload = ns.messages("READY=1")
    assert reload[0].startswith("RELOADING=1") and "READY=1" in reload[-1]
    assert d.stop() == 0
    assert any(m.startswith("STOPPING=1") for m in ns.messages("STOPPING=1"))


def test_systemd_notify_abstract_socket_and_watchdog(tmp_path, daemon_factory):
    ns = NotifySocket(tmp_path, abstract=True)
    d = daemon_factory(env={"NOTIFY_SOCKET": ns.address, "WATCHDOG_USEC": "2000000"})
    ns.messages("READY=1")
    t0 = time.monotonic()
    pings = [m for m in ns.messages("WATCHDOG=1") if m == "WATCHDOG=1"]
    pings += [m for m in ns.messages("WATCHDOG=1") if m == "WATCHDOG=1"]
    # One ping per status tick (200 ms in the tests' configuration).
    assert len(pings) == 2 and time.monotonic() - t0 < 1.5
    assert d.stop() == 0


def test_systemd_watchdog_for_another_pid_is_not_ours(tmp_path, daemon_factory):
    ns = NotifySocket(tmp_path)
    d = daemon_factory(env={"NOTIFY_SOCKET": ns.address, "WATCHDOG_USEC": "2000000",
                            "WATCHDOG_PID": "1"})
    ns.messages("READY=1")
    time.sleep(1.0)  # five status ticks
    assert d.stop() == 0
    rest = ns.messages("STOPPING=1")
    assert not any("WATCHDOG=1" in m for m in rest), rest
