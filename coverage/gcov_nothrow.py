#!/usr/bin/env python3
"""gcov for geninfo, minus the branches C++ adds for exceptions.

lcov 1.16 reads gcc >= 9's JSON intermediate format and then ignores
`--rc geninfo_no_exception_branch=1` (only its text-format reader honours it, and that
reader cannot parse gcc 12's .gcno files). Every call that may throw then counts as a
branch never taken. geninfo runs this instead of gcov (--gcov-tool): it runs the real
gcov with the same arguments, then drops the branches marked "throw" from the JSON
files gcov wrote in the current directory, before geninfo reads them.
"""

import glob
import gzip
import json
import os
import subprocess
import sys


def strip_throw_branches(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    for source in data.get("files", []):
        for line in source.get("lines", []):
            if "branches" in line:
                line["branches"] = [b for b in line["branches"] if not b.get("throw")]
    tmp = path + ".tmp"
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def main(argv):
    gcov = os.environ.get("CPKIT_GCOV", "gcov")
    before = set(glob.glob("*.gcov.json.gz"))
    rc = subprocess.call([gcov] + argv)
    if rc == 0:
        for path in set(glob.glob("*.gcov.json.gz")) - before:
            strip_throw_branches(path)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
