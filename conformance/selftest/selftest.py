#!/usr/bin/env python3
"""The kit's self-test: validate implementations whose verdict is known and check
that the suite reaches that verdict for the right reason (README.md).

  selftest.py --name NAME --expect EXPECT.txt        an implementation of impls/
  selftest.py --fault F.fault [--fault ...] [--runs N] [--baseline REPORT.json]
                                                     single-fault copies of the reference

Each validation is `MAKE validate IMPL=... VALIDATE_NAME=selftest-NAME` (a fault:
selftest-fault-NAME, its sources materialized by faults.py in BUILD/selftest/faults/NAME/),
logged to BUILD/selftest/NAME.log; its report.json is then checked:
  conforms: yes -> validate exits 0, no normative requirement fails, every `fail:` ID
                   is NON-STRICT, at least min_recommended_fail recommended ones fail;
  conforms: no  -> validate exits non-zero and every `fail:` ID fails;
  a fault       -> every `fail:` ID fails; validate exits non-zero if one of them is normative;
and, from report.json format_version 2 on (the engine attributes root causes): at most
roots_max failing requirements have no caused_by, every caused_by names a failing
requirement, no normative root beyond `fail:`/`allow:`, and (conforms: yes) junit.xml
has no <failure>. Always: report.json and its views agree (cpkit.views.consistency), and the
implementation built.
--report-only judges the reports of an earlier run again without validating.
With --runs N each fault is validated once with VALIDATE_REPEAT=N-1 and
VALIDATE_REPEAT_ONLY=<its fail: IDs>: every test that failed one of them is run N-1 more
times, and the fault is caught in run k when such a test failed one of them in its k-th run (report.json's per-test run_requirements); it
passes only if it is caught in N of N runs. A table fault -> requirement -> caught k/N
closes the output. Exit status 0 iff every expectation holds.
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import faults  # noqa: E402

EXPECT_LIST_KEYS = ("fail", "allow")
EXPECT_KEYS = ("impl", "cflags", "conforms", "min_recommended_fail", "roots_max")
DEFAULT_ROOTS_MAX = 3


def read_expect(path):
    """key -> value; `fail:` and `allow:` accumulate lists, '#' starts a comment."""
    exp = {k: [] for k in EXPECT_LIST_KEYS}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            key, sep, value = line.partition(":")
            if not sep:
                raise ValueError("%s: not `key: value`: %r" % (path, raw.rstrip()))
            key, value = key.strip(), value.strip()
            if key in EXPECT_LIST_KEYS:
                exp[key] += value.split()
            elif key in EXPECT_KEYS:
                exp[key] = value
            else:
                raise ValueError("%s: unknown key %r" % (path, key))
    if exp.get("conforms") not in ("yes", "no") or not exp.get("impl"):
        raise ValueError("%s: needs `impl:` and `conforms: yes|no`" % path)
    return exp


def expect_of_fault(fault):
    h = fault["header"]
    # "fault": does not conform iff an intended requirement is normative (check()).
    exp = {"conforms": "fault", "fail": list(h["fail"]), "allow": list(h["allow"])}
    if "roots_max" in h:
        exp["roots_max"] = h["roots_max"]
    if h.get("sanitize"):
        exp["sanitize"] = h["sanitize"]
    return exp


# --- reading a report ----------------------------------------------------------------

def word_of(req):
    """The verdict word a view shows (format 2 stores it; format 1: derived)."""
    if req.get("word"):
        return req["word"]
    v = req["verdict"]
    if v == "fail":
        return "FAILED" if req["level"] == "normative" else "NON-STRICT"
    return {"pass": "OK", "inconclusive": "INCONCLUSIVE"}.get(v, "UNTESTED")


def failing_tests_of(report, req_id):
    """(binary, name) of the tests whose failures count against req_id."""
    if report.get("format_version", 1) >= 2:
        by_id = {t["id"]: t for t in report["tests"]}
        req = next(r for r in report["requirements"] if r["id"] == req_id)
        ids = {f["test"] for f in req.get("failures", [])}
        return sorted((by_id[i]["binary"], by_id[i]["name"]) for i in ids if i in by_id)
    tag = "[%s]" % req_id
    return sorted((t["binary"], t["name"]) for t in report["tests"]
                  if t["verdict"] == "fail" and tag in t["tags"])


def failure_line(report, req_id):
    """The first failure counted against req_id, on one line."""
    if report.get("format_version", 1) >= 2:
        req = next(r for r in report["requirements"] if r["id"] == req_id)
        for f in req.get("failures", []):
            text = f.get("expanded") or f.get("message") or f.get("check") or f.get("kind")
            return "%s: %s" % (f["test"], " ".join(str(text).split())[:300])
        return ""
    tag = "[%s]" % req_id
    for t in report["tests"]:
        if t["verdict"] == "fail" and tag in t["tags"]:
            return "%s: %s" % (t["name"], " ".join((t["message"] or "").split())[:300])
    return ""


def build_failed(report, report_dir):
    """Why the implementation did not build, or None. A stale test binary from an
    earlier build must never be judged instead."""
    if (report.get("build") or {}).get("status") == "impl-failed":
        return "; ".join(report["build"].get("errors", [])[:3]) or "build failed"
    log = os.path.join(report_dir, "build.log")
    try:
        with open(log, errors="replace") as f:
            bad = [line.strip() for line in f if re.search(r"(error:|\*\*\* .*Error \d+)", line)]
    except OSError:
        return None
    return " | ".join(bad[:3]) if bad else None


# --- the views agree ---------------------------------------------------------------

def consistency(report, report_dir):
    """What cpkit.views.consistency.check(report_dir) finds: every view of the report
    must say what report.json says."""
    tools = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    from cpkit.views import consistency as views_consistency
    try:
        result = views_consistency.check(report_dir)
    except (AssertionError, ValueError, OSError) as e:
        return ["views disagree: %s" % e]
    return ["views disagree: %s" % p for p in (result or [])]


def junit_failures(report_dir):
    root = ET.parse(os.path.join(report_dir, "junit.xml")).getroot()
    return [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]


# --- the expectation -----------------------------------------------------------------

def check(exp, status, report, report_dir, baseline=None):
    """Returns (problems, summary line)."""
    fmt = report.get("format_version", 1)
    status_problem = None
    if "exit_status" in report and report["exit_status"] != status:
        status_problem = "cpkit-validate exited %d, report.json says %d" % (status, report["exit_status"])
    reqs = {r["id"]: r for r in report["requirements"]}
    failing = sorted(i for i, r in reqs.items() if r["verdict"] == "fail")
    normative_failing = [i for i in failing if reqs[i]["level"] == "normative"]
    recommended_failing = [i for i in failing if reqs[i]["level"] == "recommended"]
    problems = [status_problem] if status_problem else []

    unknown = [i for i in exp["fail"] + exp["allow"] if i not in reqs]
    if unknown:
        problems.append("unknown requirement IDs in expectations: " + " ".join(unknown))
    why = build_failed(report, report_dir)
    if why:
        problems.append("the implementation did not build: " + why)
    broken = [b["name"] for b in report.get("binaries", []) if b.get("error")]
    if broken:
        problems.append("test binaries could not run: " + " ".join(broken))
    for i in exp["fail"]:
        if i in reqs and i not in failing:
            problems.append("%s expected to fail but is %s" % (i, word_of(reqs[i])))
    problems += consistency(report, report_dir)

    if exp.get("missed"):
        # The mode that cannot see the fault (a race without ThreadSanitizer): none
        # of its intended requirements fails, which is why the fault names its mode.
        problems = [p for p in problems if "expected to fail" not in p]
        for i in exp["fail"]:
            if i in failing:
                problems.append("%s fails in this mode too: %s" % (i, failure_line(report, i)))
        return problems, "missed (%s)" % " ".join("%s %s" % (i, word_of(reqs[i])) for i in exp["fail"] if i in reqs)

    if exp["conforms"] == "yes":
        if status != 0 or not report.get("conforms"):
            problems.append("validate says DOES NOT CONFORM (exit %d)" % status)
        for i in normative_failing:
            problems.append("normative %s FAILED: %s" % (i, failure_line(report, i)))
        minimum = int(exp.get("min_recommended_fail", "1"))
        if len(recommended_failing) < minimum:
            problems.append("only %d recommended requirements fail, expected >= %d"
                            % (len(recommended_failing), minimum))
        if fmt >= 2:
            failed_cases = junit_failures(report_dir)
            if failed_cases:
                problems.append("junit.xml has %d <failure>, expected none: %s"
                                % (len(failed_cases), "; ".join(failed_cases[:3])))
        summary = "conforms (%d recommended NON-STRICT)" % len(recommended_failing)
        if status != 0 or not report.get("conforms"):
            summary = "does NOT conform (%d normative FAILED, %d recommended NON-STRICT)" % (
                len(normative_failing), len(recommended_failing))
        return problems, summary

    normative_intended = [i for i in exp["fail"] if i in reqs and reqs[i]["level"] == "normative"]
    if (exp["conforms"] == "no" or normative_intended) and (status == 0 or report.get("conforms")):
        problems.append("validate says CONFORMS (exit %d)" % status)
    caught = [i for i in exp["fail"] if i in failing]
    summary = ("caught (%s)" % " ".join("%s %s" % (i, word_of(reqs[i])) for i in caught)
               if caught else "NOT caught")
    known = set(exp["fail"]) | set(exp["allow"])
    # Blame precision is checked on the implementations and on the faults that
    # ask for it (roots_max); the other faults measure whether the suite catches.
    precise = exp["conforms"] != "fault" or "roots_max" in exp
    if fmt >= 2:
        roots = [i for i in failing if not reqs[i].get("caused_by")]
        roots_max = int(exp.get("roots_max", DEFAULT_ROOTS_MAX))
        if precise and len(roots) > roots_max:
            problems.append("%d failing requirements have no caused_by, at most %d expected: %s"
                            % (len(roots), roots_max, " ".join(roots)))
        for i in failing:
            dangling = [c for c in reqs[i].get("caused_by", []) if c not in failing]
            if dangling:
                problems.append("%s is caused_by %s, which do not fail" % (i, " ".join(dangling)))
        for i in roots if precise else []:
            if reqs[i]["level"] == "normative" and i not in known:
                problems.append("normative root %s beyond fail:/allow:: %s" % (i, failure_line(report, i)))
        summary += ("; roots %d/%d: %s" % (len(roots), roots_max, " ".join(roots)) if precise
                    else "; roots %d" % len(roots))
    else:
        others = [i for i in normative_failing if i not in known]
        summary += "; format 1 (no caused_by): %d failing, %d other normative%s" % (
            len(failing), len(others), (": " + " ".join(others[:6]) + (" ..." if len(others) > 6 else "")) if others else "")
    if baseline is not None:
        base = {(t["binary"], t["name"]): t["verdict"] for t in baseline["tests"]}
        for i in caught:
            both = [n for b, n in failing_tests_of(report, i) if base.get((b, n)) == "fail"]
            if both:
                problems.append("%s: the reference fails these tests too: %s" % (i, "; ".join(both)))
    return problems, summary


# --- running -------------------------------------------------------------------------

def caught_runs(report, req_ids, runs):
    """The number of run indices k (of `runs`) where some test's k-th run counted a
    failure against one of req_ids (a test that passed its first run is not rerun)."""
    hit = set()
    for t in report.get("tests", []):
        for k, blamed in enumerate(t.get("run_requirements") or []):
            if any(i in blamed for i in req_ids):
                hit.add(k)
    return len([k for k in hit if k < runs])


def validate(args, name, impl, cflags, repeat=0, sanitize=None, repeat_only=()):
    """Runs tools/cpkit-validate (make validate, with the engine's own exit status);
    returns (status, seconds, report or None, report_dir, log)."""
    report_dir = os.path.join(args.build, "validate", "selftest-" + name)
    report_path = os.path.join(report_dir, "report.json")
    log_path = os.path.join(args.build, "selftest", name + ".log")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    if args.report_only:
        try:
            with open(report_path, encoding="utf-8") as f:
                report = json.load(f)
        except (OSError, ValueError):
            return 2, 0.0, None, report_dir, log_path
        return (0 if report.get("conforms") else 1), report.get("seconds", 0.0), report, report_dir, log_path
    if os.path.exists(report_path):
        os.remove(report_path)  # never judge a stale report
    cmd = ["sh", os.path.join("tools", "cpkit-validate"), "IMPL=" + impl,
           "VALIDATE_NAME=selftest-" + name, "IMPL_CFLAGS=" + (cflags or "")]
    if repeat:
        cmd.append("VALIDATE_REPEAT=%d" % repeat)
        if repeat_only:
            cmd.append("VALIDATE_REPEAT_ONLY=" + " ".join(repeat_only))
    if sanitize:
        cmd.append("SANITIZE=" + sanitize)
    start = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ %s\n" % " ".join(shlex.quote(c) for c in cmd))
        log.flush()
        status = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    try:
        with open(report_path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError):
        report = None
    return status, seconds, report, report_dir, log_path


def run_one(args, name, exp, impl, cflags, baseline, label, runs=1):
    """Returns (expectations hold, runs of `runs` that caught exp's fail: IDs, seconds)."""
    status, seconds, report, report_dir, log_path = validate(args, name, impl, cflags, runs - 1, exp.get("sanitize"), exp["fail"])
    if report is None:
        print("selftest %s: ERROR no usable report; see %s" % (label, log_path), flush=True)
        return False, 0, seconds
    problems, summary = check(exp, status, report, report_dir, baseline)
    caught = caught_runs(report, exp["fail"], runs)
    if runs > 1:
        summary += "; caught in %d of %d runs" % (caught, runs)
        if caught < runs and not exp.get("missed"):
            problems.append("caught in %d of %d runs only" % (caught, runs))
    print("selftest %s: %s [validate %.0f s, %d tests]" % (label, summary, seconds, len(report.get("tests", []))),
          flush=True)
    for p in problems:
        print("selftest %s: UNEXPECTED: %s" % (label, p))
    if problems:
        print("selftest %s: report %s, log %s" % (label, os.path.join(report_dir, "report.md"), log_path))
    return not problems, caught, seconds


def run_faults(args, baseline):
    rows, ok_all = [], True
    for path in args.fault:
        try:
            fault = faults.parse(path)
            out_dir = os.path.join(args.build, "selftest", "faults", fault["name"])
            files = faults.materialize(fault, args.src, out_dir)
        except (OSError, faults.FaultError) as e:
            print("selftest fault-%s: ERROR %s" % (faults.name_of(path), e))
            rows.append((faults.name_of(path), "?", "error", 0, 0.0, False))
            ok_all = False
            continue
        exp = expect_of_fault(fault)
        # A fault that names its sanitizer (a race: thread) is validated in that mode,
        # unless --sanitize overrides it; --expect-missed: that mode must not catch it.
        if args.sanitize:
            exp["sanitize"] = args.sanitize
        exp["missed"] = args.expect_missed
        name = "fault-" + fault["name"] + ("-tsan" if exp.get("sanitize") == "thread" else "")
        ok, caught, seconds = run_one(args, name, exp, " ".join(files), "-I" + out_dir,
                                      baseline, name, args.runs)
        ok_all &= ok
        rows.append((fault["name"], " ".join(exp["fail"]), fault["header"].get("row", ""), caught, seconds, ok))
    if len(rows) > 1 or args.runs > 1:
        print("\n| fault | requirement | matrix row | caught | seconds | verdict |")
        print("|---|---|---|--:|--:|---|")
        for name, req, row, caught, mean, ok in rows:
            print("| %s | %s | %s | %d/%d | %.0f | %s |" % (name, req, row, caught, args.runs, mean,
                                                          "ok" if ok else "FAILED"))
    return ok_all


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name")
    ap.add_argument("--expect")
    ap.add_argument("--fault", action="append", default=[], help="a .fault file (repeatable)")
    ap.add_argument("--runs", type=int, default=1, help="validations per fault")
    ap.add_argument("--baseline", help="the reference's report.json: a test that catches a fault must pass it")
    ap.add_argument("--src", default="reference/src")
    ap.add_argument("--report-only", action="store_true", help="judge the existing reports, run no validation")
    ap.add_argument("--make", default="make")
    ap.add_argument("--build", default="build")
    ap.add_argument("--sanitize", choices=("address", "thread"),
                    help="validate the faults with SANITIZE=this instead of their `sanitize:` header")
    ap.add_argument("--expect-missed", action="store_true",
                    help="the faults' intended requirements must NOT fail (a mode blind to them)")
    args = ap.parse_args()

    baseline = None
    if args.baseline:
        with open(args.baseline, encoding="utf-8") as f:
            baseline = json.load(f)
    if args.fault:
        return 0 if run_faults(args, baseline) else 1
    if not (args.name and args.expect):
        ap.error("give --name and --expect, or --fault")
    try:
        exp = read_expect(args.expect)
    except (OSError, ValueError) as e:
        print("selftest %s: ERROR %s" % (args.name, e))
        return 1
    ok, _, _ = run_one(args, args.name, exp, exp["impl"], exp.get("cflags"), baseline, args.name)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
