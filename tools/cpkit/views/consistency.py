"""Read every view file back and confirm it says what report.json says.

    check(report_dir) -> [problems]   (empty: consistent)

Checked: the headline verdict of report.md, report.html, requirements.md and
requirements.html; the verdict word of every requirement in their requirement tables
(each requirement exactly once); the summary counts of report.md; junit.xml's <failure>
and <error> test cases against the tests that should be ones, and its counts.
"""

import json
import os
import re
import xml.etree.ElementTree as ET

from . import model

_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


def _md_cells(line):
    cells = _CELL_SPLIT.split(line.strip())[1:-1]
    return [re.sub(r"\\(.)", r"\1", c.strip()).strip("`").strip() for c in cells]


def md_tables(text):
    """[(header cells, [row cells])] of every Markdown table."""
    tables, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and _SEPARATOR.match(lines[i + 1]):
            header = _md_cells(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_md_cells(lines[i]))
                i += 1
            tables.append((header, rows))
        else:
            i += 1
    return tables


def _text(el):
    return "".join(el.itertext()).strip()


def html_tables(root):
    out = []
    for table in root.iter("table"):
        header = [_text(th) for th in table.iter("th")]
        rows = [[_text(td) for td in tr.findall("td")] for tr in table.iter("tr") if tr.findall("td")]
        out.append((header, rows))
    return out


def _words_from(tables, where, problems):
    """{id: word} from the table(s) with a `requirement` and a `verdict` column."""
    found = {}
    for header, rows in tables:
        if "requirement" not in header or "verdict" not in header:
            continue
        ci, cv = header.index("requirement"), header.index("verdict")
        for row in rows:
            if len(row) != len(header):
                problems.append("%s: a row of the requirement table has %d cells, not %d: %r"
                                % (where, len(row), len(header), row[:2]))
                continue
            rid = row[ci].split()[0] if row[ci] else ""
            if rid in found:
                problems.append("%s: %s appears twice in the requirement table" % (where, rid))
            found[rid] = row[cv]
    return found


def _compare_words(expected, found, where, problems):
    if not found:
        problems.append("%s: no requirement table with a verdict column" % where)
        return
    for rid, w in expected.items():
        if rid not in found:
            problems.append("%s: %s is missing from the requirement table" % (where, rid))
        elif found[rid] != w:
            problems.append("%s: %s says %s, report.json says %s" % (where, rid, found[rid], w))
    for rid in sorted(set(found) - set(expected)):
        problems.append("%s: %s is not in report.json" % (where, rid))


def _headline(title, report, where, problems):
    want = model.headline(report)
    if not title.rstrip().endswith("— " + want):
        problems.append("%s: headline %r does not end with %s" % (where, title, want))


def _read(path, problems):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        problems.append("%s: cannot read: %s" % (os.path.basename(path), e))
        return None


def _check_markdown(path, report, expected, problems, summary):
    text = _read(path, problems)
    if text is None:
        return
    name = os.path.basename(path)
    first = text.split("\n", 1)[0]
    if not first.startswith("# "):
        problems.append("%s: no title line" % name)
    _headline(first, report, name, problems)
    tables = md_tables(text)
    _compare_words(expected, _words_from(tables, name, problems), name, problems)
    if summary:
        _check_summary(tables, report, name, problems)


def _check_summary(tables, report, where, problems):
    s = report.get("summary") or {}
    for header, rows in tables:
        if header[:1] != ["requirements"]:
            continue
        for row in rows:
            level = row[0]
            for key, cell in zip(header[1:], row[1:]):
                want = (s.get(level) or {}).get(key, 0)
                if cell != str(want):
                    problems.append("%s: summary %s %s is %s, report.json says %s"
                                    % (where, level, key, cell, want))
        return
    problems.append("%s: no summary table" % where)


def _check_html(path, report, expected, problems):
    text = _read(path, problems)
    if text is None:
        return
    name = os.path.basename(path)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        problems.append("%s: not well-formed: %s" % (name, e))
        return
    h1 = root.find(".//h1")
    _headline(_text(h1) if h1 is not None else "", report, name, problems)
    _compare_words(expected, _words_from(html_tables(root), name, problems), name, problems)


def _check_junit(path, report, problems):
    text = _read(path, problems)
    if text is None:
        return
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        problems.append("junit.xml: not well-formed: %s" % e)
        return
    want_fail = {(model.classname(t), model.junit_name(t)) for t in report.get("tests") or []
                 if model.junit_failure(t, report)}
    want_err = {(model.classname(t), model.junit_name(t)) for t in report.get("tests") or []
                if model.junit_error(t)}
    got_fail, got_err, n_cases = set(), set(), 0
    for case in root.iter("testcase"):
        key = (case.get("classname"), case.get("name"))
        n_cases += 1
        if case.get("classname") == "cpkit.build" or case.get("name") == "(the test binary runs)":
            continue
        if case.find("failure") is not None:
            got_fail.add(key)
        if case.find("error") is not None:
            got_err.add(key)
    for label, want, got in (("failure", want_fail, got_fail), ("error", want_err, got_err)):
        for key in sorted(want - got):
            problems.append("junit.xml: %s should be a <%s>" % (key[1], label))
        for key in sorted(got - want):
            problems.append("junit.xml: %s is a <%s>, report.json says it should not be" % (key[1], label))
    build_failed = (report.get("build") or {}).get("status") == "impl-failed"
    has_build_case = any(c.get("classname") == "cpkit.build" and c.find("failure") is not None
                         for c in root.iter("testcase"))
    if build_failed != has_build_case:
        problems.append("junit.xml: build status %s but %s build failure" % (
            (report.get("build") or {}).get("status"), "a" if has_build_case else "no"))
    n_tests = len(report.get("tests") or [])
    extra = sum(1 for c in root.iter("testcase")
                if c.get("classname") == "cpkit.build" or c.get("name") == "(the test binary runs)")
    if n_cases - extra != n_tests:
        problems.append("junit.xml: %d test cases for %d tests" % (n_cases - extra, n_tests))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        counts = {"tests": len(cases), "failures": sum(c.find("failure") is not None for c in cases),
                  "errors": sum(c.find("error") is not None for c in cases)}
        for k, v in counts.items():
            totals[k] += v
            if suite.get(k) != str(v):
                problems.append("junit.xml: testsuite %s says %s=%s, it holds %d"
                                % (suite.get("name"), k, suite.get(k), v))
    for k, v in totals.items():
        if root.get(k) != str(v):
            problems.append("junit.xml: testsuites says %s=%s, its suites hold %d" % (k, root.get(k), v))


def check_report(report_dir, report):
    problems = []
    expected = {r["id"]: model.word(r) for r in report.get("requirements") or []}
    _check_markdown(os.path.join(report_dir, "report.md"), report, expected, problems, True)
    _check_markdown(os.path.join(report_dir, "requirements.md"), report, expected, problems, True)
    _check_html(os.path.join(report_dir, "report.html"), report, expected, problems)
    _check_html(os.path.join(report_dir, "requirements.html"), report, expected, problems)
    _check_junit(os.path.join(report_dir, "junit.xml"), report, problems)
    return problems


def check(report_dir):
    """[problems] of the views in report_dir against its report.json."""
    try:
        with open(os.path.join(report_dir, "report.json"), encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        return ["report.json: cannot read: %s" % e]
    return check_report(report_dir, report)
