"""Checks the man pages: they render without a warning (mandoc -Tlint when
installed, else groff -ww), and massaged.ini(5) describes every section and
key of the example configuration and of docs/CONFIGURATION.md, and no key
that neither has. Usage: check_man.py PACKAGING_DIR EXAMPLE_INI CONFIGURATION_MD"""
import os
import re
import shutil
import subprocess
import sys

pkg, example, reference = sys.argv[1:4]
pages = [os.path.join(pkg, p) for p in ("massaged.8", "massaged.ini.5")]
failures = []

for page in pages:
    if shutil.which("mandoc"):
        cmd = ["mandoc", "-Tlint", "-Wstyle", page]
    else:
        cmd = ["groff", "-man", "-Tutf8", "-ww", "-z", page]
    out = subprocess.run(cmd, capture_output=True, text=True)
    # mandoc -Tlint exits 0 only when clean; groff -z prints warnings only.
    text = (out.stdout + out.stderr).strip()
    if out.returncode != 0 or text:
        failures.append("%s: %s:\n%s" % (" ".join(cmd[:2]), page, text))

# Keys as "section key": from the example's section headers and key lines...
def example_keys(path):
    keys, section = set(), None
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        m = re.match(r"\[([^\]]+)\]", line)
        if m:
            section = "device.NAME" if m.group(1).startswith("device.") else m.group(1)
        elif section and re.match(r"[a-z_]+\s*=", line):
            keys.add((section, line.split("=")[0].strip()))
    return keys

# Keys from a document whose sections start at lines matching `heading`
# (group 1 the section), end at lines starting with `other_heading`, and
# list their keys in lines matching `key` (group 1 the key).
def headed_keys(path, heading, other_heading, key):
    keys, section = set(), None
    for line in open(path, encoding="utf-8"):
        m = re.match(heading, line)
        if m:
            section = m.group(1)
        elif line.startswith(other_heading):
            section = None
        elif section:
            m = re.match(key, line)
            if m:
                keys.add((section, m.group(1)))
    return keys

# ...from CONFIGURATION.md's tables, under their "### `[section]`" headings...
def reference_keys(path):
    return headed_keys(path, r"### `\[([^\]]+)\]`", "## ", r"\| `([a-z_]+)` \|")

# ...and from the man page's ".SH [section]" and ".BI key" entries.
def man_keys(path):
    return headed_keys(path, r"\.SH \[([^\]]+)\]", ".SH ", r'\.BI ([a-z_]+) "')

documented = man_keys(pages[1])
for name, keys in (("config/massaged.example.ini", example_keys(example)),
                   ("docs/CONFIGURATION.md", reference_keys(reference))):
    if not keys:
        failures.append("%s: no keys found (has its layout changed?)" % name)
    for section, key in sorted(keys - documented):
        failures.append("massaged.ini.5 lacks [%s] %s (in %s)" % (section, key, name))
    for section, key in sorted(documented - keys):
        failures.append("massaged.ini.5 describes [%s] %s, which %s lacks" % (section, key, name))

for f in failures:
    print(f)
print("%d man page problem(s); %d keys documented" % (len(failures), len(documented)))
sys.exit(1 if failures else 0)
