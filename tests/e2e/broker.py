"""A real Mosquitto broker for the MQTT tests and the fleet benchmark: Debian's
`mosquitto` started on free loopback ports with a password file, an ACL that
lets each site write only under massaged/<site>/, persistence, and a TLS
listener whose certificate comes from a test CA made with openssl. Also a
subscriber (Debian's `mosquitto_sub`, a client we did not write) that keeps
a persistent session, so what is published while it is away waits for it."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

ADMIN, ADMIN_PASSWORD = "admin", "admin-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def site_password(site):
    return "pw-" + site


def make_ca(directory, name):
    """A CA (name.crt, name.key) and a server certificate it signs for
    localhost and 127.0.0.1 (name-server.crt, name-server.key)."""
    d = str(directory)
    run = lambda *a: subprocess.run(a, check=True, cwd=d, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", name + ".key", "-out", name + ".crt", "-subj", "/CN=massaged test CA " + name)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + "-server.key",
        "-out", name + "-server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, name + "-ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", name + "-server.csr", "-CA", name + ".crt",
        "-CAkey", name + ".key", "-CAcreateserial", "-days", "2",
        "-extfile", name + "-ext.cnf", "-out", name + "-server.crt")
    return os.path.join(d, name + ".crt")


class Broker:
    def __init__(self, directory, sites, tls=False):
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.ca = make_ca(self.dir, "ca") if tls else None
        pw = os.path.join(self.dir, "passwd")
        subprocess.run(["mosquitto_passwd", "-c", "-b", pw, ADMIN, ADMIN_PASSWORD], check=True,
                       capture_output=True)
        for site in sites:
            subprocess.run(["mosquitto_passwd", "-b", pw, site, site_password(site)],
                           check=True, capture_output=True)
        acl = os.path.join(self.dir, "acl")
        with open(acl, "w") as f:
            f.write("user %s\ntopic readwrite #\n\n" % ADMIN)
            # Each site logs in with its own name and may write only its own
            # subtree, and its Home Assistant discovery messages.
            f.write("pattern write massaged/%u/#\npattern write homeassistant/+/%u/#\n")
        persist = os.path.join(self.dir, "persist") + "/"
        os.makedirs(persist, exist_ok=True)
        conf = ["per_listener_settings false", "allow_anonymous false",
                "password_file " + pw, "acl_file " + acl,
                "persistence true", "persistence_location " + persist,
                "autosave_interval 1", "max_queued_messages 1000000",
                "log_dest file " + os.path.join(self.dir, "mosquitto.log"),
                "log_type all", "listener %d 127.0.0.1" % self.port]
        if os.getuid() == 0:
            conf.insert(0, "user root")
        if tls:
            conf += ["listener %d 127.0.0.1" % self.tls_port, "cafile " + self.ca,
                     "certfile " + os.path.join(self.dir, "ca-server.crt"),
                     "keyfile " + os.path.join(self.dir, "ca-server.key")]
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError("mosquitto exited: %s" % self.log())
                time.sleep(0.05)
        raise AssertionError("mosquitto does not listen on %d" % self.port)

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.kill(signal.SIGTERM)

    def log(self):
        try:
            with open(os.path.join(self.dir, "mosquitto.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def url(self, tls=False):
        return "mqtts://localhost:%d" % self.tls_port if tls else "mqtt://127.0.0.1:%d" % self.port

    def config(self, site, tls=False, password=None, **keys):
        """The [mqtt] section of a daemon publishing as site; writes the
        password file next to the broker's files."""
        pw_file = os.path.join(self.dir, "password-" + site)
        with open(pw_file, "w") as f:
            f.write((password or site_password(site)) + "\n")
        os.chmod(pw_file, 0o600)
        lines = {"broker": self.url(tls), "site": site, "username": site,
                 "password_file": pw_file, "reconnect_max_s": 1}
        if tls:
            lines["ca_file"] = self.ca
        lines.update(keys)
        return "[mqtt]\n" + "".join("%s = %s\n" % kv for kv in lines.items()) + "\n"


class MqttSubscriber:
    """mosquitto_sub as the admin with a persistent session (clean session
    off, QoS 1), writing one line per message: topic, tab, payload."""

    def __init__(self, broker, topics=("massaged/#", "homeassistant/#"), client_id="test-sub"):
        self.out = os.path.join(broker.dir, client_id + ".out")
        args = [a for t in topics for a in ("-t", t)]
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", ADMIN,
             "-P", ADMIN_PASSWORD, "-i", client_id, "-c", "-q", "1", *args,
             "-F", "%t\t%p"], stdout=open(self.out, "w"), stderr=subprocess.STDOUT)
        self.lock = threading.Lock()

    def messages(self):
        """Every (topic, payload) received so far, in arrival order; payloads
        that are JSON are decoded."""
        out = []
        with open(self.out, errors="replace") as f:
            for line in f.read().splitlines():
                topic, _, payload = line.partition("\t")
                if not topic.startswith(("massaged/", "homeassistant/")):
                    continue
                try:
                    out.append((topic, json.loads(payload)))
                except ValueError:
                    out.append((topic, payload))
        return out

    def wait_for(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [m for m in self.messages() if pred(*m)]
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError("timed out; last messages: %s" % self.messages()[-5:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def unique_events(messages, prefix="massaged/"):
    """Events as published on ZeroMQ (topic event.<device>.<type>, payload),
    in arrival order, with QoS 1 duplicates (same device and id and phase
    and type) removed."""
    seen, out = set(), []
    for topic, msg in messages:
        parts = topic.split("/")
        if len(parts) != 5 or parts[3] != "event" or not topic.startswith(prefix):
            continue
        key = (parts[1], msg["device"], msg["id"], msg["type"], msg["phase"])
        if key in seen:
            continue
        seen.add(key)
        out.append(("event.%s.%s" % (parts[2], parts[4]), msg))
    return out
