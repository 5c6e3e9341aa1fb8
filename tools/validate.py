#!/usr/bin/env python3
"""Validate an implementation of completion_port_linux against the spec.

Runs every Catch2 test case of the given binaries in its own process (parallel, with a
timeout per test), maps tests to requirements through their [CPL_X_NNN] tags, and writes
report.json, report.md and junit.xml to --report-dir. Exit status 0 iff the
implementation conforms (no normative requirement fails), 1 if it does not, 2 on usage
errors.
"""

import argparse
import concurrent.futures
import datetime
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpkit_catch2  # noqa: E402
import cpkit_report  # noqa: E402
import cpkit_spec  # noqa: E402

INTERNAL_NOTE = "internal: covered by the reference's unit tests"
_SAFE_RE = re.compile(r"[^A-Za-z0-9_.-]+")


def binary_names(paths):
    """Short, unique display names: the basename unless two binaries share it."""
    base = [os.path.basename(p) for p in paths]
    return [b if base.count(b) == 1 else p for p, b in zip(paths, base)]


def run_all(binaries, results_dir, jobs, timeout, warnings):
    """List and run every test. Returns (binaries info, tests)."""
    env = cpkit_catch2.child_env()
    infos, jobs_list = [], []
    for path, name in zip(binaries, binary_names(binaries)):
        info = {"path": path, "name": name, "tests": 0, "error": None}
        infos.append(info)
        try:
            listed = cpkit_catch2.list_tests(path, env)
        except cpkit_catch2.ListError as e:
            info["error"] = str(e)
            continue
        info["tests"] = len(listed)
        if not listed:
            warnings.append("%s lists no test case" % name)
        out_dir = os.path.join(results_dir, _SAFE_RE.sub("_", name))
        os.makedirs(out_dir, exist_ok=True)
        for i, (test, tags) in enumerate(listed):
            jobs_list.append((info, test, tags, os.path.join(out_dir, "%04d" % i)))

    runner = cpkit_catch2.Runner(env, timeout)
    tests = [None] * len(jobs_list)
    print("validate: %d tests from %d binar%s, %d jobs, %g s timeout per test"
          % (len(jobs_list), len(binaries), "y" if len(binaries) == 1 else "ies", jobs, timeout), flush=True)

    def one(index):
        info, test, tags, base = jobs_list[index]
        outcome = runner.run(info["path"], test, base)
        verdict, kind, message, details = cpkit_catch2.classify(test, outcome, timeout)
        xml_tags = cpkit_catch2.parse_result_xml(outcome["xml"], test)["tags"]
        tests[index] = {"name": test, "binary": info["name"], "tags": xml_tags or tags,
                        "verdict": verdict, "kind": kind, "message": message,
                        "seconds": round(outcome["seconds"], 3), "details": details}

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = [pool.submit(one, i) for i in range(len(jobs_list))]
        for f in concurrent.futures.as_completed(futures):
            f.result()
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        runner.kill_all()
        raise
    finally:
        pool.shutdown(wait=True)
    return infos, tests


def blamed_requirements(test, ids, level_of):
    """The requirements a test's result counts against. A failing test whose message
    names some of its own requirement IDs (a property checking many at once says which
    check broke) fails only those. If it names none of its own but names others of the
    same level (a normative property that met a broken recv), it fails those. Any other
    failure fails every ID it tags. A test never fails a requirement of another level
    than its own, so a recommended test cannot make an implementation non-conforming."""
    if test["verdict"] != "fail":
        return ids
    named = {rid for rid in cpkit_spec.ID_LIKE_RE.findall(test["message"] or "") if rid in level_of}
    own = [rid for rid in ids if rid in named]
    if own:
        return own
    levels = {level_of[rid] for rid in ids}
    return sorted(rid for rid in named if level_of[rid] in levels) or ids


def judge(reqs, infos, tests, warnings):
    """Requirement verdicts; returns the requirement entries of report.json."""
    known = {r["id"] for r in reqs}
    level_of = {r["id"]: r["level"] for r in reqs}
    by_id = {r["id"]: [] for r in reqs}
    unknown = set()
    for t in tests:
        ids = []
        for tag in t["tags"]:
            rid = tag.strip("[]")
            if rid in known:
                ids.append(rid)
            elif cpkit_spec.ID_LIKE_RE.fullmatch(rid):
                unknown.add("%s (%s)" % (rid, t["binary"]))
        t["requirements"] = ids
        blamed = blamed_requirements(t, ids, level_of)
        for rid in sorted(set(ids) | set(blamed)):
            verdict, message = t["verdict"], t["message"]
            if rid not in blamed:
                verdict = "inconclusive"
                message = "the test failed on %s, not on this requirement: %s" % (
                    ", ".join(blamed), message)
            by_id[rid].append({"name": t["name"], "binary": t["binary"], "verdict": verdict,
                               "message": message, "seconds": t["seconds"]})
    if unknown:
        warnings.append("tests tag IDs that are not in the spec: %s" % ", ".join(sorted(unknown)))
    broken = [b for b in infos if b["error"]]

    out = []
    for r in reqs:
        entry = {"id": r["id"], "title": r["title"], "level": r["level"],
                 "observability": r["observability"], "seed": r["seed"], "tests": by_id[r["id"]],
                 "note": None}
        if r["observability"] == "internal":
            entry["verdict"] = "untested"
            entry["note"] = INTERNAL_NOTE
        else:
            for b in broken:
                entry["tests"].append({"name": "(all tests of %s)" % b["name"], "binary": b["name"],
                                       "verdict": "fail", "seconds": 0,
                                       "message": "test binary could not run: %s" % b["error"]})
            verdicts = [t["verdict"] for t in entry["tests"]]
            entry["verdict"] = ("fail" if "fail" in verdicts else "pass" if "pass" in verdicts
                                else "untested")
        out.append(entry)
    return out


def summarize(req_entries, tests):
    def count(entries):
        return {"pass": sum(1 for e in entries if e["verdict"] == "pass"),
                "fail": sum(1 for e in entries if e["verdict"] == "fail"),
                "untested": sum(1 for e in entries if e["verdict"] == "untested"),
                "total": len(entries)}
    external = [e for e in req_entries if e["observability"] != "internal"]
    return {"normative": count([e for e in external if e["level"] == "normative"]),
            "recommended": count([e for e in external if e["level"] == "recommended"]),
            "internal": count([e for e in req_entries if e["observability"] == "internal"]),
            "tests": {"passed": sum(1 for t in tests if t["verdict"] == "pass"),
                      "failed": sum(1 for t in tests if t["verdict"] == "fail")}}


def print_failures(report, limit=20):
    lines = []
    for r in report["requirements"]:
        if r["verdict"] != "fail":
            continue
        t = next(t for t in r["tests"] if t["verdict"] == "fail")
        lines.append("%s %s (%s): %s — %s: %s" % (
            cpkit_report.verdict_word(r), r["id"], r["title"], r["level"], t["name"],
            cpkit_report.short(t["message"], 160)))
    for line in lines[:limit]:
        print(line)
    if len(lines) > limit:
        print("... and %d more failing requirements (see report.md)" % (len(lines) - limit))


def explain_missing_binaries(infos, build_log):
    """A binary is missing when the implementation did not build: say so, with the
    build's last lines, rather than "cannot execute"."""
    if not build_log or not os.path.exists(build_log):
        return
    with open(build_log, errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    shown = errors[:3] if errors else lines[-5:]
    for b in infos:
        if b["error"] and not os.path.exists(b["path"]):
            b["error"] = "the implementation did not build (%s): %s" % (build_log, " | ".join(shown))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, help="short name of the implementation")
    ap.add_argument("--impl", default="", help="what was validated (IMPL files), for the report")
    ap.add_argument("--report-dir", required=True)
    ap.add_argument("--bin", action="append", default=[], help="a Catch2 test binary (repeatable)")
    ap.add_argument("--requirements", help="build/trace/requirements.json (from make trace-json)")
    ap.add_argument("--spec", help="spec to read when --requirements is absent")
    ap.add_argument("--timeout", type=float, default=30, help="seconds per test (default 30)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel tests")
    ap.add_argument("--build-log", help="log of the build of the binaries; named in the report "
                    "when a binary is missing because the implementation did not build")
    args = ap.parse_args(argv)

    if not args.bin:
        print("validate: no test binary given (VALIDATE_BINS is empty?)", file=sys.stderr)
        return 2
    try:
        reqs = cpkit_spec.load_requirements(args.requirements, args.spec)
    except (OSError, cpkit_spec.SpecError) as e:
        print("validate: cannot read the requirements: %s" % e, file=sys.stderr)
        return 2

    # Children inherit the signal mask: a blocked SIGPIPE would hide CPL_SEND_004 failures.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    results_dir = os.path.join(args.report_dir, "results")
    shutil.rmtree(results_dir, ignore_errors=True)
    os.makedirs(results_dir)

    start = time.monotonic()
    warnings = []
    try:
        infos, tests = run_all(args.bin, results_dir, args.jobs, args.timeout, warnings)
    except KeyboardInterrupt:
        print("validate: interrupted", file=sys.stderr)
        return 130
    explain_missing_binaries(infos, args.build_log)
    req_entries = judge(reqs, infos, tests, warnings)
    summary = summarize(req_entries, tests)
    if summary["normative"]["untested"]:
        warnings.append("%d normative api/sys requirement(s) have no test in these binaries: %s"
                        % (summary["normative"]["untested"], ", ".join(
                            e["id"] for e in req_entries if e["verdict"] == "untested"
                            and e["level"] == "normative" and e["observability"] != "internal")))
    broken = any(b["error"] for b in infos)
    conforms = summary["normative"]["fail"] == 0 and not broken
    report = {
        "implementation": args.impl.strip() or args.name, "name": args.name,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "conforms": conforms, "summary": summary, "requirements": req_entries, "tests": tests,
        "binaries": infos, "warnings": warnings, "seconds": round(time.monotonic() - start, 2),
        "jobs": args.jobs, "timeout": args.timeout,
    }
    cpkit_report.write_all(args.report_dir, report)

    for b in infos:
        if b["error"]:
            print("validate: test binary could not run: %s" % b["error"])
    print_failures(report)
    print("validate %s: %s; report: %s" % (args.name, "CONFORMS" if conforms else "DOES NOT CONFORM",
                                           os.path.join(args.report_dir, "report.md")))
    n, r = summary["normative"], summary["recommended"]
    print("normative: %d/%d pass, recommended: %d/%d pass" % (n["pass"], n["total"], r["pass"], r["total"]))
    print("%d passed, %d failed" % (summary["tests"]["passed"], summary["tests"]["failed"]))
    return 0 if conforms else 1


if __name__ == "__main__":
    sys.exit(main())
