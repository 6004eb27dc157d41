"""The daemon's lifecycle, command line and status.daemon, with the real binary
and a real ZeroMQ subscriber."""
import signal
import subprocess
import time

from conftest import DAEMON, wait_subscribed


def test_help_and_version():
    out = subprocess.run([DAEMON, "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert "--check-config" in out.stdout and "--config" in out.stdout
    out = subprocess.run([DAEMON, "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert out.stdout.startswith("massaged ")


def test_bad_usage_is_refused():
    out = subprocess.run([DAEMON, "--no-such-flag"], capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    out = subprocess.run([DAEMON], capture_output=True, text=True, timeout=10)
    assert out.returncode != 0


def test_check_config_reports_file_line_key(tmp_path):
    cfg = tmp_path / "bad.ini"
    cfg.write_text("[publish]\nendpoint = tcp://127.0.0.1:5556\nbogus = 1\n")
    cfg.chmod(0o644)
    out = subprocess.run([DAEMON, "--check-config", str(cfg)], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode != 0
    assert "%s:3:" % cfg in out.stderr and "bogus" in out.stderr


def test_check_config_accepts_example():
    import os
    example = os.path.join(os.path.dirname(__file__), "..", "..", "config",
                           "massaged.example.ini")
    out = subprocess.run([DAEMON, "--check-config", example], capture_output=True, text=True,
                         timeout=10)
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
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = tmp_path / "m.ini"
    cfg.write_text("[publish]\nendpoint = tcp://127.0.0.1:%d\n" % port)
    cfg.chmod(0o644)
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
    cfg = tmp_path / "m.ini"
    cfg.write_text("[publish]\nendpoint = ipc:///nonexistent-dir/x/pub.sock\n")
    cfg.chmod(0o644)
    out = subprocess.run([DAEMON, "--config", str(cfg)], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode != 0
    assert "cannot bind" in out.stderr
