#!/usr/bin/env python3
"""Requirement coverage report: requirements.md and requirements.html.

The verdicts are report.json's (one report per suite, --report SUITE=REPORT_JSON): this
script never judges a test or a requirement, it renders them through the report views
(tools/cpkit/views/requirements.py). With lcov tracefiles (--suite NAME=TRACEFILE, as
`make coverage` does for the reference) each requirement also gets its citations in
reference/src (from trace.py's requirements.json) and whether they ran, in which suite.

Covered (with several reports or line data): no suite fails it, one passes it (an
internal requirement: every test citing it passed), and every citation of it that
annotates executable code ran. Categories: `internal` (observability internal), else its
level. Uncovered requirements come first.

With one report and no line data the output is exactly the validation's own
requirements.md/.html (what `make validate` writes beside report.md).

Prints: requirements: normative covered X/Y, recommended X/Y, internal X/Y
(one report, no line data: requirements: normative X/Y pass, ...)
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
import citations  # noqa: E402
import suites  # noqa: E402
from cpkit.views import requirements as req_view  # noqa: E402

SUITE_LETTER = {"conformance": "C", "properties": "P", "unit": "U"}
SRC_PREFIX = "reference/src/"


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_reports(specs):
    """[(label, report)] from ["path" or "label=path"]; the label defaults to the
    implementation's name."""
    out = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or not os.path.exists(path) and os.path.exists(spec):
            label, path = None, spec
        report = load_json(path)
        impl = report.get("implementation")
        name = impl.get("name") if isinstance(impl, dict) else impl
        out.append((label or name or os.path.basename(os.path.dirname(path)), report))
    return out


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


class CodeColumn:
    """The reference-code column of the coverage report (requirements.py's `code`)."""

    header = "reference code (ran by)"
    legend = "Suites: C = conformance, P = property tests, U = reference unit tests."

    def __init__(self, trace_reqs, line_data, source_html=None):
        self.line_data = line_data
        self.source_html = source_html
        self.cites = {}
        for r in trace_reqs:
            self.cites[r["id"]] = [dict(c, **line_data.citation(c["file"], c["line"]))
                                   for c in r.get("implemented_at", []) if c["file"].startswith(SRC_PREFIX)]

    def ok(self, rid):
        """False when not cited or some cited code did not run; True otherwise."""
        cites = self.cites.get(rid) or []
        with_code = [c for c in cites if c["status"] != "no code"]
        return bool(cites) and all(c["status"] == "ran" for c in with_code)

    def cell(self, rid):
        cites = self.cites.get(rid) or []
        if not cites:
            return ["not cited in " + SRC_PREFIX]
        out = []
        for i, c in enumerate(cites):
            where = "%s:%d" % (c["file"][len(SRC_PREFIX):], c["line"])
            out.append(", " if i else "")
            if self.source_html:
                out.append(("a", where, "%s/%s.gcov.html#%d" % (self.source_html, c["file"], c["line"])))
            else:
                out.append(where)
            if c["status"] == "ran":
                out.append(" ran (%s)" % "".join(SUITE_LETTER.get(s, s[:1].upper()) for s in c["suites"]))
            elif c["status"] == "not run":
                out.append(" NOT RUN")
            else:
                out.append(" (no code)")
        return out

    def blocks(self):
        md = "\n".join(["## Coverage per suite", ""] + suites.markdown(self.line_data.per_suite, self.line_data.root))
        page = "<h2>Coverage per suite</h2>\n" + suites.html_section(self.line_data.per_suite, self.line_data.root)
        return [("raw", md, page)]


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.dirname(HERE))
    ap.add_argument("--requirements", help="build/trace/requirements.json (trace.py): the citations, "
                    "needed with --suite")
    ap.add_argument("--report", action="append", default=[], metavar="[SUITE=]REPORT_JSON",
                    help="a validation's report.json (repeatable: one per suite)")
    ap.add_argument("--suite", action="append", default=[], metavar="NAME=TRACEFILE",
                    help="lcov tracefile of a suite's run (repeatable; conformance first)")
    ap.add_argument("--out-dir", required=True, help="writes requirements.md and requirements.html")
    ap.add_argument("--name", help="title of the report (default: the implementation's name)")
    ap.add_argument("--summary-file", help="write the summary line to this file too")
    ap.add_argument("--source-html", metavar="DIR",
                    help="genhtml output directory: citations link to its source pages")
    ap.add_argument("--quiet", action="store_true", help="print nothing unless it fails")
    args = ap.parse_args(argv)

    root = os.path.abspath(args.root)
    try:
        reports = load_reports(args.report)
        code = None
        if args.suite:
            if not args.requirements:
                raise ValueError("--suite needs --requirements (the citations)")
            per_suite = suites.load(suites.parse_specs(args.suite), root, SRC_PREFIX)
            source_html = None
            if args.source_html:
                source_html = os.path.relpath(os.path.abspath(args.source_html),
                                              os.path.abspath(args.out_dir)).replace(os.sep, "/")
            code = CodeColumn(load_json(args.requirements)["requirements"], LineData(per_suite, root),
                              source_html)
    except (OSError, ValueError, KeyError) as e:
        print("requirements_report: %s" % e, file=sys.stderr)
        return 2
    if not reports:
        print("requirements_report: no --report given", file=sys.stderr)
        return 2

    if len(reports) == 1 and code is None:
        md, page = req_view.render(reports[0][1])
        line = req_view.summary_line(reports[0][1])
    else:
        md, page, counts = req_view.render_coverage(reports, code, args.name)
        line = req_view.coverage_summary_line(counts)
    os.makedirs(args.out_dir, exist_ok=True)
    write(os.path.join(args.out_dir, "requirements.md"), md)
    write(os.path.join(args.out_dir, "requirements.html"), page)
    if args.summary_file:
        with open(args.summary_file, "w", encoding="utf-8") as f:
            f.write(line + "\n")
    if not args.quiet:
        print("requirements report: %s" % os.path.join(args.out_dir, "requirements.html"))
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
