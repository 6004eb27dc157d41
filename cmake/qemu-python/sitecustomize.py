"""Runs foreign-architecture executables started from Python through an
emulator, as binfmt_misc would: the arm64 CI stage puts this directory on
PYTHONPATH so that the end-to-end tests, which start build/daemon/massaged
and build/tools/* directly, run the cross-built binaries under qemu-user
without any change to the tests.

MASSAGED_EXEC_WRAPPER is the emulator command ("qemu-aarch64-static -L
/usr/aarch64-linux-gnu"); it is prepended to a command whose program is an
ELF file for another machine than the interpreter's. Everything else (the
host's python3, socat) starts unchanged. Without the variable this module
does nothing."""
import os
import platform
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


def _wrap(args):
    if isinstance(args, (str, bytes, os.PathLike)):
        return args  # a shell string or a bare program: left alone
    args = list(args)
    if args and _foreign(os.fspath(args[0])):
        return _WRAPPER + args
    return args


if _WRAPPER:
    _popen_init = subprocess.Popen.__init__

    def _init(self, args, *rest, **kwargs):
        _popen_init(self, _wrap(args), *rest, **kwargs)

    subprocess.Popen.__init__ = _init
