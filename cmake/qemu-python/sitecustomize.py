"""Runs foreign-architecture executables started from Python through an
emulator, as binfmt_misc would: the arm64 CI stage puts this directory on
PYTHONPATH so that the end-to-end tests, which start build/daemon/massaged
and build/tools/* directly, run the cross-built binaries under qemu-user
without any change to the tests.

MASSAGED_EXEC_WRAPPER is the emulator command ("qemu-aarch64-static -L
/usr/aarch64-linux-gnu"); it is prepended to a command whose program is an
ELF file for another machine than the interpreter's. So is a foreign
executable run through a launcher (unshare, env, timeout...) or named by an
absolute path in a `sh -c` command. Everything else (the host's python3,
socat) starts unchanged. Without the variable this module
does nothing."""
import os
import platform
import re
import shlex
import subprocess

_WRAPPER = shlex.split(os.environ.get("MASSAGED_EXEC_WRAPPER", ""))
# ELF e_machine values of the interpreter's own architecture.
_NATIVE = {"x86_64": (62,), "aarch64": (183,), "armv7l": (40,), "i686": (3,)}.get(
    platform.machine(), ())


def _foreign(path):
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return False
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return False
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return machine not in _NATIVE


# Programs that run the rest of their command line: the command they run is
# looked at in turn (unshare -n sh -c "exec .../massaged ...").
_LAUNCHERS = {"unshare", "env", "setsid", "nice", "stdbuf", "timeout", "chrt", "taskset"}
_SHELLS = {"sh", "bash", "dash"}


def _wrap_shell(command):
    """Prefixes the wrapper to each absolute path in a shell command that names
    a foreign executable."""
    def sub(m):
        return " ".join(map(shlex.quote, _WRAPPER)) + " " + m.group(0) \
            if _foreign(m.group(0)) else m.group(0)
    return re.sub(r"(?<![\w/.-])/[\w./+-]+", sub, command)


def _script_for(path):
    """A shell script that runs path through the wrapper, for a foreign
    executable passed as a shell's positional argument (sh -c 'exec "$0"' P)."""
    import hashlib
    import tempfile
    d = os.path.join(tempfile.gettempdir(), "massaged-exec-wrapper-%d" % os.getuid())
    os.makedirs(d, exist_ok=True)
    script = os.path.join(d, hashlib.sha1(path.encode()).hexdigest()[:16])
    text = "#!/bin/sh\nexec %s %s \"$@\"\n" % (" ".join(map(shlex.quote, _WRAPPER)),
                                               shlex.quote(os.path.abspath(path)))
    tmp = "%s.%d" % (script, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, script)
    return script


def _wrap(args):
    if isinstance(args, (str, bytes, os.PathLike)):
        return args  # a shell string or a bare program: left alone
    args = [os.fspath(a) if isinstance(a, os.PathLike) else a for a in args]
    if not args or not isinstance(args[0], str):
        return args
    if _foreign(args[0]):
        return _WRAPPER + args
    name = os.path.basename(args[0])
    if name in _SHELLS and "-c" in args[1:-1]:
        i = args.index("-c") + 1
        rest = [_script_for(a) if _foreign(a) else a for a in args[i + 1:]]
        return args[:i] + [_wrap_shell(args[i])] + rest
    if name in _LAUNCHERS:
        i = 1
        while i < len(args) and (args[i].startswith("-") or "=" in args[i]):
            i += 1
        if name == "timeout":
            i += 1  # the duration
        return args[:i] + _wrap(args[i:])
    return args


if _WRAPPER:
    _popen_init = subprocess.Popen.__init__

    def _init(self, args, *rest, **kwargs):
        _popen_init(self, _wrap(args), *rest, **kwargs)

    subprocess.Popen.__init__ = _init
