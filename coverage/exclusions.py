"""LCOV_EXCL markers in the reference sources: where they are, how many lines they hide,
and whether each one says why.

geninfo honours the markers itself; this module only counts them for the summary and
rejects a marker without a reason.
"""

import os
import re

MARKER_RE = re.compile(r"LCOV_EXCL_(EXCEPTION_BR_|BR_)?(LINE|START|STOP)")
SOURCE_EXTS = (".c", ".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp", ".hxx", ".inl", ".ipp")
MIN_REASON_LETTERS = 8


def _reason(line, m):
    """The words after the marker (or, when none, before it inside the same comment)."""
    after = line[m.end():]
    after = re.sub(r"\*/.*$", "", after)
    after = after.strip(" \t:-–—,.;()")
    if sum(c.isalpha() for c in after) >= MIN_REASON_LETTERS:
        return after
    before = line[:m.start()]
    idx = max(before.rfind("//"), before.rfind("/*"))
    if idx >= 0:
        text = before[idx + 2:].strip(" \t:-–—,.;()")
        if sum(c.isalpha() for c in text) >= MIN_REASON_LETTERS:
            return text
    return None


class Exclusion:
    def __init__(self, path, first, last, kind, reason):
        self.path, self.first, self.last, self.kind, self.reason = path, first, last, kind, reason

    @property
    def lines(self):
        return self.last - self.first + 1

    @property
    def branch_only(self):
        return self.kind != "line"

    def where(self):
        if self.first == self.last:
            return "%s:%d" % (self.path, self.first)
        return "%s:%d-%d" % (self.path, self.first, self.last)


def scan_text(rel, text):
    """(exclusions, problems) of one file."""
    found, problems = [], []
    open_ranges = {}  # kind -> (start line, reason)
    for ln, line in enumerate(text.split("\n"), 1):
        for m in MARKER_RE.finditer(line):
            kind = {None: "line", "BR_": "branch", "EXCEPTION_BR_": "exception branch"}[m.group(1)]
            what = m.group(2)
            if what == "STOP":
                if kind not in open_ranges:
                    problems.append("%s:%d: %s without a START" % (rel, ln, m.group(0)))
                    continue
                start, reason = open_ranges.pop(kind)
                found.append(Exclusion(rel, start, ln, kind, reason))
                continue
            reason = _reason(line, m)
            if reason is None:
                problems.append("%s:%d: %s without a reason (write it on the same line)"
                                % (rel, ln, m.group(0)))
            if what == "START":
                if kind in open_ranges:
                    problems.append("%s:%d: %s inside an open range" % (rel, ln, m.group(0)))
                    continue
                open_ranges[kind] = (ln, reason)
            else:
                found.append(Exclusion(rel, ln, ln, kind, reason))
    for kind, (start, _) in open_ranges.items():
        problems.append("%s:%d: LCOV_EXCL_%sSTART without a STOP"
                        % (rel, start, {"line": "", "branch": "BR_",
                                        "exception branch": "EXCEPTION_BR_"}[kind]))
    return found, problems


def scan(root, src_dir):
    """(exclusions, problems) of every source file under root/src_dir."""
    found, problems = [], []
    base = os.path.join(root, src_dir)
    for dirpath, _, filenames in os.walk(base):
        for name in sorted(filenames):
            if not name.endswith(SOURCE_EXTS):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            with open(path, encoding="utf-8", errors="replace") as f:
                f_found, f_problems = scan_text(rel, f.read())
            found += f_found
            problems += f_problems
    found.sort(key=lambda e: (e.path, e.first))
    return found, problems
