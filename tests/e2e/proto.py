"""An independent Python implementation of the device wire protocol
(../shared/spec/protocol.md), used by the end-to-end tests to play devices.
Written from the specification, not from the C code, so that the two
cross-check each other."""
import struct

HELLO, SAMPLES, STATUS, BUTTON, HELLO_REQUEST = 0x01, 0x02, 0x03, 0x04, 0x81
BALL, SCRAPER = 1, 2


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def cobs_encode(data: bytes) -> bytes:
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out += block
                block = bytearray()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes):
    """Decodes one 0x00-free chunk; None when it is not valid COBS (a zero,
    or a code pointing past the end)."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            return None
        out += data[i + 1:i + code]
        i += code
        if code < 255 and i < len(data):
            out.append(0)
    return bytes(out)


def frame(ftype: int, seq: int, t_us: int, payload: bytes = b"", version: int = 1) -> bytes:
    body = struct.pack("<BBHI", ftype, version, seq & 0xFFFF, t_us & 0xFFFFFFFF) + payload
    body += struct.pack("<H", crc16(body))
    return cobs_encode(body) + b"\x00"


def hello_payload(kind=BALL, serial=b"TEST0001", rate_hz=1000, p_scale=1.0,
                  acc_scale=16 / 32768, gyr_scale=2000 / 32768, fw=(1, 2)) -> bytes:
    return struct.pack("<BBBB16sHfff", kind, fw[0], fw[1], 0, serial.ljust(16, b"\0"), rate_hz,
                       p_scale, acc_scale, gyr_scale)


def samples_payload(samples) -> bytes:
    """samples: list of (p, (ax, ay, az), (gx, gy, gz)) in LSB."""
    out = bytearray([len(samples)])
    for p, acc, gyr in samples:
        out += struct.pack("<i3h3h", p, *acc, *gyr)
    return bytes(out)


def status_payload(battery_mv=4000, temp_centi_c=2512, flags=0) -> bytes:
    return struct.pack("<HhH", battery_mv, temp_centi_c, flags)


def parse_frames(buf: bytearray):
    """Splits complete frames off buf (in place); yields (type, seq, t_us, payload)."""
    while True:
        try:
            end = buf.index(0)
        except ValueError:
            return
        chunk = bytes(buf[:end])
        del buf[:end + 1]
        if not chunk:
            continue
        body = cobs_decode(chunk)
        if body is None or len(body) < 10 or crc16(body[:-2]) != struct.unpack("<H", body[-2:])[0]:
            continue
        ftype, _ver, seq, t_us = struct.unpack("<BBHI", body[:8])
        yield ftype, seq, t_us, body[8:-2]
