#!/usr/bin/env python3
"""Self-test of the coverage scripts on small made-up inputs (no build, no lcov run)."""

import io
import json
import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import citations  # noqa: E402
import coverage_check  # noqa: E402
import exclusions  # noqa: E402
import lcovinfo  # noqa: E402
import requirements_report  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
from cpkit.views import consistency  # noqa: E402
from cpkit.views import test_views as tv  # noqa: E402

ID = "CPL" + "_"

SOURCE = """\
// File comment (FAKEID_A_001): followed by a blank line, annotates nothing.

#include <x.h>

// FAKEID_A_002: a function.
int f(int* p)
{
    // FAKEID_A_003: the if body counts, not the condition.
    if (p == nullptr)
    {
        return 1;
    }
    int x = 0;  // FAKEID_A_004
    /* FAKEID_A_005 in a block
       comment */
    if (x)
        return 2;
    const char* s = "{ not a brace; }";  // FAKEID_A_006
    return s[0];
}
struct S
{
    int field;  // FAKEID_A_007: a declaration, no code
};
// FAKEID_A_008: the condition does the work
if (g(1) != 0)
{
    x = 1;
}
"""
# Requirement IDs are made at run time so that `make trace` does not take them for citations.
SOURCE = SOURCE.replace("FAKEID_", ID)
# Line numbers of SOURCE (1-based).
L_FUNC_OPEN, L_IF_BODY, L_X, L_IF2_BODY, L_S, L_RET = 7, 11, 13, 17, 18, 19


def annot(line):
    sf = citations.SourceFile(SOURCE)
    return citations.annotated(sf.code, sf.raw, line)


class CitationTest(unittest.TestCase):
    def test_file_comment_followed_by_blank_annotates_nothing(self):
        self.assertIsNone(annot(1))

    def test_function_comment_annotates_its_body(self):
        start, end, body = annot(5)
        self.assertEqual((start, end), (6, 20))
        self.assertEqual(body[0], L_FUNC_OPEN + 1)

    def test_if_comment_annotates_the_body_only(self):
        start, end, body = annot(8)
        self.assertEqual(body, [11])  # inside the braces, not line 9 (the condition)

    def test_condition_with_a_call_counts_too(self):
        self.assertEqual(annot(25), (26, 29, [26, 27, 28]))

    def test_trailing_comment_annotates_its_statement(self):
        self.assertEqual(annot(L_X), (L_X, L_X, [L_X]))

    def test_block_comment_annotates_braceless_if_body(self):
        start, end, body = annot(14)
        self.assertEqual((start, end, body), (16, 17, [L_IF2_BODY]))

    def test_braces_in_strings_are_ignored(self):
        self.assertEqual(annot(L_S), (L_S, L_S, [L_S]))

    def test_executable_lines_use_da_records(self):
        sf = citations.SourceFile(SOURCE)
        da = {6, 9, 11, 13, 16, 17, 18, 19, 20}
        self.assertEqual(sf.executable_lines(8, da), [11])
        self.assertEqual(sf.executable_lines(23, da), [])  # declaration: no code
        self.assertEqual(sf.executable_lines(1, da), [])


class ExclusionTest(unittest.TestCase):
    def test_markers_reasons_and_counts(self):
        text = "\n".join([
            "a();  // LCOV_EXCL_LINE: pthread_mutex_init cannot fail here",
            "b();  // LCOV_EXCL_LINE",
            "// LCOV_EXCL_START: defensive, the kernel never returns this",
            "c();",
            "// LCOV_EXCL_STOP",
            "d();  // LCOV_EXCL_BR_LINE delete of a pointer that is never null",
            "// LCOV_EXCL_START",
        ])
        found, problems = exclusions.scan_text("x.cpp", text)
        lines = sum(e.lines for e in found if not e.branch_only)
        self.assertEqual(lines, 1 + 1 + 3)
        self.assertEqual(sum(e.lines for e in found if e.branch_only), 1)
        self.assertEqual(len(problems), 3, problems)  # b() no reason, last START: no reason, no STOP
        self.assertTrue(any("x.cpp:2" in p for p in problems))
        self.assertTrue(any("without a STOP" in p for p in problems))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def tracefile(path, src, lines, branches=()):
    out = ["TN:", "SF:%s" % src]
    out += ["DA:%d,%d" % (ln, hits) for ln, hits in sorted(lines.items())]
    out += ["BRDA:%d,0,%d,%s" % (ln, i, "-" if t is None else t) for i, (ln, t) in enumerate(branches)]
    out += ["end_of_record", ""]
    write(path, "\n".join(out))


class LcovTest(unittest.TestCase):
    def test_parse_and_merge(self):
        with tempfile.TemporaryDirectory() as d:
            tracefile(os.path.join(d, "a.info"), "/r/x.cpp", {1: 0, 2: 3}, [(2, 0), (2, None), (2, 4)])
            files = lcovinfo.parse(os.path.join(d, "a.info"))
            self.assertEqual(lcovinfo.totals(files), (1, 2, 1, 3))
            other = lcovinfo.FileData("/r/x.cpp")
            other.add_line(1, 2)
            other.add_branch(2, "0", "0", 1)
            files["/r/x.cpp"].merge(other)
            self.assertEqual(lcovinfo.totals(files), (2, 2, 2, 3))
        self.assertEqual(lcovinfo.percent(999, 1000), 99.9)
        self.assertEqual(lcovinfo.percent(19999, 20000), 99.9)  # never rounds up to 100


class ReportTest(unittest.TestCase):
    """requirements_report and coverage_check on a fake repository."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        write(os.path.join(self.root, "reference/src/x.cpp"), SOURCE)
        src = os.path.join(self.root, "reference/src/x.cpp")

        def req(rid, level, obs, cite_line, tests):
            return {"id": rid, "title": "title " + rid, "level": level, "observability": obs,
                    "seed": "", "requirement": "", "tests": tests,
                    "implemented_at": [{"file": "reference/src/x.cpp", "line": cite_line}]}
        self.trace = os.path.join(self.root, "requirements.json")
        write(self.trace, json.dumps({"requirements": [
            req(ID + "A_002", "normative", "api", 5, [{"name": "t pass"}]),
            req(ID + "A_003", "normative", "api", 8, [{"name": "t pass"}]),        # body not run
            req(ID + "A_004", "recommended", "sys", L_X, [{"name": "t fail"}]),  # test fails
            req(ID + "A_007", "normative", "internal", 23, [{"name": "u pass"}]),  # no code
        ]}))

        # report.json (RESULTS.md section 6) of each suite, built with the views' fixtures.
        fail = tv.failure("conformance#2", ID + "A_004", "recommended", message="boom")
        conf_tests = [tv.test("conformance#1", "t pass", [ID + "A_002", ID + "A_003"], "pass"),
                      tv.test("conformance#2", "t fail", [ID + "A_004"], "fail", [fail])]
        judged = lambda tid, v: [{"test": tid, "verdict": v}]
        conf_reqs = [tv.req(ID + "A_002", "normative", "pass", "OK", tests=judged("conformance#1", "pass")),
                     tv.req(ID + "A_003", "normative", "pass", "OK", tests=judged("conformance#1", "pass")),
                     tv.req(ID + "A_004", "recommended", "fail", "NON-STRICT",
                            tests=judged("conformance#2", "fail"), failures=[fail]),
                     tv.req(ID + "A_007", "normative", "untested", "UNTESTED", obs="internal")]
        self.conf = os.path.join(self.root, "conf.json")
        write(self.conf, json.dumps(tv.report(conf_reqs, conf_tests, True)))
        unit_reqs = [dict(r, verdict="untested", word="UNTESTED", tests=[], failures=[]) for r in conf_reqs]
        unit_tests = [tv.test("unit#1", "u pass", [ID + "A_007"], "pass", binary="unit")]
        self.unit = os.path.join(self.root, "unit.json")
        write(self.unit, json.dumps(tv.report(unit_reqs, unit_tests, True)))
        # Conformance runs the function but not the if body; unit runs the body.
        self.conf_info = os.path.join(self.root, "conf.info")
        tracefile(self.conf_info, src, {7: 1, 9: 1, 11: 0, 13: 1, 19: 1}, [(9, 0), (9, 1)])
        self.unit_info = os.path.join(self.root, "unit.info")
        tracefile(self.unit_info, src, {7: 1, 9: 1, 11: 1, 13: 1, 19: 1}, [(9, 1), (9, 0)])

    def tearDown(self):
        self.tmp.cleanup()

    def run_report(self, *extra):
        out_dir = os.path.join(self.root, "out")
        buf = io.StringIO()
        with redirect_stdout(buf):
            rc = requirements_report.main(["--root", self.root, "--requirements", self.trace,
                                           "--out-dir", out_dir] + list(extra))
        self.assertEqual(rc, 0)
        with open(os.path.join(out_dir, "requirements.md"), encoding="utf-8") as f:
            md = f.read()
        with open(os.path.join(out_dir, "requirements.html"), encoding="utf-8") as f:
            page = f.read()
        return rc, buf.getvalue(), md, page

    def test_without_line_data(self):
        rc, out, md, page = self.run_report("--report", self.conf)
        self.assertEqual(rc, 0)
        # The validation's own view: report.json's summary and words, no line data.
        self.assertIn("requirements: normative 2/2 pass, recommended 0/1 pass, internal 0/1 pass", out)
        with open(self.conf, encoding="utf-8") as f:
            report = json.load(f)
        self.assertEqual(requirements_report.req_view.render(report), (md, page))
        # Not OK first: the recommended failure before the passing normative ones.
        self.assertLess(md.index("| " + ID + "A_004 | recommended | api | NON-STRICT"), md.index("| " + ID + "A_002"))
        self.assertNotIn("x.cpp", md)
        out_dir = os.path.join(self.root, "out")
        problems = []
        consistency._check_markdown(os.path.join(out_dir, "requirements.md"), report,
                                    {r["id"]: r["word"] for r in report["requirements"]}, problems, True)
        self.assertEqual(problems, [])

    def test_with_line_data(self):
        rc, out, md, page = self.run_report(
            "--report", "conformance=" + self.conf, "--report", "unit=" + self.unit,
            "--suite", "conformance=" + self.conf_info, "--suite", "properties=" + self.conf_info,
            "--suite", "unit=" + self.unit_info)
        self.assertEqual(rc, 0)
        self.assertIn("**Only the property tests reach**: none.", md)
        # A_003's body ran only in the unit tests: covered (combined), ran by U only.
        # A_007 is internal: no suite judges it, its unit test passed, its citation has no code.
        self.assertIn("requirements: normative covered 2/2, recommended 0/1, internal 1/1", out)
        self.assertIn("x.cpp:8 ran (U)", md)
        self.assertIn("x.cpp:23 (no code)", md)
        self.assertIn("Only the reference unit tests reach", md)
        self.assertIn("`reference/src/x.cpp:11`", md)
        self.assertIn("| %sA_004 | recommended | api | NON-STRICT | UNTESTED |" % ID, md)
        ET.fromstring(page)

    def test_code_not_run_makes_it_uncovered(self):
        rc, out, md, _ = self.run_report("--requirements", self.trace, "--report", self.conf,
                                         "--suite", "conformance=" + self.conf_info)
        self.assertIn("normative covered 1/2", out)
        self.assertIn("## Not covered (3)\n\n%sA_003, %sA_004, %sA_007" % (ID, ID, ID), md)
        self.assertIn("x.cpp:8 NOT RUN", md)

    def check(self, *extra):
        buf = io.StringIO()
        with redirect_stdout(buf):
            rc = coverage_check.main(["--root", self.root, "--suite", "conformance=" + self.conf_info,
                                      "--suite", "unit=" + self.unit_info,
                                      "--md", os.path.join(self.root, "out", "coverage.md")] + list(extra))
        return rc, buf.getvalue()

    def test_thresholds(self):
        rc, out = self.check()
        self.assertEqual(rc, 0, out)
        self.assertTrue(out.rstrip().endswith(
            "coverage: lines 100.0% (5/5), branches 100.0% (2/2), excluded 0 lines"), out)
        rc, out = self.check("--report", "conformance=" + self.conf)
        self.assertEqual(rc, 1)
        self.assertIn("1 test(s) failed", out)

    def test_below_threshold_lists_the_lines(self):
        os.remove(self.unit_info)
        tracefile(self.unit_info, os.path.join(self.root, "reference/src/x.cpp"), {7: 1, 9: 1, 11: 0, 13: 1, 19: 1},
                  [(9, 1), (9, 0)])
        rc, out = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("reference/src/x.cpp:11  return 1;", out)
        self.assertIn("lines 80.0% (4/5)", out)


if __name__ == "__main__":
    unittest.main(verbosity=1)
