#!/usr/bin/env python3
"""Self-test of the report views on synthetic report.json objects (RESULTS.md section 6).

Run: python3 tools/cpkit/views/test_views.py
"""

import copy
import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from cpkit import views  # noqa: E402
from cpkit.views import consistency, doc, junit, model, requirements  # noqa: E402

RECV = "CPL_RECV_005"      # normative, fails first (root)
DECREF = "CPL_DECREF_003"  # normative, a consequence of RECV
ADD = "CPL_ADD_007"        # normative, passes
SEND = "CPL_SEND_001"      # normative, inconclusive
LATE = "CPL_DECREF_009"    # recommended
EXIT = "CPL_DECREF_010"    # recommended
WORKER = "CPL_WORKER_005"  # internal

ODD = "pipe | lt < amp & tick ` fence ``` and\nsecond line <b>bold</b>"


def req(rid, level, verdict, word, obs="api", tests=(), failures=(), caused_by=(), consequences=()):
    return {"id": rid, "title": "title of " + rid, "section": "s", "section_number": 1,
            "level": level, "observability": obs, "seed": "\"the seed sentence of %s\"" % rid,
            "verdict": verdict, "word": word, "caused_by": list(caused_by),
            "consequences": list(consequences), "tests": list(tests), "failures": list(failures)}


def failure(test, rid, level, kind="check", after=None, **extra):
    f = {"test": test, "requirement": rid, "level": level, "source": "violation", "kind": kind,
         "phase": "body", "check": "CHECK( n == 12 )", "expanded": "7 == 12",
         "message": "", "info": "sent 12 bytes", "file": "conformance/tests/recv_test.cpp",
         "line": 42, "trace": "", "replay": "", "after": after}
    f.update(extra)
    return f


def test(tid, name, rids, verdict, failures=(), binary="conformance"):
    return {"id": tid, "binary": binary, "name": name, "tags": ["[%s]" % r for r in rids],
            "requirements": list(rids), "section": "s", "verdict": verdict, "seconds": 0.25,
            "runs": 1, "failed_runs": 0 if verdict == "pass" else 1,
            "rerun": "build/validate/x/bin/%s \"%s\"" % (binary, name), "failures": list(failures),
            "files": {}}


def summary(reqs, tests):
    out = {}
    for lv in model.LEVELS:
        rs = [r for r in reqs if model.category(r) == lv]
        out[lv] = {v: sum(1 for r in rs if r["verdict"] == v) for v in model.VERDICTS}
        out[lv]["total"] = len(rs)
        out[lv]["roots"] = sum(1 for r in rs if r["verdict"] == "fail" and not r["caused_by"])
    out["tests"] = {"passed": sum(1 for t in tests if t["verdict"] == "pass"),
                    "failed": sum(1 for t in tests if t["verdict"] == "fail"),
                    "kit_errors": sum(1 for t in tests if t["verdict"] == "kit-error"), "total": len(tests)}
    return out


def report(reqs, tests, conforms, strict=False, kit_errors=(), build=None, warnings=()):
    return {"format_version": 2, "kit": {"name": "cpkit", "version": "9.9"},
            "implementation": {"name": "impl", "files": ["impl.c"], "kind": "sources"},
            "date": "2026-12-01T09:00:00+00:00", "seconds": 3.5, "jobs": 2, "timeout": 30,
            "strict": strict, "selection": None, "hang": None,
            "outcome": "conforms" if conforms else "does-not-conform", "conforms": conforms,
            "exit_status": 0 if conforms else 1, "summary": summary(reqs, tests),
            "requirements": reqs, "tests": tests, "kit_errors": list(kit_errors),
            "binaries": [{"name": "conformance", "path": "bin/conformance", "tests": len(tests), "error": None}],
            "build": build or {"status": "ok", "errors": [], "log": "build.log"},
            "warnings": list(warnings)}


def conforming():
    tests = [test("conformance#1", "add: a valid add returns 0", [ADD], "pass"),
             test("conformance#2", "recv: short reads", [RECV], "pass")]
    reqs = [req(ADD, "normative", "pass", "OK", tests=[{"test": "conformance#1", "verdict": "pass"}]),
            req(RECV, "normative", "pass", "OK", tests=[{"test": "conformance#2", "verdict": "pass"}]),
            req(WORKER, "normative", "untested", "UNTESTED", obs="internal")]
    return report(reqs, tests, True)


def non_conforming():
    f_recv = failure("conformance#2", RECV, "normative", message="short read not continued")
    f_dec = failure("conformance#2", DECREF, "normative", kind="leak", phase="guard", check="", expanded="",
                    message="1 descriptor left open", after=RECV, source="rule")
    f_late = failure("conformance#3", LATE, "recommended", check="CHECK( took <= 100 )",
                     expanded="2002 <= 100")
    tests = [test("conformance#1", "add: a valid add returns 0", [ADD], "pass"),
             test("conformance#2", "recv: short reads are continued", [RECV, DECREF], "fail", [f_recv, f_dec]),
             test("conformance#3", "dec_ref: the final dec_ref is prompt", [LATE], "fail", [f_late]),
             test("conformance#4", "send: a send completes", [SEND], "fail",
                  [failure("conformance#4", ADD, "normative")])]
    tests[3]["failures"][0]["after"] = None
    reqs = [req(ADD, "normative", "fail", "FAILED",
                tests=[{"test": "conformance#1", "verdict": "pass"}, {"test": "conformance#4", "verdict": "fail"}],
                failures=[tests[3]["failures"][0]]),
            req(RECV, "normative", "fail", "FAILED", tests=[{"test": "conformance#2", "verdict": "fail"}],
                failures=[f_recv], consequences=[DECREF]),
            req(DECREF, "normative", "fail", "FAILED", tests=[{"test": "conformance#2", "verdict": "fail"}],
                failures=[f_dec], caused_by=[RECV]),
            req(SEND, "normative", "inconclusive", "INCONCLUSIVE",
                tests=[{"test": "conformance#4", "verdict": "not-blamed"}]),
            req(LATE, "recommended", "fail", "NON-STRICT", tests=[{"test": "conformance#3", "verdict": "fail"}],
                failures=[f_late]),
            req(WORKER, "normative", "untested", "UNTESTED", obs="internal")]
    return report(reqs, tests, False)


def non_strict_only(strict=False):
    f_late = failure("conformance#3", LATE, "recommended", check="CHECK( took <= 100 )", expanded="2002 <= 100")
    tests = [test("conformance#1", "add: a valid add returns 0", [ADD], "pass"),
             test("conformance#3", "dec_ref: the final dec_ref is prompt", [LATE], "fail", [f_late])]
    reqs = [req(ADD, "normative", "pass", "OK", tests=[{"test": "conformance#1", "verdict": "pass"}]),
            req(LATE, "recommended", "fail", "NON-STRICT", tests=[{"test": "conformance#3", "verdict": "fail"}],
                failures=[f_late])]
    return report(reqs, tests, not strict, strict=strict)


def with_kit_error():
    tests = [test("conformance#1", "add: a valid add returns 0", [ADD], "pass"),
             test("conformance#5", "send: many sockets", [SEND], "kit-error")]
    reqs = [req(ADD, "normative", "pass", "OK", tests=[{"test": "conformance#1", "verdict": "pass"}]),
            req(SEND, "normative", "inconclusive", "INCONCLUSIVE",
                tests=[{"test": "conformance#5", "verdict": "kit-error"}])]
    errs = [{"test": "conformance#5", "message": "socketpair failed: EMFILE",
             "file": "conformance/harness/sockets.cpp", "line": 77}]
    return report(reqs, tests, False, kit_errors=errs)


def build_failed():
    errs = ["impl.c:12:3: error: 'x' undeclared", "impl.c:20:1: error: expected ';'"]
    fb = lambda rid: {"test": None, "requirement": rid, "level": "normative", "source": "rule", "kind": "build",
                      "phase": "setup", "message": "\n".join(errs), "after": None}
    reqs = [req(ADD, "normative", "fail", "FAILED", failures=[fb(ADD)]),
            req(RECV, "normative", "fail", "FAILED", failures=[fb(RECV)])]
    r = report(reqs, [], False, build={"status": "impl-failed", "errors": errs, "log": "build.log"})
    r["binaries"][0]["error"] = "bin/conformance: no such file"
    return r


def property_failure():
    trace = "2 socket pair(s):\n  s0: unix\n3 step(s):\n  1. add recv s0\n  2. peer write s0\n  3. dec_ref"
    msg = ("property falsified: p / exactly once\nafter 3 passing case(s)\n\n"
           "%s: s0's recv completed twice\n\nsmallest failing case found:\n%s" % (RECV, trace))
    f = failure("property_tests#1", RECV, "normative", kind="property", check="", expanded="", message=msg,
                trace=trace, replay="RC_PARAMS=\"reproduce=BsEcy9G\" bin/property_tests \"p\"",
                info="x" * 1200 + " END-OF-INFO")
    tests = [test("property_tests#1", "property: exactly once", [RECV], "fail", [f], binary="property_tests")]
    reqs = [req(RECV, "normative", "fail", "FAILED", tests=[{"test": "property_tests#1", "verdict": "fail"}],
                failures=[f])]
    return report(reqs, tests, False)


def odd_characters():
    r = non_conforming()
    for t in r["tests"]:
        for f in t["failures"]:
            f["message"] = ODD
            f["expanded"] = "a | b < c & `d`"
    for q in r["requirements"]:
        q["title"] = "title | with <odd> & `chars`"
        for f in q["failures"]:
            f["message"] = ODD
            f["expanded"] = "a | b < c & `d`"
    r["tests"][1]["name"] = "recv: a | b & <c> `d`"
    r["warnings"] = ["warn | < & `x`\nline two"]
    return r


class WellFormed(HTMLParser):
    """Fails on a closing tag that does not close the innermost open one."""
    VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self):
        super().__init__()
        self.stack = []
        self.errors = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes %s" % (tag, self.stack[-1:] or "nothing"))
        else:
            self.stack.pop()


class ViewsTest(unittest.TestCase):
    def write(self, rep):
        d = tempfile.mkdtemp(prefix="views-")
        self.addCleanup(lambda: __import__("shutil").rmtree(d, ignore_errors=True))
        import json
        with open(os.path.join(d, "report.json"), "w", encoding="utf-8") as f:
            json.dump(rep, f)
        paths = views.write_all(d, rep)
        files = {}
        for p in paths:
            with open(p, encoding="utf-8") as f:
                files[os.path.basename(p)] = f.read()
        return d, files

    def assertConsistent(self, rep):
        d, files = self.write(rep)
        self.assertEqual(consistency.check(d), [])
        for name in ("report.html", "requirements.html"):
            ET.fromstring(files[name])  # well-formed XML
            p = WellFormed()
            p.feed(files[name])
            p.close()
            self.assertEqual((p.errors, p.stack), ([], []), name)
            self.assertNotIn("<link", files[name])
            self.assertNotIn("src=", files[name])
        return d, files

    def junit_cases(self, text):
        root = ET.fromstring(text)
        return root, {c.get("name"): c for c in root.iter("testcase")}

    def test_conforming(self):
        _, files = self.assertConsistent(conforming())
        md = files["report.md"]
        self.assertTrue(md.startswith("# completion_port_linux conformance: impl — CONFORMS\n"))
        self.assertIn("cpkit 9.9", md)
        self.assertIn("2026-12-01T09:00:00+00:00", md)
        self.assertIn("| normative | 2 | 0 | 0 | 0 | 2 | 0 |", md)
        self.assertIn("Exit status 0: conforms", md)
        self.assertIn("## FAILED — normative requirements (0: 0 roots)\n\nNone.", md)
        root, _ = self.junit_cases(files["junit.xml"])
        self.assertEqual((root.get("tests"), root.get("failures"), root.get("errors")), ("2", "0", "0"))
        self.assertTrue(files["requirements.md"].startswith("# Requirement coverage: impl — CONFORMS"))
        self.assertNotIn("reference/src", files["requirements.md"])

    def test_roots_and_consequences(self):
        _, files = self.assertConsistent(non_conforming())
        md = files["report.md"]
        self.assertIn("— DOES NOT CONFORM\n", md.split("\n", 1)[0] + "\n")
        failed = md[md.index("## FAILED"):md.index("## NON-STRICT")]
        # DECREF_003 is a consequence: no entry of its own, one line under its root.
        self.assertIn("### FAILED `%s`" % RECV, failed)
        self.assertNotIn("### FAILED `%s`" % DECREF, failed)
        self.assertIn("**1 probably a consequence of %s**" % RECV, failed)
        self.assertIn("FAILED %s — title of %s: `1 descriptor left open`" % (DECREF, DECREF), failed)
        self.assertIn("Seed: \"the seed sentence of %s\"" % RECV, failed)
        self.assertIn("Expected: `CHECK( n == 12 )`", failed)
        self.assertIn("Actual: `7 == 12`", failed)
        self.assertIn("At `conformance/tests/recv_test.cpp:42`", failed)
        self.assertIn("  ```sh\n  build/validate/x/bin/conformance \"recv: short reads are continued\"\n  ```", failed)
        self.assertIn("(3: 2 roots)", failed)
        nonstrict = md[md.index("## NON-STRICT"):md.index("## INCONCLUSIVE")]
        self.assertIn("### NON-STRICT `%s`" % LATE, nonstrict)
        self.assertIn("`%s` (normative)" % SEND, md[md.index("## INCONCLUSIVE"):])
        row = next(ln for ln in md.split("\n") if ln.startswith("| %s |" % DECREF))
        self.assertEqual(row, "| %s | normative | api | FAILED | 0/1 | %s | title of %s |" % (DECREF, RECV, DECREF))
        html = files["report.html"]
        self.assertIn("<details><summary>1 probably a consequence of %s</summary>" % RECV, html)
        root, cases = self.junit_cases(files["junit.xml"])
        self.assertIsNotNone(cases["recv: short reads are continued [%s %s]" % (RECV, DECREF)].find("failure"))
        self.assertEqual(cases["send: a send completes [%s]" % SEND].get("classname"), "cpkit.send")
        self.assertIsNone(cases["dec_ref: the final dec_ref is prompt [%s]" % LATE].find("failure"))
        self.assertEqual(root.get("failures"), "2")
        self.assertIn("rerun: build/validate/x/bin/conformance",
                      cases["recv: short reads are continued [%s %s]" % (RECV, DECREF)].find("failure").text)
        req_md = files["requirements.md"]
        # Not-OK requirements first.
        self.assertLess(req_md.index("| %s |" % SEND), req_md.index("| %s |" % WORKER))

    def test_non_strict_only(self):
        _, files = self.assertConsistent(non_strict_only())
        self.assertIn("— CONFORMS", files["report.md"].split("\n")[0])
        root, cases = self.junit_cases(files["junit.xml"])
        self.assertEqual(root.get("failures"), "0")
        case = cases["dec_ref: the final dec_ref is prompt [%s]" % LATE]
        self.assertIsNone(case.find("failure"))
        self.assertIn("NON-STRICT", case.find("system-out").text)
        _, files = self.assertConsistent(non_strict_only(strict=True))
        root, cases = self.junit_cases(files["junit.xml"])
        self.assertEqual(root.get("failures"), "1")
        self.assertIsNotNone(cases["dec_ref: the final dec_ref is prompt [%s]" % LATE].find("failure"))
        self.assertIn("STRICT=1", files["report.md"])

    def test_kit_errors(self):
        _, files = self.assertConsistent(with_kit_error())
        md = files["report.md"]
        section = md[md.index("## Kit errors (1)"):]
        self.assertIn("the kit's fault, not the implementation's", section)
        self.assertIn("socketpair failed: EMFILE", section)
        self.assertIn("conformance/harness/sockets.cpp:77", section)
        root, cases = self.junit_cases(files["junit.xml"])
        self.assertEqual((root.get("errors"), root.get("failures")), ("1", "0"))
        self.assertIn("kit's fault", cases["send: many sockets [%s]" % SEND].find("error").text)

    def test_build_failure(self):
        _, files = self.assertConsistent(build_failed())
        md = files["report.md"]
        self.assertIn("## Build errors", md)
        self.assertIn("impl.c:12:3: error: 'x' undeclared\nimpl.c:20:1: error: expected ';'", md)
        self.assertIn("The implementation did not build: see Build errors below.", md)
        self.assertLess(md.index("## Kit errors"), md.index("## Build errors"))
        self.assertNotIn("Test **None**", md)
        root, cases = self.junit_cases(files["junit.xml"])
        self.assertEqual(root.get("failures"), "1")
        self.assertIn("undeclared", cases[junit.BUILD_CASE[1]].find("failure").text)
        self.assertIsNotNone(cases["(the test binary runs)"].find("error"))

    def test_property_failure(self):
        _, files = self.assertConsistent(property_failure())
        md = files["report.md"]
        self.assertIn("First failing step: `%s: s0's recv completed twice`" % RECV, md)
        self.assertIn("Shrunk trace:\n\n  ```\n  2 socket pair(s):\n    s0: unix\n", md)
        self.assertIn("Replay: `RC_PARAMS=\"reproduce=BsEcy9G\" bin/property_tests \"p\"`", md)
        self.assertIn("x" * 1200 + " END-OF-INFO", md)  # INFO in full, never cut
        self.assertIn("x" * 1200 + " END-OF-INFO", files["report.html"])
        self.assertIn("property falsified: p / exactly once\n  after 3 passing case(s)", md)

    def test_long_trace_is_folded_in_html_and_whole_in_markdown(self):
        rep = property_failure()
        steps = "\n".join("  %d. peer write s0" % i for i in range(1, 21))
        rep["requirements"][0]["failures"][0]["trace"] = steps
        _, files = self.assertConsistent(rep)
        self.assertIn("<details><summary>Shrunk trace (20 lines)</summary>\n<pre>  1. peer write s0", files["report.html"])
        self.assertIn("20. peer write s0</pre>\n</details>", files["report.html"])
        self.assertIn("**Shrunk trace (20 lines)**", files["report.md"])
        self.assertIn("    20. peer write s0\n  ```", files["report.md"])

    def test_odd_characters(self):
        rep = odd_characters()
        _, files = self.assertConsistent(rep)
        md = files["report.md"]
        # A message with a ``` inside gets a longer fence, and stays whole.
        self.assertIn("  ````\n  " + ODD.replace("\n", "\n  ") + "\n  ````", md)
        row = next(ln for ln in md.split("\n") if ln.startswith("| %s |" % RECV))
        self.assertIn("title \\| with \\<odd> & \\`chars\\`", row)
        self.assertNotIn("<b>bold</b>", files["report.html"])
        self.assertIn("&lt;b&gt;bold&lt;/b&gt;", files["report.html"])
        root, cases = self.junit_cases(files["junit.xml"])
        self.assertIn("recv: a | b & <c> `d` [%s %s]" % (RECV, DECREF), cases)
        self.assertIn(ODD, cases["recv: a | b & <c> `d` [%s %s]" % (RECV, DECREF)].find("failure").text)

    def test_control_characters_keep_html_parseable(self):
        rep = non_conforming()
        rep["requirements"][1]["failures"][0]["message"] = "\x1b[1mred\x1b[0m\x00"
        _, files = self.assertConsistent(rep)
        self.assertIn("\\x1b[1mred", files["report.html"])

    def test_absent_optional_fields(self):
        rep = non_conforming()
        for key in ("kit", "hang", "selection", "build", "warnings", "kit_errors", "binaries", "seconds"):
            rep.pop(key)
        for r in rep["requirements"]:
            r.pop("word")
            r.pop("consequences")
        self.assertConsistent(rep)

    def test_consistency_catches_a_disagreement(self):
        rep = non_conforming()
        d, files = self.write(rep)
        path = os.path.join(d, "requirements.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write(files["requirements.md"].replace("| %s | normative | api | FAILED |" % DECREF,
                                                     "| %s | normative | api | OK |" % DECREF))
        with open(os.path.join(d, "report.html"), "w", encoding="utf-8") as f:
            f.write(files["report.html"].replace("DOES NOT CONFORM", "CONFORMS"))
        strict = copy.deepcopy(rep)
        strict["strict"] = True
        with open(os.path.join(d, "junit.xml"), "w", encoding="utf-8") as f:
            f.write(junit.render(strict))
        problems = consistency.check(d)
        self.assertIn("requirements.md: %s says OK, report.json says FAILED" % DECREF, problems)
        self.assertTrue(any(p.startswith("report.html: headline") for p in problems), problems)
        self.assertIn("junit.xml: dec_ref: the final dec_ref is prompt [%s] is a <failure>, report.json "
                      "says it should not be" % LATE, problems)
        self.assertEqual(len(problems), 3, problems)

    def test_consistency_catches_a_missing_row_and_bad_counts(self):
        rep = conforming()
        d, files = self.write(rep)
        md = "\n".join(ln for ln in files["report.md"].split("\n") if not ln.startswith("| %s |" % ADD))
        with open(os.path.join(d, "report.md"), "w", encoding="utf-8") as f:
            f.write(md.replace("| normative | 2 |", "| normative | 3 |"))
        problems = consistency.check(d)
        self.assertIn("report.md: %s is missing from the requirement table" % ADD, problems)
        self.assertIn("report.md: summary normative pass is 3, report.json says 2", problems)

    def test_markdown_code_span_with_backticks(self):
        self.assertEqual(doc.md_inline([("code", "a `b` c")]), "``a `b` c``")
        self.assertEqual(doc.md_inline([("code", "`x`")]), "`` `x` ``")

    def test_requirements_coverage_rule(self):
        conf, unit = conforming(), conforming()
        unit["tests"] = [test("unit#1", "worker: internal", [WORKER], "pass", binary="unit")]
        for r in unit["requirements"]:
            if r["id"] != WORKER:
                r.update(verdict="untested", word="UNTESTED", tests=[])
        md, page, counts = requirements.render_coverage([("conformance", conf), ("unit", unit)])
        self.assertEqual(counts["normative"], {"covered": 2, "total": 2})
        self.assertEqual(counts["internal"], {"covered": 1, "total": 1})
        unit["tests"][0]["verdict"] = "fail"
        _, _, counts = requirements.render_coverage([("conformance", conf), ("unit", unit)])
        self.assertEqual(counts["internal"], {"covered": 0, "total": 1})
        ET.fromstring(page)


if __name__ == "__main__":
    unittest.main(verbosity=1)
