#!/usr/bin/env python3
"""Unit tests of faults.py and selftest.py's checks, on synthetic files (no build).
Their requirement IDs are TST_*, not CPL_*: the trace takes every CPL_ ID in the tree
for a citation of the spec."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults  # noqa: E402
import selftest  # noqa: E402

FAULT = """# a comment
fail: TST_X_001
row: some row
mistake: a # is kept in the mistake
allow: TST_X_002

<<< a.cpp
    int x = 1;
===
    int x = 2;
>>>
<<< a.cpp
    return x;
===
>>>
"""


def write(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def requirement(rid, level, verdict, caused_by=(), failures=()):
    return {"id": rid, "level": level, "verdict": verdict, "caused_by": list(caused_by),
            "failures": [{"test": t, "kind": "check", "message": "m"} for t in failures]}


class FaultFiles(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.src = os.path.join(self.dir, "src")
        os.makedirs(self.src)
        write(self.src, "a.cpp", "int f() {\n    int x = 1;\n    return x;\n}\n")
        write(self.src, "b.h", "// header\n")

    def tearDown(self):
        self.tmp.cleanup()

    def test_parse_and_materialize(self):
        fault = faults.parse(write(self.dir, "f.fault", FAULT))
        self.assertEqual(fault["name"], "f")
        self.assertEqual(fault["header"]["fail"], ["TST_X_001"])
        self.assertEqual(fault["header"]["allow"], ["TST_X_002"])
        self.assertEqual(fault["header"]["mistake"], "a # is kept in the mistake")
        out = os.path.join(self.dir, "out")
        files = faults.materialize(fault, self.src, out)
        self.assertEqual(files, [os.path.join(out, "a.cpp")])
        with open(files[0], encoding="utf-8") as f:
            self.assertEqual(f.read(), "int f() {\n    int x = 2;\n}\n")
        self.assertTrue(os.path.exists(os.path.join(out, "b.h")))

    def test_unchanged_copy_is_not_rewritten(self):
        fault = faults.parse(write(self.dir, "f.fault", FAULT))
        out = os.path.join(self.dir, "out")
        faults.materialize(fault, self.src, out)
        os.utime(os.path.join(out, "a.cpp"), (1, 1))
        faults.materialize(fault, self.src, out)
        self.assertEqual(os.stat(os.path.join(out, "a.cpp")).st_mtime, 1)

    def test_a_hunk_must_match_exactly_once(self):
        write(self.src, "a.cpp", "    int x = 1;\n    int x = 1;\n    return x;\n")
        fault = faults.parse(write(self.dir, "f.fault", FAULT))
        with self.assertRaisesRegex(faults.FaultError, "occurs 2 times"):
            faults.materialize(fault, self.src, os.path.join(self.dir, "out"))
        write(self.src, "a.cpp", "    return x;\n")
        with self.assertRaisesRegex(faults.FaultError, "occurs 0 times"):
            faults.materialize(fault, self.src, os.path.join(self.dir, "out"))

    def test_bad_files_are_refused(self):
        for text, message in ((FAULT.replace("fail: TST_X_001\n", ""), "needs `fail:`"),
                              (FAULT.replace("===\n    int x = 2;\n", ""), "needs text to find"),
                              (FAULT.replace("row:", "colour:"), "expected `key: value`"),
                              ("fail: CPL_X\nmistake: m\n", "no hunk")):
            with self.assertRaisesRegex(faults.FaultError, message):
                faults.parse(write(self.dir, "bad.fault", text))
        same = FAULT.replace("    int x = 2;", "    int x = 1;")
        with self.assertRaisesRegex(faults.FaultError, "changes nothing"):
            faults.apply_hunks(faults.parse(write(self.dir, "same.fault", same)), faults.read_sources(self.src))
        missing = FAULT.replace("<<< a.cpp", "<<< nope.cpp", 1)
        with self.assertRaisesRegex(faults.FaultError, "no such file"):
            faults.apply_hunks(faults.parse(write(self.dir, "m.fault", missing)), faults.read_sources(self.src))

    def test_every_fault_of_the_kit_applies(self):
        here = os.path.dirname(os.path.abspath(__file__))
        src = os.path.join(here, "..", "..", "reference", "src")
        paths = sorted(os.path.join(here, "faults", n) for n in os.listdir(os.path.join(here, "faults")))
        self.assertGreaterEqual(len(paths), 20)
        sources = faults.read_sources(src)
        for path in paths:
            with self.subTest(fault=os.path.basename(path)):
                changed = faults.apply_hunks(faults.parse(path), sources)
                self.assertNotEqual(changed, sources)


class Checks(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        # The views' own agreement is tested with the views (tools/cpkit/views);
        # here a stand-in says what they would, to test that it is acted on.
        self.view_problems = []
        self.real_consistency = selftest.consistency
        selftest.consistency = lambda report, report_dir: ["views disagree: %s" % p for p in self.view_problems]

    def tearDown(self):
        selftest.consistency = self.real_consistency
        self.tmp.cleanup()

    def judge(self, exp, reqs, status=1, fmt=2, junit="<testsuites/>"):
        report = {"format_version": fmt, "conforms": status == 0, "requirements": reqs,
                  "tests": [{"id": "c#1", "binary": "conformance", "name": "t1", "verdict": "fail",
                             "tags": ["[TST_A_001]"]}], "binaries": []}
        write(self.dir, "junit.xml", junit)
        return selftest.check(exp, status, report, self.dir)

    def fault_exp(self, fail, allow=(), roots_max=None):
        exp = {"conforms": "fault", "fail": list(fail), "allow": list(allow)}
        if roots_max is not None:
            exp["roots_max"] = str(roots_max)
        return exp

    def test_a_caught_fault_with_its_consequences(self):
        reqs = [requirement("TST_A_001", "normative", "fail", failures=["c#1"]),
                requirement("TST_B_001", "normative", "fail", caused_by=["TST_A_001"]),
                requirement("TST_C_001", "recommended", "pass")]
        problems, summary = self.judge(self.fault_exp(["TST_A_001"], roots_max=3), reqs)
        self.assertEqual(problems, [])
        self.assertIn("caught (TST_A_001 FAILED)", summary)
        self.assertIn("roots 1/3", summary)

    def test_a_fault_without_roots_max_is_judged_on_catching_only(self):
        reqs = [requirement("TST_A_001", "normative", "fail"), requirement("TST_B_001", "normative", "fail"),
                requirement("TST_C_001", "normative", "fail"), requirement("TST_D_001", "normative", "fail")]
        problems, summary = self.judge(self.fault_exp(["TST_A_001"]), reqs)
        self.assertEqual(problems, [])
        self.assertIn("roots 4", summary)

    def test_caught_runs_counts_the_runs_a_test_failed_the_requirement(self):
        report = {"tests": [
            {"run_requirements": [["TST_A_001"], [], ["TST_B_001", "TST_A_001"]]},
            {"run_requirements": [["TST_A_001"], ["TST_A_001"], []]},
            {"run_requirements": [[]]}]}
        self.assertEqual(selftest.caught_runs(report, ["TST_A_001"], 3), 3)
        self.assertEqual(selftest.caught_runs(report, ["TST_B_001"], 3), 1)
        self.assertEqual(selftest.caught_runs(report, ["TST_C_001"], 3), 0)
        self.assertEqual(selftest.caught_runs({"tests": [{"run_requirements": [["TST_A_001"]]}]},
                                              ["TST_A_001"], 5), 1)

    def test_not_caught(self):
        reqs = [requirement("TST_A_001", "normative", "pass")]
        problems, summary = self.judge(self.fault_exp(["TST_A_001"]), reqs, status=0)
        self.assertEqual(summary.split(";")[0], "NOT caught")
        self.assertIn("TST_A_001 expected to fail but is OK", problems)
        self.assertIn("validate says CONFORMS (exit 0)", problems)

    def test_a_recommended_fault_may_conform(self):
        reqs = [requirement("TST_A_001", "recommended", "fail")]
        problems, summary = self.judge(self.fault_exp(["TST_A_001"]), reqs, status=0)
        self.assertEqual(problems, [])
        self.assertIn("NON-STRICT", summary)

    def test_too_many_roots_and_dangling_causes(self):
        reqs = [requirement("TST_A_001", "normative", "fail"),
                requirement("TST_A_002", "recommended", "fail"),
                requirement("TST_A_003", "recommended", "fail", caused_by=["TST_A_009"]),
                requirement("TST_A_009", "recommended", "pass")]
        problems, _ = self.judge(self.fault_exp(["TST_A_001"], roots_max=1), reqs)
        self.assertTrue(any("2 failing requirements have no caused_by, at most 1" in p for p in problems), problems)
        self.assertTrue(any("TST_A_003 is caused_by TST_A_009, which do not fail" in p for p in problems), problems)

    def test_a_normative_root_must_be_expected(self):
        reqs = [requirement("TST_A_001", "normative", "fail"), requirement("TST_B_001", "normative", "fail")]
        problems, _ = self.judge(self.fault_exp(["TST_A_001"], roots_max=3), reqs)
        self.assertTrue(any("normative root TST_B_001" in p for p in problems), problems)
        problems, _ = self.judge(self.fault_exp(["TST_A_001"], allow=["TST_B_001"], roots_max=3), reqs)
        self.assertEqual(problems, [])

    def test_format_1_skips_attribution(self):
        reqs = [requirement("TST_A_001", "normative", "fail"), requirement("TST_B_001", "normative", "fail"),
                requirement("TST_C_001", "normative", "fail"), requirement("TST_D_001", "normative", "fail")]
        problems, summary = self.judge(self.fault_exp(["TST_A_001"]), reqs, fmt=1)
        self.assertEqual(problems, [])
        self.assertIn("format 1", summary)

    def test_views_must_agree(self):
        reqs = [requirement("TST_A_001", "normative", "fail"), requirement("TST_B_001", "normative", "pass")]
        self.view_problems = ["TST_B_001: report.json says OK, report.md says FAILED"]
        problems, _ = self.judge(self.fault_exp(["TST_A_001"]), reqs)
        self.assertIn("views disagree: TST_B_001: report.json says OK, report.md says FAILED", problems)

    def test_the_real_views_check_reads_the_report_dir(self):
        selftest.consistency = self.real_consistency
        problems = selftest.consistency({}, self.dir)  # an empty directory: nothing to agree
        self.assertTrue(problems and all(p.startswith("views disagree: ") for p in problems), problems)

    def test_a_conforming_implementation(self):
        exp = {"conforms": "yes", "fail": ["TST_R_001"], "allow": []}
        reqs = [requirement("TST_A_001", "normative", "pass"), requirement("TST_R_001", "recommended", "fail")]
        problems, summary = self.judge(exp, reqs, status=0)
        self.assertEqual(problems, [])
        self.assertIn("conforms (1 recommended NON-STRICT)", summary)
        junit = '<testsuites><testsuite><testcase name="t1"><failure message="x"/></testcase></testsuite></testsuites>'
        problems, _ = self.judge(exp, reqs, status=0, junit=junit)
        self.assertTrue(any("junit.xml has 1 <failure>" in p for p in problems), problems)
        reqs[0]["verdict"] = "fail"
        problems, _ = self.judge(exp, reqs, status=1)
        self.assertTrue(any("normative TST_A_001 FAILED" in p for p in problems), problems)

    def test_a_failed_build_is_never_judged(self):
        write(self.dir, "build.log", "x.cpp:3:1: error: expected ';'\nmake: *** [obj] Error 1\n")
        reqs = [requirement("TST_A_001", "normative", "fail")]
        problems, _ = self.judge(self.fault_exp(["TST_A_001"]), reqs)
        self.assertTrue(any(p.startswith("the implementation did not build") for p in problems), problems)

    def test_expect_files(self):
        path = write(self.dir, "e.txt", "impl: x.c  # the file\nconforms: no\nfail: TST_A_001\nfail: TST_A_002\n"
                                        "roots_max: 2\n")
        exp = selftest.read_expect(path)
        self.assertEqual((exp["impl"], exp["fail"], exp["roots_max"]), ("x.c", ["TST_A_001", "TST_A_002"], "2"))
        with self.assertRaises(ValueError):
            selftest.read_expect(write(self.dir, "bad.txt", "impl: x.c\nconforms: maybe\n"))


if __name__ == "__main__":
    unittest.main(verbosity=1)
