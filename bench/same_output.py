"""Capture helpers of bench/same_output.sh (run with Debian's /usr/bin/python3).

    same_output.py pty OUT -- SIMULATOR... --link PATH ...
        starts the simulator, opens the pseudo-terminal behind PATH in raw mode
        and writes every byte the simulated device sends to OUT
    same_output.py sub ENDPOINT OUT -- PROGRAM...
        subscribes to ENDPOINT, starts PROGRAM (which publishes there) and
        writes every message it publishes to OUT, one "topic payload" line each
    same_output.py xdf OUT FILE...
        writes what a recording holds that does not depend on when it was made:
        each stream's header without its creation time, host, uid and clock
        offsets; every device sample's values; every event without t_host,
        sorted (two devices' events interleave in the order of host time)
"""
import os
import re
import subprocess
import sys
import termios
import time
import tty

HERE = os.path.dirname(os.path.abspath(__file__))


def split_command(args):
    i = args.index("--")
    return args[:i], args[i + 1:]


def capture_pty(args):
    (out_path,), cmd = split_command(args)
    link = cmd[cmd.index("--link") + 1]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not os.path.exists(link):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("simulator did not create %s" % link)
        time.sleep(0.01)
    fd = os.open(link, os.O_RDONLY | os.O_NOCTTY)
    tty.setraw(fd, termios.TCSANOW)
    with open(out_path, "wb") as out:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the simulator closed its side
                break
            if not chunk:
                break
            out.write(chunk)
    os.close(fd)
    if proc.wait() != 0:
        sys.exit("simulator failed: %d" % proc.returncode)


def capture_sub(args):
    (endpoint, out_path), cmd = split_command(args)
    import zmq
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    n = 0
    with open(out_path, "wb") as out:
        while True:
            if sub.poll(1000 if proc.poll() is not None else 200):
                parts = sub.recv_multipart()
                out.write(b" ".join(parts) + b"\n")
                n += 1
            elif proc.poll() is not None:
                break
    sub.close(0)
    ctx.term()
    if proc.returncode != 0:
        sys.exit("publisher failed: %d" % proc.returncode)
    if n == 0:
        sys.exit("no message received from %s" % " ".join(cmd))


# Header fields that say when and where a recording was made, not what it holds.
VOLATILE = re.compile(r"<(created_at|uid|hostname|session_id|first_timestamp|"
                      r"last_timestamp|clock_offsets)>.*?</\1>", re.S)


def dump_xdf(args):
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
    import xdf_strict
    out_path, files = args[0], args[1:]
    _, streams = xdf_strict.read_session(files)
    with open(out_path, "w") as out:
        for name in sorted(streams):
            s = streams[name]
            out.write("stream %s\n%s\n" % (s.name, VOLATILE.sub("", s.xml)))
            if s.format == "string":
                # The devices' events interleave in the order of host time: sorted.
                events = [re.sub(r'"t_host":[-0-9.eE+]+,?', "", str(v)) for v in s.values]
                out.writelines(e + "\n" for e in sorted(events))
            else:
                for row in s.values:
                    out.write(" ".join(repr(float(x)) for x in row) + "\n")


if __name__ == "__main__":
    verb, rest = sys.argv[1], sys.argv[2:]
    {"pty": capture_pty, "sub": capture_sub, "xdf": dump_xdf}[verb](rest)
