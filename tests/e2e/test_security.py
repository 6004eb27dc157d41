"""Exposure (docs/SECURITY.md): the publisher binds loopback by default; with
CURVE only subscribers on the allow-list get anything; configuration and key
files others could change or read are refused."""
import os
import signal
import subprocess
import time

import pytest
import zmq

from conftest import DAEMON, free_port, run_daemon, tool, wait_subscribed, write_config


def listening_sockets(pid):
    """(local address hex, port) of every listening TCP socket in the
    network namespace of pid, from /proc/PID/net/tcp{,6}."""
    out = []
    for name in ("tcp", "tcp6"):
        with open("/proc/%d/net/%s" % (pid, name)) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                addr, port = fields[1].split(":")
                if fields[3] == "0A":  # TCP_LISTEN
                    out.append((addr, int(port, 16)))
    return out


def test_default_endpoint_binds_loopback_only(tmp_path):
    """With no endpoint configured, the one listening socket is 127.0.0.1:5556.
    The daemon runs in a network namespace of its own (unshare -n) so that the
    fixed default port never meets another process's."""
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n not permitted here (needs root or user namespaces)")
    # no [publish]: every default (but no history in the system's /var/lib)
    cfg = write_config(tmp_path / "m.ini", "[log]\nlevel = info\n[history]\ndb =\n")
    proc = subprocess.Popen(["unshare", "-n", "sh", "-c",
                             'ip link set lo up && exec "$0" --config "$1"', DAEMON, str(cfg)],
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        socks = []
        while time.monotonic() < deadline and not socks:
            time.sleep(0.1)
            assert proc.poll() is None, proc.stderr.read()
            socks = listening_sockets(proc.pid)
        assert socks == [("0100007F", 5556)], socks  # 127.0.0.1, little-endian hex
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def check_config(path):
    out = run_daemon("--check-config", path)
    return out.returncode, out.stdout + out.stderr


def test_world_writable_configuration_is_refused(tmp_path):
    cfg = write_config(tmp_path / "m.ini", "[publish]\nendpoint = tcp://127.0.0.1:5556\n")
    assert check_config(cfg)[0] == 0
    cfg.chmod(0o646)
    rc, text = check_config(cfg)
    assert rc != 0
    assert "%s: refused: anyone may write this file (mode 0646)" % cfg in text
    # ... and the daemon will not start on it either.
    out = run_daemon("--config", cfg)
    assert out.returncode != 0 and "refused" in out.stderr


def make_keys(tmp_path, name):
    """A key pair made by massaged-keygen: (secret file, public key)."""
    path = tmp_path / (name + ".key")
    out = subprocess.run([tool("massaged-keygen"), str(path)], capture_output=True, text=True,
                         timeout=10, check=True)
    public = out.stdout.strip()
    assert len(public) == 40
    assert (path.stat().st_mode & 0o777) == 0o600
    return path, public


def secret_of(path):
    return [line for line in path.read_text().splitlines() if not line.startswith("# ")][0]


def test_keygen_refuses_to_overwrite(tmp_path):
    path, _ = make_keys(tmp_path, "k")
    before = path.read_text()
    out = subprocess.run([tool("massaged-keygen"), str(path)], capture_output=True, text=True)
    assert out.returncode != 0 and "--force" in out.stderr
    assert path.read_text() == before


def test_curve_key_files_are_checked(tmp_path):
    server, _ = make_keys(tmp_path, "server")
    _, client_public = make_keys(tmp_path, "client")
    clients = write_config(tmp_path / "clients",
                           "# allowed subscribers\n%s dashboard\n" % client_public)
    cfg = tmp_path / "m.ini"

    def config(secret_line, clients_line):
        write_config(cfg, "[publish]\nendpoint = tcp://127.0.0.1:5556\n%s%s" %
                     (secret_line, clients_line))
        return check_config(cfg)

    secret_line = "curve_secret_key_file = %s\n" % server
    clients_line = "curve_clients_file = %s\n" % clients
    assert config(secret_line, clients_line)[0] == 0
    rc, text = config(secret_line, "")
    assert rc != 0 and "[publish] curve_clients_file: missing" in text
    server.chmod(0o640)
    rc, text = config(secret_line, clients_line)
    assert rc != 0 and "%s:3: [publish] curve_secret_key_file: refused: group or others may " \
        "access the secret key" % cfg in text
    server.chmod(0o600)
    clients.chmod(0o666)
    rc, text = config(secret_line, clients_line)
    assert rc != 0 and "curve_clients_file: refused: anyone may write" in text
    clients.chmod(0o644)
    clients.write_text("%s\nnot-a-key\n" % client_public)
    rc, text = config(secret_line, clients_line)
    assert rc != 0 and "%s:2: not a 40-character Z85 CURVE key" % clients in text


def curve_subscriber(endpoint, server_public, public=None, secret=None):
    s = zmq.Context.instance().socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    if public is not None:
        s.curve_serverkey = server_public.encode()
        s.curve_publickey = public.encode()
        s.curve_secretkey = secret.encode()
    s.setsockopt_string(zmq.SUBSCRIBE, "")
    s.connect(endpoint)
    return s


def test_curve_admits_only_the_allow_list(tmp_path):
    server, server_public = make_keys(tmp_path, "server")
    client, client_public = make_keys(tmp_path, "client")
    clients = write_config(tmp_path / "clients", "%s\n" % client_public)
    endpoint = "tcp://127.0.0.1:%d" % free_port()
    cfg = write_config(tmp_path / "m.ini",
                       "[history]\ndb =\n[publish]\nendpoint = %s\nstatus_interval_ms = 100\n"
                       "curve_secret_key_file = %s\ncurve_clients_file = %s\n" %
                       (endpoint, server, clients))
    proc = subprocess.Popen([DAEMON, "--config", str(cfg)], stderr=subprocess.PIPE)
    socks = []
    try:
        stranger_public, stranger_secret = (k.decode() for k in zmq.curve_keypair())
        good = curve_subscriber(endpoint, server_public, client_public, secret_of(client))
        wrong = curve_subscriber(endpoint, server_public, stranger_public, stranger_secret)
        plain = curve_subscriber(endpoint, server_public)
        # A client that knows the allowed public key but not its secret.
        thief = curve_subscriber(endpoint, server_public, client_public, stranger_secret)
        socks = [good, wrong, plain, thief]
        assert good.poll(5000), "the allowed subscriber gets status.daemon"
        topic, payload = good.recv_multipart()
        assert topic == b"status.daemon"
        time.sleep(1.0)  # ten more status periods
        assert good.poll(0)
        for s in (wrong, plain, thief):
            assert not s.poll(0), "a subscriber off the allow-list got a message"
    finally:
        for s in socks:
            s.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    log = proc.stderr.read().decode()
    assert "CURVE on, server public key %s, 1 client key allowed" % server_public in log
    assert "refused a CURVE client not on the allow-list" in log
