"""The Debian package, for real: builds it with cpack from MASSAGED_BUILD_DIR,
installs it into this system with dpkg, checks the installed layout, runs the
installed daemon on a copy of the installed configuration against two
installed simulators (ball and scraper on ptys) and checks it publishes their
samples, verifies the installed unit, then purges the package again.

Needs root and changes the system: registered with ctest only with
-DMASSAGED_PACKAGE_TEST=ON (label `package`; CI runs it on a throwaway
machine). Works for a cross-built arm64 package too, with the arm64 shared
libraries installed through multiarch and cmake/qemu-python on PYTHONPATH."""
import glob
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import BUILD, Subscriber, sim_done

INSTALLED = [
    "/usr/sbin/massaged",
    "/usr/bin/massaged-sim",
    "/usr/bin/massaged-sub",
    "/usr/bin/massaged-history",
    "/lib/systemd/system/massaged.service",
    "/lib/udev/rules.d/60-massaged.rules",
    "/etc/massaged/massaged.ini",
    "/usr/share/doc/massaged/massaged.example.ini",
    "/usr/share/man/man8/massaged.8",
    "/usr/share/man/man5/massaged.ini.5",
]


def run(cmd, **kw):
    kw.setdefault("timeout", 300)
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert out.returncode == 0, "%s: exit %d\n%s%s" % (" ".join(cmd), out.returncode,
                                                       out.stdout, out.stderr)
    return out.stdout


def installed():
    out = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", "massaged"],
                         capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.strip() not in ("", "not-installed")


@pytest.fixture(scope="module")
def deb():
    assert os.geteuid() == 0, "installs a package: run as root (CI), see tests/e2e/test_package.py"
    assert not installed(), "a massaged package is already installed; remove it first"
    for old in glob.glob(os.path.join(BUILD, "massaged_*.deb")):
        os.unlink(old)
    run(["cpack", "-G", "DEB"], cwd=BUILD)
    debs = glob.glob(os.path.join(BUILD, "massaged_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


@pytest.fixture(scope="module")
def package(deb):
    run(["dpkg", "-i", deb])
    try:
        yield deb
    finally:
        subprocess.run(["dpkg", "--purge", "massaged"], capture_output=True)


def test_control_fields(deb):
    fields = run(["dpkg-deb", "-f", deb, "Package", "Architecture", "Depends", "Section"])
    arch = re.search(r"^Architecture: (\S+)", fields, re.M).group(1)
    with open(os.path.join(BUILD, "daemon", "massaged"), "rb") as f:
        machine = int.from_bytes(f.read(20)[18:20], "little")  # ELF e_machine
    assert arch == {62: "amd64", 183: "arm64"}.get(machine), (arch, machine)
    depends = re.search(r"^Depends: (.*)$", fields, re.M).group(1)
    # computed by dpkg-shlibdeps from the binaries, with versions
    for lib in ("libc6 (>=", "libzmq5", "libserialport0", "libinih1", "libkissfft-float"):
        assert lib in depends, (lib, depends)
    assert "conffiles" in run(["dpkg-deb", "-I", deb])


def test_installed_layout(package):
    for path in INSTALLED:
        assert os.path.exists(path), path
    assert os.access("/usr/sbin/massaged", os.X_OK)
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "massaged"])
    assert "/etc/massaged/massaged.ini" in conffiles
    mode = os.stat("/etc/massaged/massaged.ini").st_mode & 0o777
    assert mode & 0o002 == 0, oct(mode)  # the daemon refuses a world-writable file
    out = run(["/usr/sbin/massaged", "--check-config", "/etc/massaged/massaged.ini"])
    assert "valid" in out
    unit = open("/lib/systemd/system/massaged.service").read()
    assert "ExecStart=/usr/sbin/massaged --config /etc/massaged/massaged.ini" in unit
    text = open("/etc/massaged/massaged.ini").read()
    assert "\ndir = /var/lib/massaged/recordings\n" in text


def test_installed_unit_verifies(package):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    out = subprocess.run(["systemd-analyze", "verify", "/lib/systemd/system/massaged.service"],
                         capture_output=True, text=True, timeout=60)
    # With the package installed, nothing about the unit may be reported:
    # the binary, its man pages and every directive must be found.
    problems = [line for line in (out.stdout + out.stderr).splitlines()
                if "massaged" in line and "man:" not in line]
    if os.path.isdir("/usr/share/man/man8") and shutil.which("man"):
        problems += [line for line in (out.stdout + out.stderr).splitlines() if "man:" in line]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr


def test_installed_daemon_publishes_simulated_tools(package, tmp_path):
    sims = []
    try:
        links = {}
        for kind in ("ball", "scraper"):
            link = str(tmp_path / ("%s.tty" % kind))
            sims.append(subprocess.Popen(["/usr/bin/massaged-sim", "--kind", kind, "--seed", "7",
                                          "--link", link, "--quiet"],
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            links[kind] = link
        for sim in sims:
            assert sim.stdout.readline().startswith(b"/dev/pts/"), "simulator printed no pty"

        # The installed configuration, with the devices on the simulators'
        # ptys and the publisher on a socket of the test's own.
        endpoint = "ipc://%s/pub.sock" % tmp_path
        text = open("/etc/massaged/massaged.ini").read()
        text, n = re.subn(r"(?m)^endpoint = .*$", "endpoint = " + endpoint, text)
        assert n == 1
        text = re.sub(r"(?m)^status_interval_ms = .*$", "status_interval_ms = 200", text)
        text = re.sub(r"(?m)^dir = .*$", "dir = %s" % (tmp_path / "rec"), text)
        # The history too, never the system's /var/lib/massaged.
        text, n = re.subn(r"(?m)^db = .*$", "db = %s" % (tmp_path / "history.db"), text)
        assert n == 1
        for kind, link in links.items():
            text, n = re.subn(r"(?ms)(^\[device\.%s\]\n.*?^port = )auto$" % kind,
                              r"\g<1>" + link, text)
            assert n == 1, kind
        config = tmp_path / "massaged.ini"
        config.write_text(text)
        os.chmod(config, 0o644)
        (tmp_path / "rec").mkdir()

        sub = Subscriber(endpoint)
        log = open(tmp_path / "daemon.log", "wb")
        daemon = subprocess.Popen(["/usr/sbin/massaged", "--config", str(config)],
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            seen = set()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and seen != {"raw.ball", "raw.scraper"}:
                topic, msg = sub.recv(1.0)
                if topic in ("raw.ball", "raw.scraper") and msg:
                    seen.add(topic)
            assert seen == {"raw.ball", "raw.scraper"}, (seen, (tmp_path / "daemon.log").read_text())
            daemon.terminate()
            assert daemon.wait(20) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
            sub.close()
            log.close()
    finally:
        for sim in sims:
            sim.terminate()
            sim_done(sim)


def test_purge_leaves_nothing(deb):
    # Runs last (file order): installs once more, then purges, and checks
    # that the files, the conffile and the service's enablement are gone.
    if not installed():
        run(["dpkg", "-i", deb])
    run(["dpkg", "--purge", "massaged"])
    assert not installed()
    for path in INSTALLED:
        assert not os.path.exists(path), path
    assert not glob.glob("/etc/systemd/system/*/massaged.service")
