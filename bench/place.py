"""What the Python benchmarks share (bench/fleet.py, bench/history.py,
bench/memory.py): a treatment place, that is a simulated tool of each kind
asked for (massaged-sim on a pseudo-terminal, in real time unless told
otherwise) and a daemon reading them; a process's memory; waiting for a
condition; and the command line's --build and --seconds.
"""
import argparse
import json
import os
import signal
import subprocess
import time

import zmq

here = os.path.dirname(os.path.abspath(__file__))


def arguments(seconds, build=True):
    """An argument parser with --seconds (default seconds) and, unless build
    is False, --build (default: the build directory beside bench/)."""
    ap = argparse.ArgumentParser()
    if build:
        ap.add_argument("--build", default=os.path.join(here, "..", "build"))
    ap.add_argument("--seconds", type=float, default=seconds)
    return ap


def memory_kib(pid):
    """(VmRSS, VmHWM) in KiB."""
    got = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                got[key] = int(line.split()[1])
    return got["VmRSS"], got["VmHWM"]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for " + what)
        time.sleep(0.05)


class Place:
    """A simulated tool of each kind in seeds ({kind: seed}) and the daemon of
    build reading them, in root/name, publishing on its own ipc endpoint.
    config: the daemon's configuration besides [publish] endpoint and the
    devices; sim_args: more of massaged-sim's options."""

    def __init__(self, build, root, name, seeds, config="", sim_args=()):
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.endpoint = "ipc://%s/pub.sock" % self.dir
        sim = os.path.join(build, "tools", "massaged-sim")
        self.sims, devices = [], ""
        for kind in sorted(seeds):
            link = os.path.join(self.dir, kind + ".tty")
            self.sims.append(subprocess.Popen(
                [sim, "--kind", kind, "--seed", str(seeds[kind]), "--link", link, "--quiet",
                 *sim_args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            devices += "[device.%s]\nkind = %s\nport = %s\n\n" % (kind, kind, link)
        path = os.path.join(self.dir, "massaged.ini")
        with open(path, "w") as f:
            f.write("[publish]\nendpoint = %s\n\n%s%s" % (self.endpoint, config, devices))
        os.chmod(path, 0o644)
        wait_for(lambda: all(os.path.exists(os.path.join(self.dir, k + ".tty")) for k in seeds),
                 10, "simulator links")
        self.log = open(os.path.join(self.dir, "daemon.log"), "wb")
        self.proc = subprocess.Popen([os.path.join(build, "daemon", "massaged"), "--config",
                                      path], stdout=self.log, stderr=subprocess.STDOUT)

    def status(self, timeout=5.0):
        """The daemon's next status message, or None."""
        ctx = zmq.Context.instance()
        s = ctx.socket(zmq.SUB)
        s.setsockopt_string(zmq.SUBSCRIBE, "status.daemon")
        s.connect(self.endpoint)
        try:
            if s.poll(int(timeout * 1000)):
                return json.loads(s.recv_multipart()[1])
            return None
        finally:
            s.close(linger=0)

    def stop(self):
        """Stops the daemon (SIGTERM, unless it has ended), then the
        simulators; returns the daemon's exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(20)
        for s in self.sims:
            if s.poll() is None:
                s.terminate()
                s.wait(10)
        if not self.log.closed:
            self.log.close()
        return rc
