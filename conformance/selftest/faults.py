#!/usr/bin/env python3
"""Single-fault implementations: parse a .fault file and materialize it.

A fault is the reference implementation (reference/src) with ONE realistic
mistake, written as exact find/replace hunks (format: README.md, "Fault files").

  faults.py --check FAULT...              parse every fault and apply its hunks in memory
  faults.py --materialize FAULT --out DIR copy reference/src to DIR and apply the hunks

A hunk whose text occurs other than exactly once in its file, a hunk that
changes nothing, or a header without `fail:` and `mistake:` is an error: a
fault that silently stopped applying would test the reference instead.
"""

import argparse
import os
import sys

HEADER_KEYS = ("fail", "allow", "mistake", "row", "roots_max", "sanitize")
LIST_KEYS = ("fail", "allow")
HUNK_START, HUNK_SEP, HUNK_END = "<<< ", "===", ">>>"


class FaultError(Exception):
    pass


def name_of(path):
    return os.path.splitext(os.path.basename(path))[0]


def parse(path):
    """Returns {"name", "path", "header": {key: value or list}, "hunks": [(file, find, replace, line)]}."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    header = {k: [] for k in LIST_KEYS}
    hunks = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        if raw.startswith(HUNK_START):
            start = i + 1
            target = raw[len(HUNK_START):].strip()
            find, replace, part = [], [], None
            i += 1
            while i < len(lines) and lines[i] != HUNK_END:
                if lines[i] == HUNK_SEP and part is None:
                    part = replace
                else:
                    (find if part is None else part).append(lines[i])
                i += 1
            if i == len(lines) or part is None or not find:
                raise FaultError("%s:%d: hunk for %s needs text to find, then `%s`, then `%s`" % (path, start, target, HUNK_SEP, HUNK_END))
            hunks.append((target, "\n".join(find) + "\n", "\n".join(replace) + "\n" if replace else "", start))
            i += 1
            continue
        line = raw.split("#", 1)[0].strip() if not raw.startswith("mistake:") else raw.strip()
        i += 1
        if not line:
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or key not in HEADER_KEYS:
            raise FaultError("%s:%d: expected `key: value` with key in %s or a `%s<file>` hunk, got %r"
                             % (path, i, ", ".join(HEADER_KEYS), HUNK_START, raw))
        if key in LIST_KEYS:
            header[key] += value.split()
        else:
            header[key] = value
    if not header["fail"] or not header.get("mistake"):
        raise FaultError("%s: needs `fail:` (the intended requirement) and `mistake:`" % path)
    if not hunks:
        raise FaultError("%s: no hunk" % path)
    return {"name": name_of(path), "path": path, "header": header, "hunks": hunks}


def apply_hunks(fault, sources):
    """sources: {file name: text}. Returns the changed copy; raises FaultError."""
    out = dict(sources)
    for target, find, replace, line in fault["hunks"]:
        where = "%s:%d (%s)" % (fault["path"], line, target)
        if target not in out:
            raise FaultError("%s: no such file in the reference sources" % where)
        count = out[target].count(find)
        if count != 1:
            raise FaultError("%s: the text to replace occurs %d times, expected exactly once" % (where, count))
        if find == replace:
            raise FaultError("%s: the hunk changes nothing" % where)
        out[target] = out[target].replace(find, replace, 1)
    return out


def read_sources(src_dir):
    sources = {}
    for name in sorted(os.listdir(src_dir)):
        path = os.path.join(src_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                sources[name] = f.read()
    return sources


def materialize(fault, src_dir, out_dir):
    """Writes the fault's sources to out_dir (unchanged files are not rewritten, so a
    second run does not rebuild). Returns the .cpp/.c files, sorted."""
    sources = apply_hunks(fault, read_sources(src_dir))
    os.makedirs(out_dir, exist_ok=True)
    for stale in set(os.listdir(out_dir)) - set(sources):
        if os.path.isfile(os.path.join(out_dir, stale)):
            os.remove(os.path.join(out_dir, stale))
    for name, text in sources.items():
        path = os.path.join(out_dir, name)
        try:
            with open(path, encoding="utf-8") as f:
                if f.read() == text:
                    continue
        except OSError:
            pass
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return sorted(os.path.join(out_dir, n) for n in sources if n.endswith((".c", ".cpp")))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default="reference/src")
    ap.add_argument("--check", nargs="+", metavar="FAULT")
    ap.add_argument("--materialize", metavar="FAULT")
    ap.add_argument("--out")
    args = ap.parse_args()
    try:
        if args.check:
            sources = read_sources(args.src)
            for path in args.check:
                apply_hunks(parse(path), sources)
            print("faults: %d fault files parse and apply to %s" % (len(args.check), args.src))
        elif args.materialize and args.out:
            print(" ".join(materialize(parse(args.materialize), args.src, args.out)))
        else:
            ap.error("give --check FAULT... or --materialize FAULT --out DIR")
    except (OSError, FaultError) as e:
        print("faults: ERROR %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
