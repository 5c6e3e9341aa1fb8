#!/usr/bin/env python3
"""Self-test of the cpkit tools (unittest, standard library only). Run by `make tools-check`.

trace.py runs against small synthetic repositories built in a temporary directory. The
verdict engine runs on hand-written failures (each attribution rule, root causes, cycle
breaking, exit statuses) and, through validate.py, on the fixture binary built from
tools/fixtures/ (TOOLS_FIXTURE_BIN), which writes real result records with the harness's
verdict.cpp and listener.cpp. Build failures use a small makefile of their own. IDs that
must be unknown to the real spec are assembled at run time so that this file itself never
cites them (trace scans it).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)
from cpkit import catch2 as cpkit_catch2  # noqa: E402
from cpkit import report as cpkit_report  # noqa: E402
from cpkit import build as cpkit_build  # noqa: E402
from cpkit import results as cpkit_results  # noqa: E402
from cpkit import sources as cpkit_sources  # noqa: E402
from cpkit import spec as cpkit_spec  # noqa: E402
from cpkit import verdict as cpkit_verdict  # noqa: E402

FIXTURE = os.environ.get("TOOLS_FIXTURE_BIN")
SCRATCH = os.environ.get("TOOLS_SELFTEST_DIR") or os.path.join(ROOT, "build", "tools-selftest")
UNKNOWN_ID = "CPL_" + "NOPE_" + "001"


def scratch_dir(test):
    os.makedirs(SCRATCH, exist_ok=True)
    d = os.path.abspath(tempfile.mkdtemp(prefix="tmp-", dir=SCRATCH))
    test.addCleanup(shutil.rmtree, d, True)
    return d


def spec_text(reqs):
    """A spec in the real format. reqs: [(id, level, observability, seed)]."""
    out = ["# synthetic spec", "", "## How to read a requirement", "", "- **Level** — prose, not a field", ""]
    sections = {}
    for rid, level, obs, seed in reqs:
        sections.setdefault(rid.split("_")[1], []).append((rid, level, obs, seed))
    for n, (name, items) in enumerate(sections.items(), 1):
        out += ["## %d. %s" % (n, name.lower()), ""]
        for rid, level, obs, seed in items:
            out += ["#### %s: title of %s" % (rid, rid), "- **Level:** " + level,
                    "- **Observability:** " + obs, "- **Seed:** " + seed,
                    "- **Requirement:** what %s checks." % rid]
            if seed == "—":
                out.append("- **Why:** a clarification.")
            out.append("")
    out += ["## Informational notes (not requirements)", "", "- **N1 — a note.** Text.", ""]
    return "\n".join(out)


def write(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


class SpecTest(unittest.TestCase):
    def test_real_spec_parses(self):
        reqs = cpkit_spec.load_spec(os.path.join(ROOT, cpkit_spec.SPEC_RELPATH))
        self.assertGreater(len(reqs), 50)
        self.assertEqual(len({r["id"] for r in reqs}), len(reqs))
        for r in reqs:
            self.assertIn(r["level"], cpkit_spec.LEVELS, r["id"])
            self.assertIn(r["observability"], cpkit_spec.OBSERVABILITIES, r["id"])
            self.assertTrue(r["requirement"], r["id"])
            self.assertTrue(r["id"].startswith("CPL_"))

    def test_field_parsing(self):
        reqs = cpkit_spec.parse_spec_text(spec_text([
            ("CPL_ADD_001", "normative", "api", '"First sentence." / "Second `one`."'),
            ("CPL_ADD_011", "recommended", "api", "—")]))
        self.assertEqual([r["id"] for r in reqs], ["CPL_ADD_001", "CPL_ADD_011"])
        self.assertEqual(reqs[0]["seed_quotes"], ["First sentence.", "Second `one`."])
        self.assertEqual(reqs[0]["section"], "add")
        self.assertEqual(reqs[0]["section_number"], 1)
        self.assertIsNone(reqs[0]["why"])
        self.assertEqual(reqs[1]["why"], "a clarification.")
        self.assertEqual(reqs[1]["seed_quotes"], [])

    def test_malformed_spec_is_reported(self):
        text = spec_text([("CPL_ADD_001", "normative", "api", "—")])
        with self.assertRaisesRegex(cpkit_spec.SpecError, "CPL_ADD_001.*Level"):
            cpkit_spec.parse_spec_text(text.replace("- **Level:** normative\n", ""))
        with self.assertRaisesRegex(cpkit_spec.SpecError, "mandatory"):
            cpkit_spec.parse_spec_text(text.replace("normative", "mandatory"))
        with self.assertRaisesRegex(cpkit_spec.SpecError, "already defined"):
            cpkit_spec.parse_spec_text(spec_text([("CPL_ADD_001", "normative", "api", "—")] * 2))

    def test_seed_items(self):
        seed = "\n".join(["# Title", "", "Prose line one.", "", "```C", "int code(void);", "```",
                          "### `fn`", "", "- bullet   with  spaces", "  - nested bullet", "1. numbered"])
        self.assertEqual([i for _, i in cpkit_spec.seed_items(seed)],
                         ["Prose line one.", "bullet with spaces", "nested bullet", "numbered"])


class SourcesTest(unittest.TestCase):
    def test_test_case_names_and_tags(self):
        src = r'''
// TEST_CASE("commented out", "[CPL_ADD_001]")
/* TEST_CASE("block comment", "[CPL_ADD_002]") */
TEST_CASE("add: plain", "[CPL_ADD_005][sys]") { int big = 1'000'000; char c = '"'; (void)c; }
TEST_CASE_METHOD(Fixture, "add: " "method",
                 "[CPL_ADD_006]"
                 "[CPL_ADD_007]") { INFO("mentions [CPL_ADD_008] in a message"); }
SCENARIO("a scenario", "[CPL_ADD_009]") { auto s = R"x(TEST_CASE("raw", "[CPL_ADD_010]"))x"; }
#define MY_TAGS "[CPL_ADD_011]"
'''
        got = [(name, tag, line) for name, _, tag, line in cpkit_sources.test_cases(src)]
        self.assertEqual(got, [("add: plain", "CPL_ADD_005", 4),
                               ("add: method", "CPL_ADD_006", 6), ("add: method", "CPL_ADD_007", 7),
                               ("Scenario: a scenario", "CPL_ADD_009", 8),
                               (None, "CPL_ADD_011", 9)])

    def test_citations(self):
        four_digits = "CPL_ADD_" + "0012"
        text = "a CPL_ADD_001 b\nMUTANT_CPL_RECV_005 and %s\nCPL_X_NNN" % four_digits
        self.assertEqual(cpkit_sources.citations(text),
                         [("CPL_ADD_001", 1), ("CPL_RECV_005", 2), (four_digits, 2)])


class TraceTest(unittest.TestCase):
    REQS = [("CPL_ADD_001", "normative", "api", '"`add` shall do this." / "and that"'),
            ("CPL_CREATE_002", "normative", "sys", '"`create` shall make it."'),
            ("CPL_DECREF_009", "recommended", "api", "—"),
            ("CPL_WORKER_001", "normative", "internal", '"The worker does nothing."')]
    SEED = "# seed\n\n## API\n\n```C\nint x;\n```\n\n`add` shall do this.\n\n- and that\n\n" \
           "`create` shall make it.\n\nThe worker does nothing.\n"

    def make_repo(self, **overrides):
        root = scratch_dir(self)
        repo = os.path.join(root, "repo")
        files = {
            "spec/completion_port_linux.md": spec_text(self.REQS),
            "reference/src/port.cpp": "// CPL_ADD_001 CPL_CREATE_002\n// CPL_DECREF_009\n"
                                      "static int worker(void*) { return 0; } // CPL_WORKER_001\n",
            "reference/tests/unit_test.cpp": 'TEST_CASE("worker: NULL", "[CPL_WORKER_001]") {}\n',
            "conformance/tests/a_test.cpp": '#include "x.h"\n\nTEST_CASE("add: one", "[CPL_ADD_001]") {}\n'
                                            'TEST_CASE_METHOD(F, "create: two", "[CPL_CREATE_002]") {}\n',
            "property_tests/p_test.cpp": 'SCENARIO("decref fast", "[CPL_DECREF_009]") {}\n',
            "README.md": "Cites CPL_ADD_001 in prose.\n",
        }
        files.update(overrides)
        write(repo, {k: v for k, v in files.items() if v is not None})
        write(root, {"shared/seed/completion_port_linux_requirements.md": self.SEED})
        return repo

    def trace(self, repo, *args):
        out = os.path.join(repo, "build", "trace", "requirements.json")
        p = subprocess.run([sys.executable, os.path.join(TOOLS, "trace.py"), "--root", repo, "--out", out]
                           + list(args), capture_output=True, text=True)
        data = None
        if os.path.exists(out):
            with open(out) as f:
                data = json.load(f)
        return p.returncode, p.stdout + p.stderr, data

    def trace_says(self, repo, rc, *lines, args=()):
        """Runs trace.py, checks its exit status and that its output holds each line; returns (out, data)."""
        got, out, data = self.trace(repo, *args)
        self.assertEqual(got, rc, out)
        for line in lines:
            self.assertIn(line, out)
        return out, data

    def test_complete_repo_passes(self):
        out, data = self.trace_says(self.make_repo(), 0)
        self.assertEqual(out.strip().splitlines()[-2:],
                         ["4 requirements: 3 normative, 1 recommended; 4 tested, 0 untested",
                          "2 normative requirements with a deterministic check"])
        reqs = {r["id"]: r for r in data["requirements"]}
        self.assertEqual(reqs["CPL_ADD_001"]["tests"],
                         [{"file": "conformance/tests/a_test.cpp", "line": 3, "name": "add: one"}])
        self.assertEqual(reqs["CPL_CREATE_002"]["tests"][0]["name"], "create: two")
        self.assertEqual(reqs["CPL_DECREF_009"]["tests"][0]["name"], "Scenario: decref fast")
        self.assertEqual(reqs["CPL_WORKER_001"]["tests"][0]["file"], "reference/tests/unit_test.cpp")
        self.assertEqual(reqs["CPL_WORKER_001"]["implemented_at"], [{"file": "reference/src/port.cpp", "line": 3}])
        for key in ("id", "title", "section", "level", "observability", "seed", "requirement", "why"):
            self.assertIn(key, reqs["CPL_ADD_001"])
        self.assertEqual(reqs["CPL_DECREF_009"]["level"], "recommended")

    def test_untested_fails_unless_allowed(self):
        repo = self.make_repo(**{"property_tests/p_test.cpp": "// [CPL_DECREF_009] only in a comment\n",
                                 "reference/tests/unit_test.cpp": None})
        out, data = self.trace_says(repo, 1,
                                    "CPL_DECREF_009 (api, recommended): no Catch2 test",
                                    "CPL_WORKER_001 (internal, normative): no Catch2 test in reference/tests/",
                                    "2 tested, 2 untested")
        out, _ = self.trace_says(repo, 0, "warning: 2 untested", args=("--allow-untested",))

    def test_a_test_outside_the_test_dirs_does_not_count(self):
        repo = self.make_repo(**{"conformance/tests/a_test.cpp": 'TEST_CASE("c", "[CPL_CREATE_002]") {}\n',
                                 "tools/fixtures/f.cpp": 'TEST_CASE("a", "[CPL_ADD_001]") {}\n'})
        out, _ = self.trace_says(repo, 1, "CPL_ADD_001 (api, normative): no Catch2 test")

    def test_unknown_id_fails(self):
        repo = self.make_repo(**{"docs/notes.md": "line one\nsee %s here\n" % UNKNOWN_ID})
        out, data = self.trace_says(repo, 1, "docs/notes.md:2: %s" % UNKNOWN_ID)
        self.assertIn("requirement IDs cited but not in the spec", data["problems"])

    def test_spec_and_build_are_not_scanned(self):
        repo = self.make_repo(**{"build/junk.txt": UNKNOWN_ID, "spec/other.md": UNKNOWN_ID})
        out, _ = self.trace_says(repo, 0)

    def test_unimplemented_fails(self):
        repo = self.make_repo(**{"reference/src/port.cpp": "// CPL_ADD_001 CPL_CREATE_002 CPL_WORKER_001\n"})
        out, _ = self.trace_says(repo, 1, "CPL_DECREF_009 (recommended): not cited in reference/src/")

    def test_seed_coverage(self):
        repo = self.make_repo()
        seed = os.path.join(os.path.dirname(repo), "shared/seed/completion_port_linux_requirements.md")
        with open(seed, "a") as f:
            f.write("\n- A   bullet nobody quotes.\n")
        out, _ = self.trace_says(repo, 1, "A bullet nobody quotes.")
        os.unlink(seed)
        out, _ = self.trace_says(repo, 0, "seed coverage not checked")

    def test_json_only_never_fails(self):
        repo = self.make_repo(**{"reference/src/port.cpp": "", "README.md": UNKNOWN_ID})
        out, data = self.trace_says(repo, 0, args=("--json-only",))
        self.assertEqual(out, "")
        self.assertEqual(len(data["requirements"]), 4)

    def test_mixed_levels_in_one_test_case_warn(self):
        repo = self.make_repo(**{"property_tests/p_test.cpp":
                                 'TEST_CASE("both", "[CPL_DECREF_009][CPL_ADD_001]") {}\n'})
        out, _ = self.trace_says(repo, 0, "tags both normative and recommended")


FAKE_CATCH2 = r"""#!/usr/bin/env python3
# Prints what a Catch2 v2 binary prints, plus a static initializer's banner on stdout.
import sys
print("banner from a static initializer")
args = sys.argv[1:]
if args == ["--list-tests"]:
    print("All available test cases:")
    print("  #hash name")
    print("      [CPL_ADD_001]")
    print("  a name wrapped")
    print("    at a space")
    print("      [CPL_ADD_002][CPL_")
    print("      ADD_003][plain]")
    print("  odd tags line")
    print("      [CPL_ADD_004] unexpected")
    print("  no tags")
    print("4 test cases")
    print()
elif args == ["--list-test-names-only"]:
    print('"#hash name"')
    print("a name wrapped at a space")
    print("odd tags line")
    print("no tags")
elif args == ["--list-tags", "odd tags line"]:
    print("Tags for matching test cases:")
    print("  1  [CPL_ADD_004]")
    print("1 tag")
sys.exit(4 if args[0].startswith("--list") else 0)
"""


FAKE_CATCH2_V3 = r"""#!/usr/bin/env python3
# Prints what a Catch2 v3 binary prints for `--list-tests -r xml`, after a banner.
import sys
print("banner from a static initializer")
if sys.argv[1:] == ["--list-tests", "-r", "xml"]:
    print('<?xml version="1.0" encoding="UTF-8"?>')
    print("<MatchingTests>")
    print("  <TestCase><Name>a, b &amp; c</Name><ClassName/><Tags>[CPL_ADD_001][plain]</Tags></TestCase>")
    print("  <TestCase><Name>#hash name</Name><ClassName/><Tags/></TestCase>")
    print("</MatchingTests>")
    sys.exit(0)
sys.exit(1)
"""


class ListingTest(unittest.TestCase):
    def test_listing_parser_v3(self):
        fake = os.path.join(scratch_dir(self), "fake_catch2_v3")
        write(os.path.dirname(fake), {"fake_catch2_v3": FAKE_CATCH2_V3})
        os.chmod(fake, 0o755)
        self.assertEqual(cpkit_catch2.list_tests(fake), [
            ("a, b & c", ["[CPL_ADD_001]", "[plain]"]),
            ("#hash name", [])])

    def test_listing_parser(self):
        fake = os.path.join(scratch_dir(self), "fake_catch2")
        write(os.path.dirname(fake), {"fake_catch2": FAKE_CATCH2})
        os.chmod(fake, 0o755)
        self.assertEqual(cpkit_catch2.list_tests(fake), [
            ("#hash name", ["[CPL_ADD_001]"]),
            ("a name wrapped at a space", ["[CPL_ADD_002]", "[CPL_ADD_003]", "[plain]"]),
            ("odd tags line", ["[CPL_ADD_004]"]),
            ("no tags", [])])

    def test_listing_errors(self):
        d = scratch_dir(self)
        write(d, {"not_catch2": "#!/bin/sh\necho hello\n", "not_exec": ""})
        os.chmod(os.path.join(d, "not_catch2"), 0o755)
        for name, message in (("not_catch2", "no test list"), ("not_exec", "not executable"),
                              ("absent", "does not exist")):
            with self.assertRaisesRegex(cpkit_catch2.ListError, message):
                cpkit_catch2.list_tests(os.path.join(d, name))


    def test_a_link_failure_on_kit_symbols_only_is_the_kits_fault(self):
        kit = ["/usr/bin/ld: build/conformance/obj/tests/x.o: in function `f':",
               "expect.h:29: undefined reference to `cpk::mono_ns()'",
               "collect2: error: ld returned 1 exit status"]
        self.assertEqual(cpkit_build.kit_link_failure(kit), ["cpk::mono_ns()"])
        impl = kit + ["port.c:3: undefined reference to `completion_port_remove'"]
        self.assertEqual(cpkit_build.kit_link_failure(impl), [])
        self.assertEqual(cpkit_build.kit_link_failure(["collect2: error: ld returned 1 exit status"]), [])

    def test_a_leak_through_the_malloc_wrapper_is_not_the_kits_fault(self):
        leak = ("==1==ERROR: LeakSanitizer: detected memory leaks\n\n"
                "Direct leak of 56 byte(s) in 1 object(s) allocated from:\n"
                "    #0 0x7f in __interceptor_malloc ../src/libsanitizer/asan/asan_malloc_linux.cpp:69\n"
                "    #1 0x56 in do_malloc conformance/harness/interpose_alloc.cpp:163\n\n"
                "SUMMARY: AddressSanitizer: 56 byte(s) leaked in 1 allocation(s).\n")
        self.assertIsNone(cpkit_results.kit_fault(leak, ()))
        overflow = leak.replace("LeakSanitizer: detected memory leaks",
                                "AddressSanitizer: heap-buffer-overflow on address 0x60") \
                       .replace("    #1 0x56 in do_malloc", "    #1 0x57 in cpk::Model::step conformance/harness/model.cpp:9\n"
                                "    #2 0x56 in do_malloc")
        self.assertEqual(cpkit_results.kit_fault(overflow, ()), "conformance/harness/model.cpp:9")

    def test_test_spec_matches_exactly_one_name(self):
        self.assertEqual(cpkit_catch2.test_spec("a, b"), "a\\, b")
        self.assertEqual(cpkit_catch2.test_spec("[x] *y*"), "\\[x\\] *y\\*")


class TraceChecksTest(TraceTest):
    """The checks trace adds for the verdict engine: deterministic checks, bare checks."""

    def test_property_tests_alone_are_not_a_deterministic_check(self):
        repo = self.make_repo(**{"conformance/tests/a_test.cpp": 'TEST_CASE("c", "[CPL_CREATE_002]") {}\n',
                                 "property_tests/p_test.cpp": 'TEST_CASE("p", "[CPL_ADD_001][CPL_DECREF_009]") {}\n'})
        out, _ = self.trace_says(repo, 1,
                                 "CPL_ADD_001 (api, normative): no test in conformance/",
                                 "1 normative requirements with a deterministic check")

    def test_bare_checks_warn_and_fail_when_strict(self):
        body = ('TEST_CASE("add: one", "[CPL_ADD_001]") {\n  CPK_CHECK("CPL_ADD_001", 1 == 1);\n'
                '  // CHECK(in a comment)\n  REQUIRE_FALSE(0);\n}\n'
                'TEST_CASE_METHOD(F, "create: two", "[CPL_CREATE_002]") { FAIL_CHECK("x"); }\n')
        repo = self.make_repo(**{"conformance/tests/a_test.cpp": body})
        out, _ = self.trace_says(repo, 0,
                                 "2 bare Catch2 check(s)",
                                 "conformance/tests/a_test.cpp:4: bare REQUIRE_FALSE(...)",
                                 "conformance/tests/a_test.cpp:6: bare FAIL_CHECK(...)")
        out, _ = self.trace_says(repo, 1,
                                 "bare Catch2 checks (they name no requirement)",
                                 args=("--strict-checks",))


# --- the verdict engine on hand-written failures --------------------------------------

def req(rid, level="normative", obs="api"):
    return {"id": rid, "title": "title of " + rid, "section": "s", "section_number": 1,
            "level": level, "observability": obs, "seed": "—"}


def fail(kind="check", requirement=None, phase="body", signal=None, message="m", **extra):
    return dict({"requirement": requirement, "kind": kind, "phase": phase, "signal": signal,
                 "message": message, "check": "", "expanded": "", "info": "", "file": "", "line": 0,
                 "trace": "", "replay": ""}, **extra)


def test(tid, tags, failures=(), kit_errors=()):
    return {"id": tid, "binary": "b", "name": tid, "tags": ["[%s]" % t for t in tags],
            "raw_failures": list(failures), "kit_errors": list(kit_errors)}


REQS = [req("CPL_CREATE_001"), req("CPL_CREATE_008", "recommended", "sys"), req("CPL_ADD_001"),
        req("CPL_ADD_002"), req("CPL_ADD_003"), req("CPL_ADD_015", "recommended", "sys"),
        req("CPL_DECREF_002", obs="sys"), req("CPL_DECREF_004", obs="sys"),
        req("CPL_DECREF_005", obs="sys"), req("CPL_SEND_004"), req("CPL_DECREF_009", "recommended"),
        req("CPL_WORKER_001", obs="internal")]


class AttributionTest(unittest.TestCase):
    def blamed(self, tags, f):
        known = {r["id"] for r in REQS}
        return cpkit_verdict.attribute(f, tags, known)

    def test_rules(self):
        tags = ["CPL_ADD_001", "CPL_ADD_002"]
        cases = [  # failure -> (requirements, source)
            (fail(requirement="CPL_DECREF_009"), (["CPL_DECREF_009"], "violation")),
            (fail(), (tags, "tags")),
            (fail("exception"), (tags, "tags")),
            (fail("crash", signal="SIGPIPE", phase="release"), (["CPL_SEND_004"], "rule")),
            (fail("leak", phase="end"), (["CPL_DECREF_005"], "rule")),
            (fail("leak", phase="body"), (tags, "tags")),
            (fail("timeout", phase="release"), (["CPL_DECREF_004"], "rule")),
            (fail("crash", phase="release"), (["CPL_DECREF_004"], "rule")),
            (fail("abort", phase="release"), (["CPL_DECREF_004"], "rule")),
            (fail("sanitizer", phase="release"), (["CPL_DECREF_004"], "rule")),
            (fail("timeout", phase="guard"), (["CPL_DECREF_002"], "rule")),
            (fail("crash", phase="guard"), (tags, "tags")),
            (fail("exit", phase="release"), (tags, "tags")),
            (fail("timeout", phase="body"), (tags, "tags")),
            (fail("no-result", phase="setup"), (tags, "tags")),
        ]
        for f, want in cases:
            self.assertEqual(self.blamed(tags, f), want, f)

    def test_a_crash_while_a_row_runs_is_that_rows(self):
        tags = ["CPL_ADD_001", "CPL_ADD_002"]
        self.assertEqual(self.blamed(tags, fail("sanitizer", running="CPL_ADD_002")), (["CPL_ADD_002"], "rule"))
        self.assertEqual(self.blamed(tags, fail("timeout", running="CPL_ADD_002")), (["CPL_ADD_002"], "rule"))
        # The teardown rules still win in their phases.
        self.assertEqual(self.blamed(tags, fail("timeout", phase="release", running="CPL_ADD_002")),
                         (["CPL_DECREF_004"], "rule"))

    def test_use_after_the_final_dec_ref_freed_the_port(self):
        tags = ["CPL_ADD_001"]
        self.assertEqual(self.blamed(tags, fail("sanitizer", phase="body", freed_by_dec_ref=True)),
                         (["CPL_DECREF_004"], "rule"))
        from cpkit import results as cpkit_results
        report = ("==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x6\n"
                  "READ of size 1 at 0x610000000ff8 thread T1\n    #0 0x1 in stopping_locked w.cpp:208\n\n"
                  "freed by thread %s here:\n    #0 0x2 in free\n    #1 0x3 in completion_port_dec_ref c.cpp:90\n\n")
        self.assertTrue(cpkit_results.freed_by_final_dec_ref(report % "T0"))
        # Freed by the same thread (a final dec_ref inside a callback): not this rule.
        self.assertFalse(cpkit_results.freed_by_final_dec_ref(report % "T1"))
        self.assertFalse(cpkit_results.freed_by_final_dec_ref(report.replace("completion_port_dec_ref", "free_op") % "T0"))

    def test_a_thread_sanitizer_race(self):
        from cpkit import results as cpkit_results
        known = {r["id"] for r in REQS} | {"CPL_ADD_018"}
        race = fail("sanitizer", phase="release", data_race=True)
        self.assertEqual(cpkit_verdict.attribute(race, ["CPL_ADD_001"], known), (["CPL_ADD_018"], "rule"))
        # The row in progress is more precise than thread safety in general.
        race = fail("sanitizer", phase="body", data_race=True, running="CPL_ADD_002")
        self.assertEqual(cpkit_verdict.attribute(race, ["CPL_ADD_001"], known), (["CPL_ADD_002"], "rule"))
        report = ("==================\nWARNING: ThreadSanitizer: data race (pid=7)\n"
                  "  Read of size 1 at 0x7b30 by thread T2:\n"
                  "    #0 stopping_locked %s:207 (conformance+0x1902af)\n"
                  "    #1 trampoline conformance/harness/interpose_thread.cpp:46 (conformance+0xb62c9)\n\n"
                  "  Previous write of size 1 at 0x7b30 by thread T3 (mutexes: write M1):\n"
                  "    #0 completion_port_dec_ref %s:141 (conformance+0x18e9bd)\n"
                  "    #1 operator() conformance/harness/expect.cpp:24 (conformance+0xaccce)\n\n"
                  "  Location is heap block of size 192 at 0x7b30 allocated by main thread:\n"
                  "    #0 malloc ../../../../src/libsanitizer/tsan/tsan_interceptors_posix.cpp:647 (libtsan.so.2+0x3)\n"
                  "    #1 operator new(unsigned long, std::nothrow_t const&) <null> (libstdc++.so.6+0x1)\n\n"
                  "SUMMARY: ThreadSanitizer: data race %s:207 in stopping_locked\n==================\n")
        impl = ("/x/impl/worker.cpp", "/x/impl/completion_port.cpp", "/x/impl/worker.cpp")
        rep = cpkit_results.tsan_report(report % impl)
        self.assertEqual(rep["kind"], "data race")
        self.assertEqual([len(frames) for _, frames in rep["sections"]], [2, 2, 2])
        self.assertEqual(rep["sections"][2][1][1], ("operator new(unsigned long, std::nothrow_t const&)", "<null>"))
        message, file, line, kit = cpkit_results.tsan_failure_fields(rep, ["/x/impl/worker.cpp",
                                                                           "/x/impl/completion_port.cpp"])
        self.assertEqual((file, line, kit), ("/x/impl/worker.cpp", 207, None))
        self.assertIn("#0 stopping_locked /x/impl/worker.cpp:207", message)  # the access
        self.assertIn("#0 completion_port_dec_ref /x/impl/completion_port.cpp:141", message)  # the previous one
        self.assertTrue(message.startswith("sanitizer: ThreadSanitizer: data race /x/impl/worker.cpp:207"))
        # No frame of the implementation: the kit's own race (rule 4).
        kit_only = report.replace("completion_port_dec_ref", "cpk_helper") % (
            "conformance/harness/a.cpp", "conformance/harness/b.cpp", "conformance/harness/a.cpp")
        _, _, _, kit = cpkit_results.tsan_failure_fields(cpkit_results.tsan_report(kit_only), [])
        self.assertEqual(kit, "conformance/harness/a.cpp:207")
        self.assertIsNone(cpkit_results.tsan_report("==1==ERROR: AddressSanitizer: SEGV"))

    def test_leak_of_a_failed_create_or_add(self):
        self.assertEqual(self.blamed(["CPL_CREATE_008"], fail("leak", phase="end")), (["CPL_CREATE_008"], "rule"))
        self.assertEqual(self.blamed(["CPL_ADD_015", "CPL_ADD_001"], fail("leak", phase="end")),
                         (["CPL_ADD_015"], "rule"))


class JudgeTest(unittest.TestCase):
    def judge(self, tests, **kw):
        return cpkit_verdict.judge(REQS, tests, **kw)

    def reqs(self, j):
        return {r["id"]: r for r in j["requirements"]}

    def test_verdicts_and_not_blamed(self):
        j = self.judge([test("t1", ["CPL_CREATE_001", "CPL_ADD_001"], [fail(requirement="CPL_ADD_001")]),
                        test("t2", ["CPL_ADD_002"]),
                        test("t3", ["CPL_ADD_003"], [fail(requirement="CPL_ADD_001")])])
        r = self.reqs(j)
        self.assertEqual(r["CPL_ADD_001"]["verdict"], "fail")
        self.assertEqual(r["CPL_ADD_001"]["word"], "FAILED")
        self.assertEqual([x["test"] for x in r["CPL_ADD_001"]["tests"]], ["t1", "t3"])
        self.assertEqual(r["CPL_CREATE_001"]["verdict"], "inconclusive")
        self.assertEqual(r["CPL_CREATE_001"]["tests"], [{"test": "t1", "verdict": "not-blamed"}])
        self.assertEqual(r["CPL_ADD_002"]["verdict"], "pass")
        self.assertEqual(r["CPL_ADD_003"]["verdict"], "inconclusive")
        self.assertEqual(r["CPL_DECREF_004"]["verdict"], "untested")
        self.assertEqual(r["CPL_WORKER_001"]["verdict"], "untested")
        self.assertFalse(j["conforms"])
        self.assertEqual(j["exit_status"], 1)
        self.assertEqual(j["summary"]["normative"]["fail"], 1)
        self.assertEqual(j["summary"]["normative"]["inconclusive"], 2)
        self.assertEqual(j["summary"]["tests"], {"passed": 1, "failed": 2, "kit_errors": 0, "total": 3})

    def test_recommended_failure_conforms_unless_strict(self):
        tests = [test("t1", ["CPL_ADD_001"]), test("t2", ["CPL_DECREF_009"], [fail()])]
        j = self.judge([dict(t) for t in tests])
        self.assertEqual(self.reqs(j)["CPL_DECREF_009"]["word"], "NON-STRICT")
        self.assertTrue(j["conforms"])
        self.assertEqual(j["exit_status"], 0)
        j = self.judge([dict(t) for t in tests], strict=True)
        self.assertFalse(j["conforms"])
        self.assertEqual(j["exit_status"], 1)

    def test_caused_by_and_consequences(self):
        j = self.judge([test("t1", ["CPL_ADD_001"], [fail(requirement="CPL_ADD_001"),
                                                     fail("timeout", phase="release")]),
                        test("t2", ["CPL_ADD_002"], [fail(requirement="CPL_ADD_002"),
                                                     fail(requirement="CPL_DECREF_004")])])
        r = self.reqs(j)
        self.assertEqual(r["CPL_DECREF_004"]["caused_by"], ["CPL_ADD_001", "CPL_ADD_002"])
        self.assertEqual(r["CPL_ADD_001"]["consequences"], ["CPL_DECREF_004"])
        self.assertEqual(r["CPL_ADD_001"]["caused_by"], [])
        self.assertEqual([f["after"] for f in r["CPL_DECREF_004"]["failures"]], ["CPL_ADD_001", "CPL_ADD_002"])
        self.assertEqual(r["CPL_DECREF_004"]["failures"][0]["source"], "rule")
        self.assertEqual(j["summary"]["normative"]["roots"], 2)

    def test_a_root_failure_anywhere_makes_a_root(self):
        j = self.judge([test("t1", ["CPL_ADD_001"], [fail(requirement="CPL_ADD_001"),
                                                     fail(requirement="CPL_ADD_002")]),
                        test("t2", ["CPL_ADD_002"], [fail(requirement="CPL_ADD_002")])])
        self.assertEqual(self.reqs(j)["CPL_ADD_002"]["caused_by"], [])

    def test_cycles_are_broken(self):
        order1 = [fail(requirement=x) for x in ("CPL_ADD_001", "CPL_ADD_002", "CPL_ADD_003")]
        order2 = [fail(requirement=x) for x in ("CPL_ADD_001", "CPL_ADD_003", "CPL_ADD_002")]
        j = self.judge([test("t1", ["CPL_ADD_001"], order1), test("t2", ["CPL_ADD_001"], order2)])
        r = self.reqs(j)
        self.assertEqual(r["CPL_ADD_002"]["caused_by"], ["CPL_ADD_001", "CPL_ADD_003"])
        self.assertEqual(r["CPL_ADD_003"]["caused_by"], ["CPL_ADD_001"])
        self.assertEqual(r["CPL_ADD_001"]["caused_by"], [])

    def test_pure_cycle_keeps_a_root(self):
        g = cpkit_verdict.root_causes(["A", "B"], {"A": [{"_before": ["B"]}], "B": [{"_before": ["A"]}]})
        self.assertEqual(g, {"A": ["B"]})

    def test_tags_attribution_is_reported(self):
        j = self.judge([test("t1", ["CPL_ADD_001", "CPL_ADD_002"], [fail()])])
        fs = j["tests"][0]["failures"]
        self.assertEqual([(f["requirement"], f["source"]) for f in fs],
                         [("CPL_ADD_001", "tags"), ("CPL_ADD_002", "tags")])
        self.assertEqual(self.reqs(j)["CPL_ADD_002"]["caused_by"], [])

    def test_kit_errors(self):
        kit = [{"message": "socketpair failed", "file": "conformance/tests/x.cpp", "line": 3}]
        j = self.judge([test("t1", ["CPL_DECREF_009"], [fail()], kit), test("t2", ["CPL_ADD_001"])])
        self.assertEqual(j["tests"][0]["verdict"], "kit-error")
        self.assertEqual(self.reqs(j)["CPL_DECREF_009"]["verdict"], "inconclusive")
        self.assertEqual(j["kit_errors"][0]["test"], "t1")
        self.assertEqual(j["exit_status"], 0)
        j = self.judge([test("t1", ["CPL_ADD_001"], [], kit)])
        self.assertEqual(j["exit_status"], 2)
        self.assertEqual(j["inconclusive_by_kit"], ["CPL_ADD_001"])

    def test_build_failure_fails_every_api_sys_requirement(self):
        j = self.judge([], build={"status": "impl-failed", "errors": ["x.c:3:1: error: boom"]})
        r = self.reqs(j)
        self.assertTrue(all(e["verdict"] == "fail" for e in j["requirements"] if e["observability"] != "internal"))
        self.assertEqual(r["CPL_WORKER_001"]["verdict"], "untested")
        f = r["CPL_ADD_001"]["failures"][0]
        self.assertEqual((f["kind"], f["file"], f["line"], f["test"]), ("build", "x.c", 3, None))
        self.assertEqual(j["exit_status"], 1)

    def test_partial_run_exit_status(self):
        j = self.judge([test("t1", ["CPL_DECREF_009"], [fail()])], partial=True)
        self.assertEqual(j["exit_status"], 1)
        j = self.judge([test("t1", ["CPL_ADD_001"])], partial=True)
        self.assertEqual(j["exit_status"], 0)


# --- validate.py on the fixture binary ------------------------------------------------

def validate_cmd(report_dir, *extra):
    return [sys.executable, os.path.join(TOOLS, "validate.py"), "--name", "fixture",
            "--impl", "tools/fixtures/fixture_impl.cpp", "--report-dir", report_dir,
            "--spec", os.path.join(ROOT, cpkit_spec.SPEC_RELPATH), "--timeout", "3", "--jobs", "4"] + list(extra)


def run(cmd, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(k, None)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)


@unittest.skipUnless(FIXTURE and os.path.exists(FIXTURE), "TOOLS_FIXTURE_BIN not built (make tools-check)")
class FixtureValidateTest(unittest.TestCase):
    """One validation of the fixture (VALIDATE_REPEAT=1), then the partial runs."""

    @classmethod
    def setUpClass(cls):
        os.makedirs(SCRATCH, exist_ok=True)
        cls.dir = tempfile.mkdtemp(prefix="fixture-", dir=SCRATCH)
        cls.state = os.path.join(cls.dir, "state")
        os.makedirs(cls.state)
        cls.report_dir = os.path.join(cls.dir, "report")
        cls.env = {"FIXTURE_STATE_DIR": cls.state}
        cls.p = run(validate_cmd(cls.report_dir, "--repeat", "1", "--bin", FIXTURE), cls.env)
        cls.report = cpkit_report.load(cls.report_dir)
        cls.tests = {t["name"]: t for t in cls.report["tests"]}
        cls.reqs = {r["id"]: r for r in cls.report["requirements"]}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, True)

    def blamed(self, name):
        return [(f["requirement"], f["source"], f["kind"], f["phase"]) for f in self.tests[name]["failures"]]

    def test_exit_status_and_last_lines(self):
        self.assertEqual(self.p.returncode, 1, self.p.stdout + self.p.stderr)
        lines = self.p.stdout.strip().splitlines()
        s = self.report["summary"]
        self.assertEqual(lines[-2], "normative: %d/%d pass, recommended: %d/%d pass" % (
            s["normative"]["pass"], s["normative"]["total"], s["recommended"]["pass"], s["recommended"]["total"]))
        self.assertEqual(lines[-1], "%d passed, %d failed" % (s["tests"]["passed"], s["tests"]["failed"]))
        self.assertEqual(self.report["format_version"], 2)
        with open(os.path.join(ROOT, "VERSION")) as f:
            self.assertEqual(self.report["kit"]["version"], f.read().strip())
        self.assertEqual(self.report["outcome"], "does-not-conform")
        self.assertEqual(self.report["exit_status"], 1)

    def test_each_rule_from_real_records(self):
        expect = {
            "fixture: passes": [],
            "fixture: a named check fails": [("CPL_CREATE_003", "violation", "check", "body")],
            "fixture: a bare check fails": [("CPL_CREATE_004", "tags", "check", "body"),
                                            ("CPL_CREATE_005", "tags", "check", "body")],
            "fixture: killed by SIGPIPE": [("CPL_SEND_004", "rule", "crash", "body")],
            "fixture: hangs in release": [("CPL_DECREF_004", "rule", "timeout", "release")],
            "fixture: hangs in guard": [("CPL_DECREF_002", "rule", "timeout", "guard")],
            "fixture: hangs in body": [("CPL_DECREF_006", "tags", "timeout", "body")],
            "fixture: a failed create leaks": [("CPL_CREATE_008", "rule", "leak", "end")],
            "fixture: leaks at exit": [("CPL_DECREF_005", "rule", "leak", "end")],
            "fixture: the implementation crashes in body": [("CPL_ADD_005", "tags", "sanitizer", "body")],
            "fixture: the implementation crashes in release": [("CPL_DECREF_004", "rule", "sanitizer", "release")],
            "fixture: aborts": [("CPL_ADD_007", "tags", "abort", "body")],
            "fixture: exits with status 3": [("CPL_ADD_008", "tags", "exit", "body")],
            "fixture: a property record with a replay": [("CPL_SEND_002", "violation", "property", "body")],
        }
        for name, want in expect.items():
            self.assertEqual(self.blamed(name), want, name)
        named = self.tests["fixture: a named check fails"]["failures"][0]
        self.assertEqual(named["check"], 'CHECK( answer == 42 )')
        self.assertEqual(named["expanded"], "41 == 42")
        self.assertIn("the answer is computed", named["info"])
        self.assertTrue(named["file"].endswith("validate_fixture.cpp") and named["line"] > 0)
        self.assertEqual(self.reqs["CPL_CREATE_002"]["verdict"], "inconclusive")
        self.assertEqual(self.reqs["CPL_CREATE_001"]["verdict"], "pass")
        self.assertEqual(self.reqs["CPL_SEND_001"]["tests"][0]["verdict"], "not-blamed")

    def test_kit_errors_give_no_verdict(self):
        for name in ("fixture: a kit precondition fails", "fixture: a sanitizer report in the kit's own code"):
            self.assertEqual(self.tests[name]["verdict"], "kit-error", name)
            self.assertEqual(self.tests[name]["failures"], [])
        self.assertEqual(self.reqs["CPL_RECV_008"]["verdict"], "inconclusive")
        self.assertEqual(self.reqs["CPL_RECV_009"]["verdict"], "inconclusive")
        kit = {k["test"]: k for k in self.report["kit_errors"]}
        overflow = kit[self.tests["fixture: a sanitizer report in the kit's own code"]["id"]]
        self.assertIn("heap-buffer-overflow", overflow["message"])
        self.assertTrue(overflow["file"].endswith("tools/fixtures/validate_fixture.cpp"), overflow)
        self.assertEqual(self.report["summary"]["tests"]["kit_errors"], 2)

    def test_consequence_and_cycle_from_real_records(self):
        self.assertEqual(self.reqs["CPL_ADD_002"]["caused_by"], ["CPL_ADD_001"])
        self.assertEqual(self.reqs["CPL_ADD_001"]["consequences"], ["CPL_ADD_002"])
        self.assertEqual(self.reqs["CPL_RECV_002"]["caused_by"], ["CPL_RECV_001", "CPL_RECV_003"])
        self.assertEqual(self.reqs["CPL_RECV_003"]["caused_by"], ["CPL_RECV_001"])
        self.assertEqual(self.reqs["CPL_RECV_001"]["caused_by"], [])

    def test_repeat_counts_runs(self):
        flaky = self.tests["fixture: flaky"]
        self.assertEqual((flaky["runs"], flaky["failed_runs"]), (2, 1))
        self.assertEqual((self.tests["fixture: aborts"]["runs"], self.tests["fixture: aborts"]["failed_runs"]), (2, 2))
        self.assertEqual(self.tests["fixture: passes"]["runs"], 1)
        self.assertTrue(any("flaky" in w for w in self.report["warnings"]))
        aborts = self.tests["fixture: aborts"]["run_requirements"]
        self.assertEqual(len(aborts), 2)
        self.assertTrue(aborts[0] and aborts[0] == aborts[1], aborts)
        self.assertEqual(len(flaky["run_requirements"]), 2)
        self.assertIn([], flaky["run_requirements"])

    def test_repeat_only_reruns_the_tests_of_those_requirements(self):
        aborts = self.tests["fixture: aborts"]["run_requirements"][0]
        report_dir = os.path.join(self.dir, "repeat-only")
        run(validate_cmd(report_dir, "--repeat", "1", "--repeat-only", aborts[0], "--bin", FIXTURE), self.env)
        tests = {t["name"]: t for t in cpkit_report.load(report_dir)["tests"]}
        self.assertEqual(tests["fixture: aborts"]["runs"], 2)
        rerun = [n for n, t in tests.items() if t["runs"] > 1]
        self.assertTrue(all(aborts[0] in tests[n]["run_requirements"][0] for n in rerun), rerun)
        self.assertTrue(any(t["failed_runs"] and t["runs"] == 1 for t in tests.values()))

    def test_rerun_commands_really_rerun(self):
        for name, failing in (("fixture: passes", False), ("fixture: a named check fails", True),
                              ("fixture: killed by SIGPIPE", True), ("fixture: leaks at exit", True),
                              ("fixture: hangs in release", True)):
            cmd = self.tests[name]["rerun"]
            self.assertTrue(cmd.startswith("timeout -s KILL 3 env --default-signal=PIPE "), cmd)
            p = run(["sh", "-c", cmd], self.env)
            self.assertEqual(p.returncode != 0, failing, (name, cmd, p.returncode, p.stdout[-500:]))
        t = self.tests["fixture: a named check fails"]
        records, _ = __import__("cpkit.results", fromlist=["x"]).read_records(
            os.path.join(ROOT, t["files"]["result"]).replace(".jsonl", ".rerun.jsonl"))
        self.assertTrue(any(r["type"] == "violation" and r["requirement"] == "CPL_CREATE_003" for r in records))
        prop = self.tests["fixture: a property record with a replay"]["rerun"]
        self.assertIn("RC_PARAMS=reproduce=FIXTURE ", prop)

    def test_only_and_rerun_failed(self):
        d = os.path.join(self.dir, "only")
        glob = "CPL_CREATE_" + "00[1]"  # assembled: trace would read the text as an ID
        p = run(validate_cmd(d, "--only", glob, "--bin", FIXTURE), self.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rep = cpkit_report.load(d)
        self.assertEqual([t["name"] for t in rep["tests"]], ["fixture: passes"])
        self.assertEqual(rep["selection"], {"only": [glob], "rerun_failed": False})
        p = run(validate_cmd(d, "--only", "CPL_CREATE_*", "--bin", FIXTURE), self.env)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        failed = sorted(t["name"] for t in cpkit_report.load(d)["tests"] if t["verdict"] == "fail")
        p = run(validate_cmd(d, "--rerun-failed", "--bin", FIXTURE), self.env)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        rep = cpkit_report.load(d)
        self.assertEqual(sorted(t["name"] for t in rep["tests"]), failed)
        self.assertTrue(rep["selection"]["rerun_failed"])
        p = run(validate_cmd(d, "--only", "CPL_NOPE_*", "--bin", FIXTURE), self.env)
        self.assertEqual(p.returncode, 2)
        self.assertFalse(os.path.exists(os.path.join(d, "report.json")))

    def test_normative_kit_error_exits_2_without_verdict(self):
        d = os.path.join(self.dir, "kit")
        p = run(validate_cmd(d, "--only", "CPL_RECV_004", "--bin", FIXTURE), dict(self.env, FIXTURE_KIT_ERROR="1"))
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("could not judge", p.stderr)
        self.assertIn("socketpair could not be made", p.stderr)
        self.assertIn("to fix: timeout -s KILL", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "report.json")))


FAKE_MAKEFILE = """\
.PHONY: validate-kit validate-impl validate-link
validate-kit:
\t@if [ -n "$(BREAK_KIT)" ]; then echo 'conformance/harness/sync.cpp:1:1: error: broken kit'; exit 1; fi
validate-impl:
\t$(CC) -c $(IMPL) -o $(OUT)/impl.o
validate-link:
\t$(CC) $(OUT)/impl.o $(OUT)/main.c -o $(OUT)/bin
"""


class MakeflagsTest(unittest.TestCase):
    """The sub-make's MAKEFLAGS keep make's own escaping (GNU make 4.4 passes
    command-line variables there: a shell-quoted value reached make with its quotes)."""

    def test_values_with_blanks_quotes_and_backslashes_survive(self):
        flags = r"k -- IMPL=a.cpp\ b.cpp IMPL_CFLAGS=-Ix\ -DQ='1' W=c\\d"
        words = cpkit_build.split_makeflags(flags)
        self.assertEqual(words, ["k", "--", "IMPL=a.cpp b.cpp", "IMPL_CFLAGS=-Ix -DQ='1'", "W=c\\d"])
        self.assertEqual(cpkit_build.join_makeflags(words), flags)

    def test_the_jobserver_and_dry_run_are_not_inherited(self):
        old = os.environ.get("MAKEFLAGS")
        os.environ["MAKEFLAGS"] = r"n -j2 --jobserver-auth=3,4 -- IMPL=x\ y.c"
        try:
            _, env = cpkit_build.sub_make("make")
        finally:
            if old is None:
                del os.environ["MAKEFLAGS"]
            else:
                os.environ["MAKEFLAGS"] = old
        self.assertEqual(env["MAKEFLAGS"], r"-- IMPL=x\ y.c")


class BuildAndArgumentsTest(unittest.TestCase):
    """The three build steps through a small makefile, and the kit's exit 2 cases."""

    def setUp(self):
        self.d = scratch_dir(self)
        write(self.d, {"Makefile": FAKE_MAKEFILE, "main.c": "int f(void);\nint main(void) { return f(); }\n",
                       "bad.c": "int f(void) {\n  return undeclared_thing;\n}\n",
                       "nolink.c": "int g(void) { return 0; }\n"})
        self.rd = os.path.join(self.d, "report")

    def validate(self, impl, *extra, make_vars=""):
        make = "make --no-print-directory -C %s OUT=%s IMPL=%s %s" % (self.d, self.d, impl, make_vars)
        return run([sys.executable, os.path.join(TOOLS, "validate.py"), "--name", "b", "--impl", impl,
                    "--report-dir", self.rd, "--spec", os.path.join(ROOT, cpkit_spec.SPEC_RELPATH),
                    "--make", make, "--bin", os.path.join(self.d, "bin")] + list(extra))

    def test_compile_failure_is_judged_with_its_own_errors(self):
        impl = os.path.join(self.d, "bad.c")
        p = self.validate(impl)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        rep = cpkit_report.load(self.rd)
        self.assertEqual(rep["build"]["status"], "impl-failed")
        self.assertTrue(rep["build"]["errors"][0].startswith(impl + ":2:"), rep["build"]["errors"])
        self.assertFalse(any(e.lstrip().startswith(("cc ", "gcc ")) for e in rep["build"]["errors"]))
        api = [r for r in rep["requirements"] if r["observability"] != "internal"]
        self.assertTrue(api and all(r["word"] in ("FAILED", "NON-STRICT") for r in api))
        self.assertEqual(api[0]["failures"][0]["kind"], "build")
        self.assertIn("undeclared_thing", api[0]["failures"][0]["message"])

    def test_link_failure_is_judged_with_the_linker_errors(self):
        p = self.validate(os.path.join(self.d, "nolink.c"))
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        rep = cpkit_report.load(self.rd)
        self.assertTrue(any("undefined reference to" in e and "f" in e for e in rep["build"]["errors"]),
                        rep["build"]["errors"])

    def test_kit_build_failure_exits_2_without_verdict(self):
        os.makedirs(self.rd)
        write(self.rd, {"report.json": "{}"})
        p = self.validate(os.path.join(self.d, "bad.c"), make_vars="BREAK_KIT=1")
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("the kit's own objects", p.stderr)
        self.assertIn("broken kit", p.stderr)
        self.assertIn("to fix:", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.rd, "report.json")))

    def test_missing_impl_file_exits_2(self):
        p = self.validate(os.path.join(self.d, "absent.c"))
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("IMPL file(s) not found", p.stderr)

    def test_missing_dependency_exits_2_with_its_message(self):
        p = self.validate(os.path.join(self.d, "bad.c"), "--deps", "echo 'cpkit: missing Debian packages: x'; exit 1")
        self.assertEqual(p.returncode, 2)
        self.assertIn("missing Debian packages: x", p.stderr)
        self.assertIn("to fix:", p.stderr)

    def test_bad_arguments_exit_2(self):
        self.assertEqual(self.validate(os.path.join(self.d, "bad.c"), "--repeat", "-1").returncode, 2)
        self.assertEqual(self.validate(os.path.join(self.d, "bad.c"), "--repeat", "x").returncode, 2)

    def test_rerun_failed_without_a_report_exits_2(self):
        p = self.validate(os.path.join(self.d, "bad.c"), "--rerun-failed")
        self.assertEqual(p.returncode, 2)
        self.assertIn("RERUN_FAILED", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=1)
