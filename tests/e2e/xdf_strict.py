"""A strict XDF 1.0 reader for the tests, independent of the daemon's C code.

Every chunk is parsed exactly as the specification says: NumLengthBytes must
be 1, 4 or 8; the tag must be one of 1..6; a chunk must be long enough for its
fixed fields and its content must parse to exactly its length (a Samples
chunk's samples fill it to the byte); stream ids must have a StreamHeader
before their other chunks; a Boundary chunk's content must be the UUID. At
the first damage the reader records where and why, and resumes only after
the next Boundary chunk. A file cut off in the middle of a chunk is reported
as truncated, and what came before is kept.

    f = read("x.xdf")
    f.damage           # [(offset, why), ...]; empty for a sound file
    f.truncated        # the last chunk was cut off
    f.streams[id]      # Stream: header (dict of the XML's top-level text
                       # fields, plus 'xml'), stamps, values (numpy arrays),
                       # offsets [(collection time, value)], footer (dict or None)
"""
import re
import struct
import xml.etree.ElementTree as ET

import numpy as np

BOUNDARY = bytes([0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5, 0x41, 0x0F,
                  0xB3, 0x0E, 0xD5, 0x46, 0x73, 0x83, 0xCB, 0xE4])
FORMATS = {"double64": ("<d", 8), "float32": ("<f", 4), "int32": ("<i", 4),
           "int16": ("<h", 2), "int8": ("<b", 1), "int64": ("<q", 8), "string": None}


class Damage(Exception):
    pass


class Stream:
    def __init__(self, sid, xml):
        self.id = sid
        self.xml = xml
        root = ET.fromstring(xml)
        if root.tag != "info":
            raise Damage("stream header root is not <info>")
        self.header = {child.tag: (child.text or "") for child in root}
        self.root = root
        self.name = self.header.get("name")
        self.channel_count = int(self.header["channel_count"])
        self.format = self.header["channel_format"]
        if self.format not in FORMATS:
            raise Damage("unknown channel_format %r" % self.format)
        self.stamp_list = []
        self.value_list = []
        self.offsets = []
        self.footer = None

    def desc(self, path):
        """Text of an element under <desc>, e.g. desc('device/serial')."""
        el = self.root.find("desc/" + path)
        return None if el is None else el.text

    def labels(self):
        return [c.findtext("label") for c in self.root.findall("desc/channels/channel")]

    def units(self):
        return [c.findtext("unit") for c in self.root.findall("desc/channels/channel")]

    @property
    def stamps(self):
        return np.array(self.stamp_list, dtype=float)

    @property
    def values(self):
        if self.format == "string":
            return self.value_list
        return np.array(self.value_list, dtype=float).reshape(-1, self.channel_count)


class File:
    def __init__(self):
        self.header = None
        self.streams = {}
        self.damage = []
        self.truncated = False
        self.boundaries = 0
        self.chunks = 0
        self.last_good_offset = 0


def _varlen(buf, pos, end):
    if pos >= end:
        raise Damage("variable-length integer past the end")
    n = buf[pos]
    if n not in (1, 4, 8):
        raise Damage("NumLengthBytes %d is not 1, 4 or 8" % n)
    if pos + 1 + n > end:
        raise Damage("variable-length integer past the end")
    return int.from_bytes(buf[pos + 1:pos + 1 + n], "little"), pos + 1 + n


def _samples(stream, buf, pos, end):
    count, pos = _varlen(buf, pos, end)
    stamps, values = [], []
    fmt = FORMATS[stream.format]
    for _ in range(count):
        if pos >= end:
            raise Damage("samples chunk ends before its %d samples" % count)
        tsb = buf[pos]
        pos += 1
        if tsb == 8:
            if pos + 8 > end:
                raise Damage("time stamp past the chunk's end")
            stamps.append(struct.unpack_from("<d", buf, pos)[0])
            pos += 8
        elif tsb == 0:
            # no stamp: the previous one plus the nominal period
            srate = float(stream.header.get("nominal_srate", 0))
            prev = stamps[-1] if stamps else (stream.stamp_list[-1] if stream.stamp_list else 0.0)
            stamps.append(prev + (1.0 / srate if srate > 0 else 0.0))
        else:
            raise Damage("TimeStampBytes %d is not 0 or 8" % tsb)
        if fmt is None:
            row = []
            for _c in range(stream.channel_count):
                n, pos = _varlen(buf, pos, end)
                if pos + n > end:
                    raise Damage("string value past the chunk's end")
                row.append(bytes(buf[pos:pos + n]).decode("utf-8"))
                pos += n
            values.append(row[0] if stream.channel_count == 1 else row)
        else:
            code, size = fmt
            need = size * stream.channel_count
            if pos + need > end:
                raise Damage("sample values past the chunk's end")
            values.append(struct.unpack_from("<%d%s" % (stream.channel_count, code[1]), buf, pos))
            pos += need
    if pos != end:
        raise Damage("samples chunk has %d bytes left over" % (end - pos))
    return stamps, values


def _xml_dict(xml):
    root = ET.fromstring(xml)
    return {child.tag: (child.text or "") for child in root}


def parse(buf):
    f = File()
    if bytes(buf[:4]) != b"XDF:":
        raise Damage("no XDF: magic")
    pos = 4
    size = len(buf)
    while pos < size:
        start = pos
        try:
            if buf[pos] in (1, 4, 8) and pos + 1 + buf[pos] > size:
                f.truncated = True  # cut inside the chunk's length
                raise Damage("chunk length runs past the end of the file")
            body, pos = _varlen(buf, pos, size)
            if body > size - pos:
                f.truncated = True
                raise Damage("chunk of %d bytes runs past the end of the file" % body)
            end = pos + body
            if body < 2:
                raise Damage("chunk too short for its tag")
            tag = struct.unpack_from("<H", buf, pos)[0]
            pos += 2
            if tag == 1:
                if f.header is not None:
                    raise Damage("second FileHeader")
                f.header = _xml_dict(bytes(buf[pos:end]).decode("utf-8"))
                if f.header.get("version") != "1.0":
                    raise Damage("FileHeader version is not 1.0")
            elif tag == 5:
                if bytes(buf[pos:end]) != BOUNDARY:
                    raise Damage("Boundary chunk without the UUID")
                f.boundaries += 1
            elif tag in (2, 3, 4, 6):
                if end - pos < 4:
                    raise Damage("chunk too short for its stream id")
                sid = struct.unpack_from("<I", buf, pos)[0]
                pos += 4
                if f.header is None:
                    raise Damage("chunk before the FileHeader")
                if tag == 2:
                    if sid in f.streams:
                        raise Damage("second StreamHeader for stream %d" % sid)
                    f.streams[sid] = Stream(sid, bytes(buf[pos:end]).decode("utf-8"))
                else:
                    if sid not in f.streams:
                        raise Damage("stream %d has no StreamHeader" % sid)
                    st = f.streams[sid]
                    if tag == 3:
                        stamps, values = _samples(st, buf, pos, end)
                        st.stamp_list += stamps
                        st.value_list += values
                    elif tag == 4:
                        if end - pos != 16:
                            raise Damage("ClockOffset chunk of %d bytes" % (end - pos))
                        st.offsets.append(struct.unpack_from("<dd", buf, pos))
                    else:
                        if st.footer is not None:
                            raise Damage("second StreamFooter for stream %d" % sid)
                        st.footer = _xml_dict(bytes(buf[pos:end]).decode("utf-8"))
            else:
                raise Damage("unknown tag %d" % tag)
            pos = end
            f.chunks += 1
            f.last_good_offset = end
        except (Damage, ET.ParseError, UnicodeDecodeError, struct.error) as e:
            f.damage.append((start, str(e)))
            k = bytes(buf).find(BOUNDARY, start + 1)
            if k < 0:
                break
            pos = k + len(BOUNDARY)
    return f


def read(path):
    with open(path, "rb") as fh:
        return parse(fh.read())


def read_session(paths):
    """Several files of one session (rotation): streams merged by name."""
    merged = {}
    files = []
    for p in paths:
        f = read(p)
        files.append(f)
        for st in f.streams.values():
            m = merged.get(st.name)
            if m is None:
                merged[st.name] = st
            else:
                m.stamp_list += st.stamp_list
                m.value_list += st.value_list
    return files, merged


def main():
    import sys
    for p in sys.argv[1:]:
        f = read(p)
        print("%s: %d chunks, %d boundaries, damage %s, truncated %s" %
              (p, f.chunks, f.boundaries, f.damage, f.truncated))
        for sid, st in sorted(f.streams.items()):
            print("  stream %d %s %s: %d samples, %d offsets, footer %s" %
                  (sid, st.name, st.format, len(st.stamp_list), len(st.offsets), st.footer))


if __name__ == "__main__":
    main()
