#!/usr/bin/env python3
"""Every `make TARGET` the README shows (in code spans and code blocks) names a
target the Makefile defines, and every `tools/...` or `sh ...` script it shows exists:
a README that sends a newcomer to a command that is not there is a defect.

  readme_check.py [README.md ...]      exit 1 and the missing ones, else a summary line
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SPAN_RE = re.compile(r"`([^`\n]+)`")
_MAKE_RE = re.compile(r"(?:^|[\s;&|(])make\s+((?:[A-Z_]+=\S+\s+)*)([a-z][\w.-]*)")
_SCRIPT_RE = re.compile(r"(?:^|[\s;&|(])((?:tools|mk|conformance|bench)/[\w./-]+\.(?:sh|py)|tools/cpkit-validate)\b")


def code_of(text):
    """The README's code: backtick spans and indented or fenced block lines."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("    ") or line.startswith("\t"):
            out.append(line)
        else:
            out.extend(_SPAN_RE.findall(line))
    return out


def make_targets():
    """Every target of the kit's Makefile, from make's own database (nothing runs)."""
    db = subprocess.run(["make", "-C", ROOT, "-pRrq", "-f", "Makefile", ":"], stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL, universal_newlines=True).stdout
    targets = set()
    for line in db.splitlines():
        m = re.match(r"^([^\s#:=][^:=]*?):(?!=)", line)
        if m:
            targets.update(m.group(1).split())
    return targets


def check(paths):
    targets, missing, seen = make_targets(), [], set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            code = code_of(f.read())
        for snippet in code:
            for m in _MAKE_RE.finditer(snippet):
                t = m.group(2)
                seen.add("make " + t)
                if t not in targets:
                    missing.append("%s: make %s: no such target" % (path, t))
            for m in _SCRIPT_RE.finditer(snippet):
                seen.add(m.group(1))
                if not os.path.exists(os.path.join(ROOT, m.group(1))):
                    missing.append("%s: %s: no such file" % (path, m.group(1)))
    return missing, seen


def main(argv):
    paths = argv or [os.path.join(ROOT, "README.md")]
    missing, seen = check(paths)
    for m in missing:
        print("readme-check: " + m)
    if missing:
        return 1
    print("readme-check: %d commands the README shows exist" % len(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
