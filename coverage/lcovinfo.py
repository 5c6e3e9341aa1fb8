"""Reading lcov tracefiles (the subset genhtml needs: SF, DA, BRDA, end_of_record).

Standard library only. Paths are kept as written by geninfo (absolute); `relative_to`
maps them into the repository so that they can be matched with citations.
"""

import os


class FileData:
    """Coverage of one source file: line -> hit count, and its branches."""

    def __init__(self, path):
        self.path = path
        self.lines = {}      # line -> hits (DA)
        self.branches = []   # (line, block, branch, taken or None when never executed)
        self._branch_index = {}

    def add_line(self, line, hits):
        self.lines[line] = self.lines.get(line, 0) + hits

    def add_branch(self, line, block, branch, taken):
        """Record a branch; a second record of the same branch adds its count."""
        key = (line, block, branch)
        idx = self._branch_index.get(key)
        if idx is None:
            self._branch_index[key] = len(self.branches)
            self.branches.append(key + (taken,))
        elif taken is not None:
            old = self.branches[idx][3]
            self.branches[idx] = key + ((old or 0) + taken,)

    def merge(self, other):
        for line, hits in other.lines.items():
            self.add_line(line, hits)
        for b in other.branches:
            self.add_branch(*b)

    def branch_hit(self):
        return sum(1 for b in self.branches if b[3])

    def line_hit(self):
        return sum(1 for h in self.lines.values() if h > 0)


def parse(path):
    """{source path: FileData} for one tracefile. Several records of one file (a tracefile
    that was not combined with lcov -a) are merged by adding their counts."""
    files = {}
    cur = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.strip()
            if line.startswith("SF:"):
                src = line[3:]
                cur = files.get(src)
                if cur is None:
                    cur = files[src] = FileData(src)
            elif cur is None:
                continue
            elif line.startswith("DA:"):
                fields = line[3:].split(",")
                cur.add_line(int(fields[0]), int(fields[1]))
            elif line.startswith("BRDA:"):
                ln, block, branch, taken = line[5:].split(",", 3)
                cur.add_branch(int(ln), block, branch, None if taken == "-" else int(taken))
            elif line == "end_of_record":
                cur = None
    return files


def relative_to(files, root):
    """The same mapping keyed by paths relative to root (files outside root dropped)."""
    root = os.path.realpath(root)
    out = {}
    for path, data in files.items():
        real = os.path.realpath(path)
        if real == root or not real.startswith(root + os.sep):
            continue
        out[os.path.relpath(real, root).replace(os.sep, "/")] = data
    return out


def totals(files):
    """(lines hit, lines found, branches hit, branches found) over all files."""
    lh = sum(d.line_hit() for d in files.values())
    lf = sum(len(d.lines) for d in files.values())
    bh = sum(d.branch_hit() for d in files.values())
    bf = sum(len(d.branches) for d in files.values())
    return lh, lf, bh, bf


def percent(hit, found):
    """Percentage with one decimal, truncated (never rounds 99.96 up to 100.0)."""
    if found == 0:
        return 100.0
    return int(hit * 1000 // found) / 10.0
