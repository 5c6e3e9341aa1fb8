"""Per-suite line coverage: which lines each suite reaches, and what only some reach.

Suites are given in order as NAME=TRACEFILE; the first one is the suite whose gaps
matter most (the conformance suite: it is what a third party runs).
"""

import os

import lcovinfo

LABELS = {
    "conformance": "conformance suite",
    "properties": "property tests",
    "unit": "reference unit tests",
}


def label(name):
    return LABELS.get(name, name)


def parse_specs(specs):
    """[(name, path)] from ["name=path", ...]."""
    out = []
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError("expected NAME=TRACEFILE, got %r" % spec)
        out.append((name, path))
    return out


def load(specs, root, prefix):
    """{suite: {relpath: FileData}} restricted to files under `prefix` (e.g. reference/src/)."""
    data = {}
    for name, path in specs:
        files = lcovinfo.relative_to(lcovinfo.parse(path), root)
        data[name] = {p: d for p, d in files.items() if p.startswith(prefix)}
    return data


def combine(per_suite):
    """Sum of the suites' counts, as one {relpath: FileData}."""
    out = {}
    for files in per_suite.values():
        for rel, d in files.items():
            if rel not in out:
                out[rel] = lcovinfo.FileData(d.path)
            out[rel].merge(d)
    return out


def reached_by(per_suite):
    """{(relpath, line): [suites whose tests ran it]} for every line with line data."""
    out = {}
    for name, files in per_suite.items():
        for rel, d in files.items():
            for ln, hits in d.lines.items():
                lst = out.setdefault((rel, ln), [])
                if hits > 0:
                    lst.append(name)
    return out


def source_line(root, rel, line, cache={}):
    """The text of one source line, stripped (cached per file)."""
    if rel not in cache:
        try:
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                cache[rel] = f.read().split("\n")
        except OSError:
            cache[rel] = []
    lines = cache[rel]
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def gaps(per_suite):
    """Lines the first suite misses, split by who reaches them:
    {"only:<suite>": [...], "several": [...], "none": [...]} of (relpath, line, [suites])."""
    names = list(per_suite)
    if not names:
        return {}
    first = names[0]
    out = {}
    for (rel, ln), suites in sorted(reached_by(per_suite).items()):
        if first in suites:
            continue
        if not suites:
            key = "none"
        elif len(suites) == 1:
            key = "only:" + suites[0]
        else:
            key = "several"
        out.setdefault(key, []).append((rel, ln, suites))
    return out


def _sections(per_suite):
    """[(title, rows, show_suites)] of the lines the first suite misses, by who reaches them."""
    names = list(per_suite)
    g = gaps(per_suite)
    first = label(names[0])
    out = []
    for key in ["only:" + n for n in names[1:]] + ["several", "none"]:
        rows = g.get(key, [])
        if not rows and not key.startswith("only:"):
            continue  # "only the X reach: none" is worth saying; the others are not
        if key == "none":
            title = "Reached by no suite"
        elif key == "several":
            title = "Reached by several suites, not the %s" % first
        else:
            title = "Only the %s reach" % label(key[5:])
        out.append((title, rows, key == "several"))
    return out


def _suite_rows(per_suite):
    out = []
    for name in per_suite:
        lh, lf, bh, bf = lcovinfo.totals(per_suite[name])
        out.append((label(name), "%.1f%% (%d/%d)" % (lcovinfo.percent(lh, lf), lh, lf),
                    "%.1f%% (%d/%d)" % (lcovinfo.percent(bh, bf), bh, bf)))
    return out


def markdown(per_suite, root, max_lines=200):
    """A Markdown section: one row per suite, then the lines the first suite misses."""
    if not per_suite:
        return []
    out = ["| suite | lines | branches |", "|---|---|---|"]
    out += ["| %s | %s | %s |" % row for row in _suite_rows(per_suite)]
    out.append("")
    first = label(list(per_suite)[0])
    sections = _sections(per_suite)
    missed = sum(len(rows) for _, rows, _ in sections)
    if not missed:
        out.append("The %s runs every line the other suites run." % first)
        return out
    out += ["The %s misses %d line(s); who reaches them:" % (first, missed), ""]
    for title, rows, show in sections:
        if not rows:
            out += ["**%s**: none." % title, ""]
            continue
        out += ["**%s** (%d):" % (title, len(rows)), ""]
        for rel, ln, who in rows[:max_lines]:
            extra = " (%s)" % ", ".join(label(s) for s in who) if show else ""
            out.append("- `%s:%d`%s `%s`" % (rel, ln, extra, source_line(root, rel, ln).replace("`", "'")))
        if len(rows) > max_lines:
            out.append("- … %d more" % (len(rows) - max_lines))
        out.append("")
    return out


def html_section(per_suite, root, max_lines=200):
    """The same as markdown(), as an HTML fragment."""
    from html import escape
    if not per_suite:
        return ""
    out = ["<table><tr><th>suite</th><th>lines</th><th>branches</th></tr>"]
    out += ["<tr><td>%s</td><td>%s</td><td>%s</td></tr>" % tuple(map(escape, row))
            for row in _suite_rows(per_suite)]
    out.append("</table>")
    first = label(list(per_suite)[0])
    sections = _sections(per_suite)
    missed = sum(len(rows) for _, rows, _ in sections)
    if not missed:
        out.append("<p>The %s runs every line the other suites run.</p>" % escape(first))
        return "\n".join(out)
    out.append("<p>The %s misses %d line(s); who reaches them:</p>" % (escape(first), missed))
    for title, rows, show in sections:
        if not rows:
            out.append("<h3>%s: none</h3>" % escape(title))
            continue
        out.append("<h3>%s (%d)</h3><ul>" % (escape(title), len(rows)))
        for rel, ln, who in rows[:max_lines]:
            extra = " (%s)" % ", ".join(label(s) for s in who) if show else ""
            out.append("<li><code>%s:%d</code>%s <code>%s</code></li>" % (
                escape(rel), ln, escape(extra), escape(source_line(root, rel, ln))))
        if len(rows) > max_lines:
            out.append("<li>… %d more</li>" % (len(rows) - max_lines))
        out.append("</ul>")
    return "\n".join(out)
