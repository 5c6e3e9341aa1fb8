#!/usr/bin/env python3
"""Self-test of the cpkit tools (unittest, standard library only). Run by `make tools-check`.

trace.py runs against small synthetic repositories built in a temporary directory.
validate.py runs against the fixture binary built from tools/fixtures/validate_fixture.cpp
(TOOLS_FIXTURE_BIN), with synthetic specs that give the fixture's tags their levels.
IDs that must be unknown to the real spec are assembled at run time so that this file
itself never cites them (trace scans it).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)
import cpkit_catch2  # noqa: E402
import validate  # noqa: E402
import cpkit_sources  # noqa: E402
import cpkit_spec  # noqa: E402

FIXTURE = os.environ.get("TOOLS_FIXTURE_BIN")
SCRATCH = os.environ.get("TOOLS_SELFTEST_DIR") or os.path.join(ROOT, "build", "tools-selftest")
UNKNOWN_ID = "CPL_" + "NOPE_" + "001"


def scratch_dir(test):
    os.makedirs(SCRATCH, exist_ok=True)
    d = tempfile.mkdtemp(prefix="tmp-", dir=SCRATCH)
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

    def test_complete_repo_passes(self):
        rc, out, data = self.trace(self.make_repo())
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.strip().splitlines()[-1],
                         "4 requirements: 3 normative, 1 recommended; 4 tested, 0 untested")
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
        rc, out, data = self.trace(repo)
        self.assertEqual(rc, 1)
        self.assertIn("CPL_DECREF_009 (api, recommended): no Catch2 test", out)
        self.assertIn("CPL_WORKER_001 (internal, normative): no Catch2 test in reference/tests/", out)
        self.assertIn("2 tested, 2 untested", out)
        rc, out, _ = self.trace(repo, "--allow-untested")
        self.assertEqual(rc, 0, out)
        self.assertIn("warning: 2 untested", out)

    def test_a_test_outside_the_test_dirs_does_not_count(self):
        repo = self.make_repo(**{"conformance/tests/a_test.cpp": 'TEST_CASE("c", "[CPL_CREATE_002]") {}\n',
                                 "tools/fixtures/f.cpp": 'TEST_CASE("a", "[CPL_ADD_001]") {}\n'})
        rc, out, _ = self.trace(repo)
        self.assertEqual(rc, 1)
        self.assertIn("CPL_ADD_001 (api, normative): no Catch2 test", out)

    def test_unknown_id_fails(self):
        repo = self.make_repo(**{"docs/notes.md": "line one\nsee %s here\n" % UNKNOWN_ID})
        rc, out, data = self.trace(repo)
        self.assertEqual(rc, 1)
        self.assertIn("docs/notes.md:2: %s" % UNKNOWN_ID, out)
        self.assertIn("requirement IDs cited but not in the spec", data["problems"])

    def test_spec_and_build_are_not_scanned(self):
        repo = self.make_repo(**{"build/junk.txt": UNKNOWN_ID, "spec/other.md": UNKNOWN_ID})
        rc, out, _ = self.trace(repo)
        self.assertEqual(rc, 0, out)

    def test_unimplemented_fails(self):
        repo = self.make_repo(**{"reference/src/port.cpp": "// CPL_ADD_001 CPL_CREATE_002 CPL_WORKER_001\n"})
        rc, out, _ = self.trace(repo)
        self.assertEqual(rc, 1)
        self.assertIn("CPL_DECREF_009 (recommended): not cited in reference/src/", out)

    def test_seed_coverage(self):
        repo = self.make_repo()
        seed = os.path.join(os.path.dirname(repo), "shared/seed/completion_port_linux_requirements.md")
        with open(seed, "a") as f:
            f.write("\n- A   bullet nobody quotes.\n")
        rc, out, _ = self.trace(repo)
        self.assertEqual(rc, 1)
        self.assertIn("A bullet nobody quotes.", out)
        os.unlink(seed)
        rc, out, _ = self.trace(repo)
        self.assertEqual(rc, 0, out)
        self.assertIn("seed coverage not checked", out)

    def test_json_only_never_fails(self):
        repo = self.make_repo(**{"reference/src/port.cpp": "", "README.md": UNKNOWN_ID})
        rc, out, data = self.trace(repo, "--json-only")
        self.assertEqual(rc, 0)
        self.assertEqual(out, "")
        self.assertEqual(len(data["requirements"]), 4)

    def test_mixed_levels_in_one_test_case_warn(self):
        repo = self.make_repo(**{"property_tests/p_test.cpp":
                                 'TEST_CASE("both", "[CPL_DECREF_009][CPL_ADD_001]") {}\n'})
        rc, out, _ = self.trace(repo)
        self.assertEqual(rc, 0, out)
        self.assertIn("tags both normative and recommended", out)


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


class ListingTest(unittest.TestCase):
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


# Levels the synthetic spec gives the fixture's tags, and the verdict each must get.
FIXTURE_REQS = [
    ("CPL_CREATE_001", "normative", "api", "pass"),       # two passing tests
    ("CPL_CREATE_004", "normative", "api", "fail"),       # one passing, one failed CHECK
    ("CPL_ADD_001", "normative", "api", "fail"),          # segfault (ASan SEGV report)
    ("CPL_ADD_002", "normative", "sys", "fail"),          # hang -> timeout
    ("CPL_ADD_003", "normative", "api", "fail"),          # exception
    ("CPL_ADD_005", "normative", "api", "fail"),          # _exit(3)
    ("CPL_ADD_006", "normative", "api", "fail"),          # _exit(0), no result
    ("CPL_ADD_007", "normative", "api", "fail"),          # abort
    ("CPL_ADD_008", "normative", "api", "fail"),          # SIGILL
    ("CPL_ADD_009", "normative", "api", "fail"),          # use after free
    ("CPL_ADD_010", "normative", "api", "fail"),          # leak
    ("CPL_SEND_004", "normative", "api", "fail"),         # SIGPIPE
    ("CPL_DECREF_009", "recommended", "api", "fail"),
    ("CPL_DECREF_007", "recommended", "api", "pass"),
    ("CPL_REMOVE_005", "recommended", "api", "pass"),     # last of 25 wrapped tags
    ("CPL_REMOVE_001", "normative", "api", "untested"),
    ("CPL_WORKER_001", "normative", "internal", "untested"),
]
EXPECTED_TESTS = {  # name -> (verdict, kind, substrings of the message)
    "fixture: passes": ("pass", "pass", []),
    "fixture: passes with two tags": ("pass", "pass", []),
    "fixture: check fails": ("fail", "assertion", ["CHECK( answer == 42 )", "41 == 42",
                                                   "the answer is computed", "validate_fixture.cpp:"]),
    "fixture: throws": ("fail", "assertion", ["unexpected exception", "boom from fixture"]),
    "fixture: segfaults": ("fail", "sanitizer", ["AddressSanitizer: SEGV", "validate_fixture.cpp"]),
    "fixture: traps": ("fail", "crash", ["killed by SIGILL"]),
    "fixture: aborts": ("fail", "abort", ["aborted (SIGABRT)"]),
    "fixture: uses freed memory": ("fail", "sanitizer", ["heap-use-after-free"]),
    "fixture: leaks": ("fail", "sanitizer", ["LeakSanitizer"]),
    "fixture: writes to a closed socket": ("fail", "crash", ["killed by SIGPIPE"]),
    "fixture: hangs": ("fail", "timeout", ["timeout", "1.5 s"]),
    "fixture: exits 3 without a failed check": ("fail", "exit", ["exit status 3"]),
    "fixture: exits 0 before its result is written": ("fail", "no-result", ["missing result"]),
    "fixture: recommended check fails": ("fail", "assertion", ["elapsed_ms < 100"]),
    "fixture: recommended passes": ("pass", "pass", []),
    "fixture: untagged passes": ("pass", "pass", []),
    "fixture: plain tag passes": ("pass", "pass", []),
    "fixture: many tags pass": ("pass", "pass", []),
}
TIMEOUT = 1.5


def run_validate(test, reqs, bins, env_extra=None, extra_args=()):
    d = scratch_dir(test)
    spec = os.path.join(d, "spec.md")
    write(d, {"spec.md": spec_text([(rid, lv, obs, "—") for rid, lv, obs, *_ in reqs])})
    report_dir = os.path.join(d, "report")
    argv = [sys.executable, os.path.join(TOOLS, "validate.py"), "--name", "fixture", "--impl", "fixture.cpp",
            "--report-dir", report_dir, "--spec", spec, "--timeout", str(TIMEOUT), "--jobs", "2"]
    for b in bins:
        argv += ["--bin", b]
    argv += list(extra_args)
    env = dict(os.environ, **(env_extra or {}))
    p = subprocess.run(argv, capture_output=True, text=True, env=env)
    report = None
    if os.path.exists(os.path.join(report_dir, "report.json")):
        with open(os.path.join(report_dir, "report.json")) as f:
            report = json.load(f)
    return p, report, report_dir, d


@unittest.skipUnless(FIXTURE and os.path.exists(FIXTURE), "fixture binary not built: run `make tools-check`")
class ValidateFixtureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.holder = unittest.TestCase()
        os.makedirs(SCRATCH, exist_ok=True)
        cls.pid_file = tempfile.mktemp(prefix="pids-", dir=SCRATCH)
        cls.proc, cls.report, cls.report_dir, _ = run_validate(
            cls.holder, FIXTURE_REQS, [FIXTURE], {"FIXTURE_PID_FILE": cls.pid_file})

    @classmethod
    def tearDownClass(cls):
        cls.holder.doCleanups()
        if os.path.exists(cls.pid_file):
            os.unlink(cls.pid_file)

    def test_exit_status_and_last_lines(self):
        self.assertEqual(self.proc.returncode, 1, self.proc.stdout + self.proc.stderr)
        lines = self.proc.stdout.strip().splitlines()
        self.assertEqual(lines[-2], "normative: 1/13 pass, recommended: 2/3 pass")
        self.assertEqual(lines[-1], "6 passed, 12 failed")
        self.assertIn(os.path.join(self.report_dir, "report.md"), lines[-3])
        self.assertTrue(any(ln.startswith("FAILED CPL_CREATE_004") for ln in lines), lines)
        self.assertTrue(any(ln.startswith("NON-STRICT CPL_DECREF_009") for ln in lines), lines)

    def test_requirement_verdicts(self):
        got = {r["id"]: r["verdict"] for r in self.report["requirements"]}
        self.assertEqual(got, {rid: verdict for rid, _, _, verdict in FIXTURE_REQS})
        worker = next(r for r in self.report["requirements"] if r["id"] == "CPL_WORKER_001")
        self.assertIn("internal", worker["note"])
        create = next(r for r in self.report["requirements"] if r["id"] == "CPL_CREATE_004")
        self.assertEqual(sorted(t["verdict"] for t in create["tests"]), ["fail", "pass"])
        self.assertFalse(self.report["conforms"])

    def test_summary(self):
        s = self.report["summary"]
        self.assertEqual(s["normative"], {"pass": 1, "fail": 11, "untested": 1, "total": 13})
        self.assertEqual(s["recommended"], {"pass": 2, "fail": 1, "untested": 0, "total": 3})
        self.assertEqual(s["internal"], {"pass": 0, "fail": 0, "untested": 1, "total": 1})
        self.assertEqual(s["tests"], {"passed": 6, "failed": 12})
        for key in ("implementation", "name", "date", "conforms", "summary", "requirements", "tests"):
            self.assertIn(key, self.report)

    def test_each_outcome_is_named(self):
        tests = {t["name"]: t for t in self.report["tests"]}
        self.assertEqual(set(tests), set(EXPECTED_TESTS))
        for name, (verdict, kind, parts) in EXPECTED_TESTS.items():
            t = tests[name]
            self.assertEqual((t["verdict"], t["kind"]), (verdict, kind), "%s: %s" % (name, t["message"]))
            for part in parts:
                self.assertIn(part, t["message"], name)
        self.assertLess(tests["fixture: hangs"]["seconds"], TIMEOUT + 5)

    def test_timeout_kills_the_process_group(self):
        with open(self.pid_file) as f:
            pids = [int(x) for x in f.read().split()]
        self.assertEqual(len(pids), 2)
        for pid in pids:  # gone, or a zombie waiting for a reaper (PID 1 in a container)
            try:
                with open("/proc/%d/stat" % pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                continue
            self.assertEqual(state, "Z", "pid %d still running" % pid)

    def test_wrapped_tags_are_all_read(self):
        t = next(t for t in self.report["tests"] if t["name"] == "fixture: many tags pass")
        self.assertEqual(len(t["tags"]), 25)
        self.assertIn("[CPL_REMOVE_005]", t["tags"])
        self.assertTrue(any("not in the spec" in w for w in self.report["warnings"]))

    def test_markdown(self):
        with open(os.path.join(self.report_dir, "report.md")) as f:
            md = f.read()
        self.assertTrue(md.startswith("# completion_port_linux conformance: fixture — DOES NOT CONFORM"))
        self.assertLess(md.index("## FAILED"), md.index("## NON-STRICT"))
        self.assertLess(md.index("## NON-STRICT"), md.index("## All requirements"))
        failed = md[md.index("## FAILED"):md.index("## NON-STRICT")]
        self.assertIn("**CPL_CREATE_004** — title of CPL_CREATE_004", failed)
        self.assertIn("41 == 42", failed)
        self.assertNotIn("CPL_DECREF_009", failed)
        self.assertIn("| CPL_DECREF_009 | recommended | api | NON-STRICT | 0/1 |", md)
        self.assertIn("| CPL_CREATE_004 | normative | api | FAILED | 1/2 |", md)
        self.assertIn("| CPL_CREATE_001 | normative | api | OK | 2/2 |", md)
        self.assertIn("| CPL_REMOVE_001 | normative | api | UNTESTED | – |", md)

    def test_junit(self):
        root = ET.parse(os.path.join(self.report_dir, "junit.xml")).getroot()
        suites = root.findall("testsuite")
        self.assertEqual(len(suites), 1)
        self.assertEqual((suites[0].get("tests"), suites[0].get("failures")), ("18", "12"))
        case = next(c for c in suites[0] if c.get("name") == "fixture: writes to a closed socket")
        self.assertIn("SIGPIPE", case.find("failure").get("message"))
        self.assertEqual([p.get("value") for p in case.find("properties")], ["CPL_SEND_004"])


@unittest.skipUnless(FIXTURE and os.path.exists(FIXTURE), "fixture binary not built: run `make tools-check`")
class ValidateVerdictTest(unittest.TestCase):
    def test_recommended_failures_still_conform(self):
        reqs = [(rid, "normative" if verdict == "pass" else "recommended", obs)
                for rid, _, obs, verdict in FIXTURE_REQS if obs != "internal"]
        p, report, report_dir, _ = run_validate(self, reqs, [FIXTURE])
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertTrue(report["conforms"])
        self.assertTrue(p.stdout.strip().splitlines()[-2].startswith("normative: 3/3 pass"), p.stdout)
        with open(os.path.join(report_dir, "report.md")) as f:
            self.assertIn("— CONFORMS", f.readline())

    def test_binary_that_cannot_list(self):
        d = scratch_dir(self)
        crasher = os.path.join(d, "crasher")
        with open(crasher, "w") as f:
            f.write("#!/bin/sh\nkill -SEGV $$\n")
        os.chmod(crasher, 0o755)
        reqs = [r[:3] for r in FIXTURE_REQS]
        p, report, _, _ = run_validate(self, reqs, [FIXTURE, crasher, os.path.join(d, "missing")])
        self.assertEqual(p.returncode, 1)
        self.assertIn("test binary could not run", p.stdout)
        for r in report["requirements"]:
            if r["observability"] == "internal":
                self.assertEqual(r["verdict"], "untested")
                continue
            self.assertEqual(r["verdict"], "fail", r["id"])
            messages = " ".join(t["message"] or "" for t in r["tests"])
            self.assertIn("test binary could not run", messages)
            self.assertIn("SIGSEGV", messages)
            self.assertIn("does not exist", messages)
        self.assertEqual(len(report["tests"]), len(EXPECTED_TESTS))  # the good binary still ran
        self.assertEqual([b["error"] is None for b in report["binaries"]], [True, False, False])

    def test_implementation_that_did_not_build(self):
        d = scratch_dir(self)
        log = os.path.join(d, "build.log")
        write(d, {"build.log": "g++ -c impl.c\nimpl.c:2:9: error: expected ';' before 'x'\nmake: *** Error 1\n"})
        reqs = [r[:3] for r in FIXTURE_REQS]
        p, report, _, _ = run_validate(self, reqs, [os.path.join(d, "conformance")],
                                       extra_args=["--build-log", log])
        self.assertEqual(p.returncode, 1)
        for r in report["requirements"]:
            if r["observability"] != "internal":
                self.assertEqual(r["verdict"], "fail", r["id"])
                message = r["tests"][0]["message"]
                self.assertIn("did not build", message)
                self.assertIn("impl.c:2:9: error: expected", message)

    def test_a_failure_naming_its_requirement_fails_only_that_one(self):
        reqs = [{"id": "CPL" + "_Q_%03d" % n, "title": "t", "level": "normative",
                 "observability": "api", "seed": ""} for n in (1, 2, 3)]
        ids = [r["id"] for r in reqs]
        tests = [
            {"name": "p", "binary": "b", "tags": ["[%s]" % i for i in ids], "verdict": "fail",
             "message": "%s: the peer read bytes nobody sent" % ids[1], "seconds": 0.1},
            {"name": "q", "binary": "b", "tags": ["[%s]" % ids[2]], "verdict": "fail",
             "message": "crashed: SIGSEGV", "seconds": 0.1},
        ]
        entries = {e["id"]: e for e in validate.judge(reqs, [], tests, [])}
        self.assertEqual(entries[ids[0]]["verdict"], "untested")
        # A failure naming a requirement the test does not tag counts against that one.
        tests = [{"name": "r", "binary": "b", "tags": ["[%s]" % ids[0]], "verdict": "fail",
                  "message": "%s: short read not continued" % ids[1], "seconds": 0.1}]
        moved = {e["id"]: e for e in validate.judge(reqs, [], tests, [])}
        self.assertEqual(moved[ids[0]]["verdict"], "untested")
        self.assertEqual(moved[ids[1]]["verdict"], "fail")
        self.assertEqual(moved[ids[1]]["tests"][0]["name"], "r")
        # ... but never one of another level: a recommended test naming a normative ID.
        reqs[0]["level"] = "recommended"
        tests[0]["message"] = "%s: send not resumed (%s allows OK)" % (ids[0], ids[1])
        kept = {e["id"]: e for e in validate.judge(reqs, [], tests, [])}
        self.assertEqual(kept[ids[0]]["verdict"], "fail")
        self.assertEqual(kept[ids[1]]["verdict"], "untested")
        tests[0]["message"] = "no callback came (%s allows OK)" % ids[1]
        kept = {e["id"]: e for e in validate.judge(reqs, [], tests, [])}
        self.assertEqual(kept[ids[0]]["verdict"], "fail")
        self.assertEqual(kept[ids[1]]["verdict"], "untested")
        self.assertEqual(entries[ids[0]]["tests"][0]["verdict"], "inconclusive")
        self.assertEqual(entries[ids[1]]["verdict"], "fail")
        self.assertEqual(entries[ids[2]]["verdict"], "fail")  # unnamed failure: every tag

    def test_no_binary_is_a_usage_error(self):
        p = subprocess.run([sys.executable, os.path.join(TOOLS, "validate.py"), "--name", "x",
                            "--report-dir", scratch_dir(self)], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no test binary", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=1)
