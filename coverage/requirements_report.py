#!/usr/bin/env python3
"""Requirement coverage report: requirements.md and requirements.html.

One row per requirement of the spec: its level and observability, the tests that cite it
and their verdicts (from validate.py's report.json, one or several), the reference lines
that cite it (from trace.py's requirements.json) and, when lcov tracefiles are given
(--suite NAME=TRACEFILE, as `make coverage` does), whether those lines ran and in which
suite. Uncovered requirements come first.

A requirement is covered when at least one test citing it ran and every such test passed,
and (with line data) every citation of it in reference/src that annotates executable code
ran. Without line data (`make validate` of any implementation) only the tests count.
Categories: `internal` (observability internal, whatever the level), else its level.

Prints: requirements: normative covered X/Y, recommended X/Y, internal X/Y
"""

import argparse
import datetime
import html
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import citations  # noqa: E402
import suites  # noqa: E402

CATEGORIES = ("normative", "recommended", "internal")
SUITE_LETTER = {"conformance": "C", "properties": "P", "unit": "U"}
SRC_PREFIX = "reference/src/"


def category(req):
    return "internal" if req["observability"] == "internal" else req["level"]


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_reports(specs):
    """[(label, report)] from ["path" or "label=path"]; the label defaults to the name."""
    out = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or not os.path.exists(path) and os.path.exists(spec):
            label, path = None, spec
        report = load_json(path)
        out.append((label or report.get("name") or os.path.basename(os.path.dirname(path)), report))
    return out


def test_results(reports):
    """{requirement id: [test dicts with suite]} over every report, each test once."""
    by_id = {}
    seen = set()
    for label, report in reports:
        for t in report.get("tests", []):
            key = (label, t.get("binary"), t.get("name"))
            if key in seen:
                continue
            seen.add(key)
            ids = t.get("requirements")
            if ids is None:
                ids = [tag.strip("[]") for tag in t.get("tags", [])]
            for rid in ids:
                by_id.setdefault(rid, []).append(dict(t, suite=label))
        for r in report.get("requirements", []):
            # A binary that could not run stands for all of its tests.
            for t in r.get("tests", []):
                if t.get("name", "").startswith("(all tests of "):
                    key = (label, t.get("binary"), t["name"], r["id"])
                    if key not in seen:
                        seen.add(key)
                        by_id.setdefault(r["id"], []).append(dict(t, suite=label))
    return by_id


def test_verdict(tests):
    verdicts = [t.get("verdict") for t in tests]
    if not verdicts:
        return "untested"
    return "pass" if all(v == "pass" for v in verdicts) else "fail"


class LineData:
    """Hit counts per suite, and the mapping of citations to executable lines."""

    def __init__(self, per_suite, root):
        self.per_suite = per_suite
        self.root = root
        self.total = suites.combine(per_suite)
        self.reached = suites.reached_by(per_suite)
        self._sources = {}

    def _source(self, rel):
        if rel not in self._sources:
            try:
                with open(os.path.join(self.root, rel), encoding="utf-8", errors="replace") as f:
                    self._sources[rel] = citations.SourceFile(f.read())
            except OSError:
                self._sources[rel] = None
        return self._sources[rel]

    def citation(self, rel, line):
        """{"lines": [...], "status": ran|not run|no code, "suites": [...]}."""
        data = self.total.get(rel)
        src = self._source(rel)
        lines = src.executable_lines(line, set(data.lines)) if data and src else []
        if not lines:
            return {"lines": [], "status": "no code", "suites": []}
        ran_by = set()
        for ln in lines:
            ran_by.update(self.reached.get((rel, ln), []))
        ran = any(data.lines.get(ln, 0) > 0 for ln in lines)
        order = list(self.per_suite)
        return {"lines": lines, "status": "ran" if ran else "not run",
                "suites": sorted(ran_by, key=order.index)}


def build_rows(reqs, results, line_data):
    rows = []
    for index, r in enumerate(reqs):
        tests = results.get(r["id"], [])
        tv = test_verdict(tests)
        run_names = {t.get("name") for t in tests}
        not_run = [t for t in r.get("tests", []) if t.get("name") not in run_names]
        cites = []
        for c in r.get("implemented_at", []):
            if not c["file"].startswith(SRC_PREFIX):
                continue
            entry = {"file": c["file"], "line": c["line"]}
            if line_data is not None:
                entry.update(line_data.citation(c["file"], c["line"]))
            cites.append(entry)
        reasons = []
        if tv == "fail":
            n = sum(1 for t in tests if t.get("verdict") != "pass")
            reasons.append("%d test%s failed" % (n, "" if n == 1 else "s"))
        elif tv == "untested":
            reasons.append("no test ran" + (" (internal: covered by the reference's unit tests)"
                                             if r["observability"] == "internal" else ""))
        code = None
        if line_data is not None:
            with_code = [c for c in cites if c["status"] != "no code"]
            ran = [c for c in with_code if c["status"] == "ran"]
            if not cites:
                code = "not cited"
                reasons.append("not cited in %s" % SRC_PREFIX)
            elif not with_code:
                code = "no code"
            elif len(ran) == len(with_code):
                code = "ran"
            else:
                code = "partly ran" if ran else "not run"
                reasons.append("cited code not run: " + ", ".join(
                    "%s:%d" % (c["file"][len(SRC_PREFIX):], c["line"])
                    for c in with_code if c["status"] != "ran"))
        rows.append({"req": r, "index": index, "category": category(r), "tests": tests,
                     "not_run": not_run, "test_verdict": tv, "citations": cites, "code": code,
                     "covered": not reasons, "reasons": reasons})
    rows.sort(key=lambda row: (row["covered"], CATEGORIES.index(row["category"]) if not row["covered"] else 0,
                               row["index"]))
    return rows


def summary_counts(rows):
    out = {}
    for cat in CATEGORIES:
        in_cat = [row for row in rows if row["category"] == cat]
        out[cat] = {"covered": sum(1 for row in in_cat if row["covered"]), "total": len(in_cat)}
    return out


def summary_line(counts):
    return "requirements: " + ", ".join(
        "%s%s %d/%d" % (cat, " covered" if i == 0 else "", counts[cat]["covered"], counts[cat]["total"])
        for i, cat in enumerate(CATEGORIES))


# --- rendering ----------------------------------------------------------------------

def _tests_text(row, limit=6):
    tests = row["tests"]
    if not tests:
        text = "none ran"
    else:
        failed = [t for t in tests if t.get("verdict") != "pass"]
        text = "%d/%d pass" % (len(tests) - len(failed), len(tests))
        if failed:
            text += ": FAILED " + "; ".join("`%s`" % t.get("name") for t in failed[:limit])
            if len(failed) > limit:
                text += "; … %d more" % (len(failed) - limit)
    if row["not_run"]:
        text += " (+%d citing test%s not run)" % (len(row["not_run"]), "" if len(row["not_run"]) == 1 else "s")
    return text


def _cite_text(c, line_mode):
    where = "%s:%d" % (c["file"][len(SRC_PREFIX):], c["line"])
    if not line_mode:
        return where
    if c["status"] == "ran":
        return "%s ran (%s)" % (where, "".join(SUITE_LETTER.get(s, s[:1].upper()) for s in c["suites"]))
    if c["status"] == "not run":
        return "**%s NOT RUN**" % where
    return "%s (no code)" % where


def _md_cell(text):
    return (text or "").replace("|", "\\|").replace("\n", " ")


def render_markdown(rows, counts, meta, line_data):
    line_mode = line_data is not None
    out = ["# Requirement coverage: %s" % meta["name"], ""]
    out.append("Implementation: `%s`  " % meta["implementation"])
    out.append("%s · %s" % (meta["date"], "tests and line data of %s (gcov)" % SRC_PREFIX if line_mode
                           else "tests only (no line data: make coverage adds it for the reference)"))
    out += ["", "**%s**" % summary_line(counts), ""]
    out += ["| category | covered | not covered | total |", "|---|--:|--:|--:|"]
    for cat in CATEGORIES:
        c = counts[cat]
        out.append("| %s | %d | %d | %d |" % (cat, c["covered"], c["total"] - c["covered"], c["total"]))
    out += ["", "Covered: at least one citing test ran and all passed%s." % (
        ", and every citation in %s that annotates code ran" % SRC_PREFIX if line_mode else "")]
    if line_mode:
        out.append("Suites: C = conformance, P = property tests, U = reference unit tests.")
    out.append("")
    uncovered = [row for row in rows if not row["covered"]]
    out += ["## Not covered (%d)" % len(uncovered), ""]
    if uncovered:
        out += ["| requirement | category | why |", "|---|---|---|"]
        for row in uncovered:
            r = row["req"]
            out.append("| %s %s | %s | %s |" % (r["id"], _md_cell(r["title"]), row["category"],
                                              _md_cell("; ".join(row["reasons"]))))
    else:
        out.append("None.")
    out += ["", "## All requirements", ""]
    head = "| requirement | level | obs. | tests | reference code%s | covered |" % (
        " (ran by)" if line_mode else " (cited at)")
    out += [head, "|---|---|---|---|---|---|"]
    for row in rows:
        r = row["req"]
        cites = ", ".join(_cite_text(c, line_mode) for c in row["citations"]) or "not cited"
        out.append("| %s %s | %s | %s | %s | %s | %s |" % (
            r["id"], _md_cell(r["title"]), r["level"], r["observability"], _md_cell(_tests_text(row)),
            _md_cell(cites), "yes" if row["covered"] else "**NO**"))
    if line_mode:
        out += ["", "## Coverage per suite", ""] + suites.markdown(line_data.per_suite, line_data.root)
    return "\n".join(out) + "\n"


CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}
th{background:#f0f0f0}
tr.no td.cov{background:#f8d0d0;font-weight:bold}
tr.yes td.cov{background:#d4f0d4}
.fail{color:#a00;font-weight:bold}
.pass{color:#070}
.notrun{color:#a00;font-weight:bold}
.nocode{color:#888}
code{font-size:90%}
details summary{cursor:pointer}
.small{font-size:85%;color:#555}
"""


def _h(text):
    return html.escape(str(text), quote=True)


def _tests_html(row):
    if not row["tests"]:
        cell = "<span class=fail>none ran</span>"
    else:
        failed = sum(1 for t in row["tests"] if t.get("verdict") != "pass")
        items = []
        for t in row["tests"]:
            cls = "pass" if t.get("verdict") == "pass" else "fail"
            msg = "" if t.get("verdict") == "pass" else " — " + _h((t.get("message") or "")[:300])
            items.append("<li><span class=%s>%s</span> <code>%s</code> <span class=small>(%s)</span>%s</li>"
                         % (cls, _h(t.get("verdict")), _h(t.get("name")), _h(t.get("suite") or t.get("binary")), msg))
        cell = "<details%s><summary class=%s>%d/%d pass</summary><ul>%s</ul></details>" % (
            " open" if failed else "", "fail" if failed else "pass", len(row["tests"]) - failed,
            len(row["tests"]), "".join(items))
    if row["not_run"]:
        cell += "<span class=small>+%d citing test(s) not run</span>" % len(row["not_run"])
    return cell


def _cite_html(c, line_mode, source_html):
    where = "<code>%s:%d</code>" % (_h(c["file"][len(SRC_PREFIX):]), c["line"])
    if source_html:
        # genhtml's page of the file, at the cited line.
        where = "<a href=\"%s/%s.gcov.html#%d\">%s</a>" % (_h(source_html), _h(c["file"]), c["line"], where)
    if not line_mode:
        return where
    if c["status"] == "ran":
        return "%s <span class=pass>ran</span> <span class=small>%s</span>" % (
            where, _h(" ".join(SUITE_LETTER.get(s, s) for s in c["suites"])))
    if c["status"] == "not run":
        return "%s <span class=notrun>NOT RUN</span> <span class=small>lines %s</span>" % (
            where, _h(", ".join(map(str, c["lines"]))))
    return "%s <span class=nocode>no code</span>" % where


def render_html(rows, counts, meta, line_data, source_html=None):
    line_mode = line_data is not None
    out = ["<!DOCTYPE html><html><head><meta charset=utf-8><title>Requirement coverage: %s</title>"
           "<style>%s</style></head><body>" % (_h(meta["name"]), CSS)]
    out.append("<h1>Requirement coverage: %s</h1>" % _h(meta["name"]))
    out.append("<p>Implementation: <code>%s</code><br>%s · %s</p>" % (
        _h(meta["implementation"]), _h(meta["date"]),
        "tests and line data of %s (gcov)" % SRC_PREFIX if line_mode
        else "tests only (no line data: <code>make coverage</code> adds it for the reference)"))
    out.append("<p><b>%s</b></p>" % _h(summary_line(counts)))
    out.append("<table><tr><th>category</th><th>covered</th><th>not covered</th><th>total</th></tr>")
    for cat in CATEGORIES:
        c = counts[cat]
        out.append("<tr><td>%s</td><td>%d</td><td>%d</td><td>%d</td></tr>"
                   % (cat, c["covered"], c["total"] - c["covered"], c["total"]))
    out.append("</table>")
    out.append("<p class=small>Covered: at least one citing test ran and all passed%s.%s</p>" % (
        ", and every citation in %s that annotates code ran" % SRC_PREFIX if line_mode else "",
        " Suites: C = conformance, P = property tests, U = reference unit tests." if line_mode else ""))
    out.append("<table><tr><th>requirement</th><th>level</th><th>obs.</th><th>tests</th>"
               "<th>reference code</th><th>covered</th></tr>")
    for row in rows:
        r = row["req"]
        cites = "<br>".join(_cite_html(c, line_mode, source_html) for c in row["citations"]) \
            or "<span class=fail>not cited</span>"
        why = "" if row["covered"] else "<br><span class=small>%s</span>" % _h("; ".join(row["reasons"]))
        out.append(
            "<tr class=%s id=%s><td><b>%s</b> %s<details><summary class=small>requirement</summary>"
            "<p>%s</p><p class=small>Seed: %s</p></details></td><td>%s</td><td>%s</td><td>%s</td>"
            "<td>%s</td><td class=cov>%s%s</td></tr>" % (
                "yes" if row["covered"] else "no", _h(r["id"]), _h(r["id"]), _h(r["title"]),
                _h(r.get("requirement") or ""), _h(r.get("seed") or ""), _h(r["level"]),
                _h(r["observability"]), _tests_html(row), cites, "yes" if row["covered"] else "NO", why))
    out.append("</table>")
    if line_mode:
        out.append("<h2>Coverage per suite</h2>")
        out.append(suites.html_section(line_data.per_suite, line_data.root))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--requirements", required=True, help="build/trace/requirements.json (trace.py)")
    ap.add_argument("--report", action="append", default=[], metavar="[SUITE=]REPORT_JSON",
                    help="validate.py report.json (repeatable: one per suite)")
    ap.add_argument("--suite", action="append", default=[], metavar="NAME=TRACEFILE",
                    help="lcov tracefile of a suite's run (repeatable; conformance first)")
    ap.add_argument("--out-dir", required=True, help="writes requirements.md and requirements.html")
    ap.add_argument("--name", help="title of the report (default: the first report's name)")
    ap.add_argument("--summary-file", help="write the summary line to this file too")
    ap.add_argument("--source-html", metavar="DIR",
                    help="genhtml output directory: citations link to its source pages")
    ap.add_argument("--quiet", action="store_true", help="print nothing unless it fails")
    args = ap.parse_args(argv)

    root = os.path.abspath(args.root)
    try:
        reqs = load_json(args.requirements)["requirements"]
        reports = load_reports(args.report)
        line_data = None
        if args.suite:
            per_suite = suites.load(suites.parse_specs(args.suite), root, SRC_PREFIX)
            line_data = LineData(per_suite, root)
    except (OSError, ValueError, KeyError) as e:
        print("requirements_report: %s" % e, file=sys.stderr)
        return 2
    if not reports:
        print("requirements_report: no --report given", file=sys.stderr)
        return 2

    rows = build_rows(reqs, test_results(reports), line_data)
    counts = summary_counts(rows)
    first = reports[0][1]
    meta = {"name": args.name or first.get("name") or "?",
            "implementation": " + ".join(sorted({rep.get("implementation", "?") for _, rep in reports})),
            "date": first.get("date") or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    os.makedirs(args.out_dir, exist_ok=True)
    source_html = None
    if args.source_html:
        source_html = os.path.relpath(os.path.abspath(args.source_html), os.path.abspath(args.out_dir))
        source_html = source_html.replace(os.sep, "/")
    for name, text in (("requirements.md", render_markdown(rows, counts, meta, line_data)),
                       ("requirements.html", render_html(rows, counts, meta, line_data, source_html))):
        tmp = os.path.join(args.out_dir, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, os.path.join(args.out_dir, name))
    line = summary_line(counts)
    if args.summary_file:
        with open(args.summary_file, "w", encoding="utf-8") as f:
            f.write(line + "\n")
    if not args.quiet:
        print("requirements report: %s" % os.path.join(args.out_dir, "requirements.html"))
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
