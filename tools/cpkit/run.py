"""One validation: dependencies, the three build steps, the hang probe, every
selected test in its own process, verdicts, report.json and its views.

Exit status (tools/RESULTS.md section 5): 0 conforms, 1 does not, 2 the kit could
not judge (then no verdict is written, only what is missing and the fix)."""

import argparse
import concurrent.futures
import fnmatch
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

from . import build, catch2, report, results, spec, verdict

ROOT = spec.repo_root()
PROBE_TAG = "[probe]"
PROBE_FALLBACK = "recv: a readable socket is read with recv into the op buffer"
PROBE_TIMEOUT = 12
HANG_BUDGET_S = 300
HANG_TEARDOWN_MS = 3000
HANG_WAIT_MS = 1500
DEFAULT_WAIT_MS = 5000
_SAFE_RE = re.compile(r"[^A-Za-z0-9_.-]+")


class KitCannotJudge(Exception):
    """Exit 2: what is missing and the command that fixes it."""

    def __init__(self, message, fix):
        super().__init__(message)
        self.fix = fix


def binary_names(paths):
    base = [os.path.basename(p) for p in paths]
    return [b if base.count(b) == 1 else _SAFE_RE.sub("_", p) for p, b in zip(paths, base)]


def rerun_command(t, env, extra_env, replay=None):
    """One shell command, from the kit's root, that runs this test alone as validate
    did (same sanitizer options, CPK_* variables, default SIGPIPE, timeout)."""
    assigns = ["%s=%s" % (k, shlex.quote(env[k])) for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS")
               if env.get(k)]
    assigns += ["%s=%s" % (k, shlex.quote(str(v))) for k, v in sorted(extra_env.items())]
    assigns.append("CPK_RESULT_FILE=%s" % shlex.quote(t["base"] + ".rerun.jsonl"))
    if replay:
        m = re.search(r"RC_PARAMS=(\"[^\"]*\"|'[^']*'|\S+)", replay)
        value = shlex.split(m.group(1))[0] if m else replay.strip()
        assigns.append("RC_PARAMS=%s" % shlex.quote(value))
    return "timeout -s KILL %s env --default-signal=PIPE %s %s %s" % (
        _num(t["timeout"]), " ".join(assigns), shlex.quote(t["path"]), shlex.quote(catch2.test_spec(t["name"])))


def _num(x):
    return ("%g" % x) if isinstance(x, float) else str(x)


def select(tests, only, rerun_names):
    """The tests ONLY= and RERUN_FAILED=1 keep (all when neither is given)."""
    out = tests
    if only:
        out = [t for t in out if any(fnmatch.fnmatchcase(tag.strip("[]"), pat)
                                     for tag in t["tags"] for pat in only)]
    if rerun_names is not None:
        out = [t for t in out if (t["binary"], t["name"]) in rerun_names]
    return out


def previous_failures(report_dir):
    try:
        prev = report.load(report_dir)
    except report.ReportError as e:
        raise KitCannotJudge("RERUN_FAILED=1: %s" % e, "make validate (without RERUN_FAILED) first")
    return {(t["binary"], t["name"]) for t in prev["tests"] if t["verdict"] in ("fail", "kit-error")}


class Progress:
    """done/total and failures so far, on one terminal line (only on a tty)."""

    def __init__(self, total):
        self.total, self.done, self.failed = total, 0, 0
        self.tty = sys.stdout.isatty()
        self.lock = threading.Lock()

    def step(self, failed):
        with self.lock:
            self.done += 1
            self.failed += bool(failed)
            if self.tty:
                sys.stdout.write("\rvalidate: %d/%d tests, %d failed " % (self.done, self.total, self.failed))
                sys.stdout.flush()

    def close(self):
        if self.tty and self.done:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()


def run_tests(runner, tests, jobs, extra_env, impl_paths, progress=None, suffix="", stop=None):
    """stop(t, res) -> True: start no further test (the ones running finish); the
    tests never started are left out of the result."""
    stopped = threading.Event()

    def one(t):
        if stopped.is_set():
            return None
        out = runner.run(t["path"], t["name"], t["base"] + suffix, extra_env, t["timeout"])
        res = results.read(out, t["name"], impl_paths)
        if progress:
            progress.step(res["failures"] or res["kit_errors"])
        if stop is not None and stop(t, res):
            stopped.set()
        return t, out, res

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        return [r for r in (f.result() for f in [pool.submit(one, t) for t in tests]) if r is not None]
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        runner.kill_all()
        raise
    finally:
        pool.shutdown(wait=True)


def probe(runner, listed, impl_paths, results_dir):
    """Runs the [probe] test (or PROBE_FALLBACK) with a short timeout; returns the
    report's `hang` object when it shows a final dec_ref that does not return."""
    cands = [t for t in listed if PROBE_TAG in t["tags"]] or [t for t in listed if t["name"] == PROBE_FALLBACK]
    if not cands:
        return None, "no probe test ([probe] tag or %r): hangs are not detected early" % PROBE_FALLBACK
    t = cands[0]
    out = runner.run(t["path"], t["name"], os.path.join(results_dir, "probe"), {}, PROBE_TIMEOUT)
    res = results.read(out, t["name"], impl_paths)
    fs = res["failures"]
    hung = any(f.get("requirement") == verdict.DECREF_RETURNS for f in fs) or \
        any(f["kind"] == "timeout" and f["phase"] == "release" for f in fs)
    records, _ = results.read_records(out["result"])
    start = next((r.get("t_ms") for r in records if r["type"] == "start"), None)
    silent = any(f["kind"] == "timeout" and f["phase"] == "body" for f in fs) or any(
        r["type"] == "violation" and r.get("phase") == "body" and start is not None
        and r.get("t_ms", 0) - start >= 0.8 * DEFAULT_WAIT_MS for r in records)
    if not (hung or silent):
        return None, None
    sig = " and ".join(s for s, on in (("final dec_ref did not return", hung),
                                         ("the worker never delivered", silent)) if on)
    return {"probe": t["name"], "signature": sig, "teardown_ms": HANG_TEARDOWN_MS,
            "wait_ms": HANG_WAIT_MS if silent else None}, None


def counts_against_verdict(reqs, strict):
    """The fail-fast stop: a test whose failures alone make the run DOES NOT CONFORM
    (a normative requirement fails; with --strict any). A kit error never stops it."""
    levels = ("normative", "recommended") if strict else ("normative",)

    def stop(t, res):
        if res["kit_errors"] or not res["failures"]:
            return False
        alone = verdict.judge(reqs, [dict(t, raw_failures=res["failures"], kit_errors=[])], strict=strict)
        return any(r["verdict"] == "fail" and r["level"] in levels for r in alone["requirements"])
    return stop


def hang_settings(hang, n_tests, jobs, timeout, elapsed):
    """Per-test timeout and jobs that fit the run in HANG_BUDGET_S: hanging tests
    wait rather than compute, so more of them run at once."""
    jobs = max(jobs, 2 * (os.cpu_count() or 2))
    budget = max(60, HANG_BUDGET_S - elapsed - 30)
    per_test = int(budget * jobs / max(1, n_tests))
    return max(2 * hang["teardown_ms"] // 1000 + 2, min(int(timeout), per_test)), jobs


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="validate.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, help="short name of the implementation")
    ap.add_argument("--impl", default="", help="the IMPL files (space separated)")
    ap.add_argument("--impl-kind", default="sources", choices=("sources", "archive", "shared"))
    ap.add_argument("--report-dir", required=True)
    ap.add_argument("--bin", action="append", default=[], help="a Catch2 test binary (repeatable)")
    ap.add_argument("--requirements", help="build/trace/requirements.json (from make trace-json)")
    ap.add_argument("--spec", help="spec to read when --requirements is absent")
    ap.add_argument("--timeout", type=float, default=30, help="seconds per test (default 30)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel tests")
    ap.add_argument("--strict", action="store_true", help="recommended failures count too")
    ap.add_argument("--only", default="", help="IDs or globs: run only the tests tagged with them")
    ap.add_argument("--rerun-failed", action="store_true", help="the failures of the last report")
    ap.add_argument("--repeat", type=int, default=0, help="rerun each failing test N times")
    ap.add_argument("--repeat-only", default="", metavar="IDS",
                    help="with --repeat: rerun only the failing tests whose first run failed one of these requirements")
    ap.add_argument("--probe", action="store_true", help="probe for a hanging teardown first")
    ap.add_argument("--fail-fast", action="store_true",
                    help="start no test after the first one that makes the run DOES NOT CONFORM (partial report)")
    ap.add_argument("--deps", help="command that installs missing dependencies (exit 2 if it fails)")
    ap.add_argument("--make", help="sub-make command; with it the three build steps run first")
    ap.add_argument("--build-log", help="build log (default REPORT_DIR/build.log)")
    args = ap.parse_args(argv)
    if args.repeat < 0 or args.jobs < 1 or args.timeout <= 0:
        ap.error("--repeat must be >= 0, --jobs >= 1, --timeout > 0")
    return args


def do_build(args, jobs, log):
    """The three steps. Returns the report's `build` object; raises KitCannotJudge
    when the kit's own objects fail."""
    with open(log, "w", encoding="utf-8"):
        pass
    rel_log = os.path.relpath(log, args.report_dir)
    ok, lines = build.run_step(args.make, "validate-kit", jobs, log)
    if not ok:
        tail = [ln for ln in lines if ln.strip()][-15:]
        raise KitCannotJudge("the kit's own objects (harness, tests, Catch2 main, property tests) did "
                             "not build; this is the kit's fault, not the implementation's (log: %s):\n  %s"
                             % (log, "\n  ".join(tail)),
                             "sh mk/install-deps.sh && make clean && make validate")
    ok, lines = build.run_step(args.make, "validate-impl", jobs, log)
    if not ok:
        return {"status": "impl-failed", "step": "compile", "errors": build.compiler_errors(lines), "log": rel_log}
    ok, lines = build.run_step(args.make, "validate-link", jobs, log)
    if not ok:
        kit_symbols = build.kit_link_failure(lines)
        if kit_symbols:
            raise KitCannotJudge("the kit's own objects do not link together (undefined: %s); this is the "
                                 "kit's fault, not the implementation's (log: %s)" % (", ".join(kit_symbols), log),
                                 "make clean && make validate")
        return {"status": "impl-failed", "step": "link", "errors": build.linker_errors(lines), "log": rel_log}
    return {"status": "ok", "errors": [], "log": rel_log}


def validate(args):
    start = time.monotonic()
    impl_files = args.impl.split()
    # Without --make the binaries are given ready-built and --impl only names them.
    missing = [f for f in impl_files if not os.path.exists(f)] if args.make else []
    if missing:
        raise KitCannotJudge("IMPL file(s) not found: %s" % " ".join(missing),
                             "make validate IMPL=\"<existing sources, .a or .so>\"")
    if args.deps:
        p = subprocess.run(args.deps, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise KitCannotJudge("missing dependencies:\n  " + p.stdout.decode("utf-8", "replace").strip()
                                 .replace("\n", "\n  "), args.deps)
    if not args.bin:
        raise KitCannotJudge("no test binary given (VALIDATE_BINS is empty)", "make validate")
    try:
        reqs = spec.load_requirements(args.requirements, args.spec)
    except (OSError, spec.SpecError) as e:
        raise KitCannotJudge("cannot read the requirements: %s" % e, "make trace")
    only = [p for p in re.split(r"[\s,]+", args.only) if p]
    rerun_names = previous_failures(args.report_dir) if args.rerun_failed else None
    partial = bool(only) or args.rerun_failed
    selection = {"only": only, "rerun_failed": bool(args.rerun_failed)} if partial else None

    # Children inherit the signal mask: a blocked SIGPIPE would hide CPL_SEND_004 failures.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    os.makedirs(args.report_dir, exist_ok=True)
    report.discard(args.report_dir)
    results_dir = os.path.join(args.report_dir, "results")
    if not partial:
        shutil.rmtree(results_dir, ignore_errors=True)
    os.makedirs(results_dir, exist_ok=True)

    build_info = {"status": "ok", "errors": [], "log": None}
    if args.make:
        print("validate: building for %s (log: %s)" % (args.name, args.build_log), flush=True)
        build_info = do_build(args, args.jobs, args.build_log)

    env = catch2.child_env()
    warnings, infos, listed = [], [], []
    global_failures = []
    if build_info["status"] == "ok":
        for path, bname in zip(args.bin, binary_names(args.bin)):
            info = {"name": bname, "path": path, "tests": 0, "error": None}
            infos.append(info)
            try:
                tests = catch2.list_tests(path, env)
            except catch2.ListError as e:
                info["error"] = str(e)
                global_failures.append({"kind": "no-result", "phase": "setup", "file": "", "line": 0,
                                        "message": "test binary %s could not list its tests: %s" % (bname, e)})
                continue
            info["tests"] = len(tests)
            out_dir = os.path.join(results_dir, _SAFE_RE.sub("_", bname))
            os.makedirs(out_dir, exist_ok=True)
            for i, (name, tags) in enumerate(tests, 1):
                listed.append({"id": "%s#%d" % (bname, i), "binary": bname, "path": path, "name": name,
                               "tags": tags, "base": os.path.join(out_dir, "%04d" % i),
                               "timeout": args.timeout})
    selected = select(listed, only, rerun_names)
    if partial and not selected and build_info["status"] == "ok":
        raise KitCannotJudge("no test matches ONLY=%s%s" % (" ".join(only), " RERUN_FAILED=1" if args.rerun_failed else ""),
                             "make validate ONLY=<requirement IDs or globs of tests that exist>")

    runner = catch2.Runner(env, args.timeout)
    extra_env, jobs, timeout, hang = {}, args.jobs, args.timeout, None
    if args.probe and selected:
        hang, note = probe(runner, listed, impl_files, results_dir)
        if note:
            warnings.append(note)
        if hang:
            timeout, jobs = hang_settings(hang, len(selected), args.jobs, args.timeout, time.monotonic() - start)
            hang["timeout"] = timeout
            extra_env["CPK_TEARDOWN_MS"] = str(hang["teardown_ms"])
            if hang["wait_ms"]:
                extra_env["CPK_WAIT_MS"] = str(hang["wait_ms"])
            for t in selected:
                t["timeout"] = timeout
            print("validate: probe %r: %s; tests run with CPK_TEARDOWN_MS=%d%s, %d s timeout, %d jobs"
                  % (hang["probe"], hang["signature"], hang["teardown_ms"],
                     ", CPK_WAIT_MS=%d" % hang["wait_ms"] if hang["wait_ms"] else "", timeout, jobs), flush=True)
    if selected:
        print("validate: %d tests from %d binar%s, %d jobs, %g s timeout per test"
              % (len(selected), len(infos), "y" if len(infos) == 1 else "ies", jobs, timeout), flush=True)
    progress = Progress(len(selected))
    stop = counts_against_verdict(reqs, args.strict) if args.fail_fast else None
    try:
        done = run_tests(runner, selected, jobs, extra_env, impl_files, progress, stop=stop)
    finally:
        progress.close()
    if len(done) < len(selected):
        # Fail-fast stopped the run: what was not run is not judged.
        partial = True
        selection = dict(selection or {"only": only, "rerun_failed": bool(args.rerun_failed)}, fail_fast=True)
        warnings.append("fail-fast: stopped after the first failing test; %d of %d tests not run"
                        % (len(selected) - len(done), len(selected)))

    known = {r["id"] for r in reqs}

    def blamed(t, res):
        """The requirements one run of a test counts failures against (sorted)."""
        tagged = verdict.requirement_ids(t["tags"], known)
        return sorted({rid for f in res["failures"] for rid in verdict.attribute(f, tagged, known)[0]})

    judged_tests = []
    for t, out, res in done:
        jt = dict(t, raw_failures=res["failures"], kit_errors=res["kit_errors"],
                  seconds=round(out["seconds"], 3), runs=1, failed_runs=0, run_requirements=[blamed(t, res)],
                  files={"result": out["result"], "xml": out["xml"], "stdout": out["stdout"],
                         "stderr": out["stderr"]})
        if res["failures"] or res["kit_errors"]:
            jt["failed_runs"] = 1
        judged_tests.append(jt)
    if args.repeat:
        repeat_only = set(args.repeat_only.split())
        again = [t for t in judged_tests
                 if t["failed_runs"] and (not repeat_only or repeat_only & set(t["run_requirements"][0]))]
        for n in range(1, args.repeat + 1):
            for t, _, res in run_tests(runner, again, jobs, extra_env, impl_files, suffix=".run%d" % (n + 1)):
                t["runs"] += 1
                t["failed_runs"] += bool(res["failures"] or res["kit_errors"])
                t["run_requirements"].append(blamed(t, res))
        for t in again:
            if t["failed_runs"] < t["runs"]:
                warnings.append("%s (%s) failed %d of %d runs: flaky" % (t["id"], t["name"], t["failed_runs"], t["runs"]))

    judged = verdict.judge(reqs, judged_tests, strict=args.strict, build=build_info, partial=partial,
                           global_failures=global_failures)
    by_id = {r["id"]: r for r in reqs}
    for t in judged["tests"]:
        replay = next((f.get("replay") for f in t["failures"] if f.get("replay")), None)
        t["rerun"] = rerun_command(t, env, extra_env, replay)
        first = t["requirements"][0] if t["requirements"] else None
        t["section"] = by_id[first].get("section", "") if first else ""
    if judged["exit_status"] == 2:
        lines = ["%s: %s%s" % (k["test"], k["message"], " at %s:%s" % (k["file"], k["line"]) if k.get("file") else "")
                 for k in judged["kit_errors"]]
        raise KitCannotJudge("kit errors leave normative requirements inconclusive (%s):\n  %s"
                             % (" ".join(judged["inconclusive_by_kit"]), "\n  ".join(lines)),
                             "; ".join(t["rerun"] for t in judged["tests"] if t["verdict"] == "kit-error")
                             + "   # rerun the kit-error tests; report the kit's fault if they persist")
    rep = report.assemble(ROOT, judged, name=args.name, files=impl_files, kind=args.impl_kind,
                          seconds=time.monotonic() - start, jobs=jobs, timeout=timeout, strict=args.strict,
                          selection=selection, hang=hang, binaries=infos, build=build_info, warnings=warnings)
    report.write(args.report_dir, rep)
    print_summary(rep, args.report_dir)
    return rep["exit_status"]


def print_summary(rep, report_dir, limit=20):
    if rep["build"]["status"] != "ok":
        print("validate: the implementation did not %s:" % ("link" if rep["build"].get("step") == "link" else "compile"))
        for ln in rep["build"]["errors"][:10]:
            print("  " + ln)
    for b in rep["binaries"]:
        if b["error"]:
            print("validate: test binary could not run: %s" % b["error"])
    for k in rep["kit_errors"]:
        print("validate: KIT ERROR (the kit's fault, no verdict) in %s: %s" % (k["test"], k["message"][:200]))
    roots = [r for r in rep["requirements"] if r["verdict"] == "fail" and not r["caused_by"]]
    for r in roots[:limit]:
        f = r["failures"][0]
        text = " ".join((f.get("message") or f.get("expanded") or f.get("check") or f["kind"]).split())
        more = " (+%d consequences)" % len(r["consequences"]) if r["consequences"] else ""
        print("%s %s (%s)%s: %s: %s" % (r["word"], r["id"], r["title"], more, f["test"] or "build", text[:160]))
    if len(roots) > limit:
        print("... and %d more root failures (see report.md)" % (len(roots) - limit))
    for r in rep["requirements"]:
        if r["verdict"] == "inconclusive" and r["level"] == "normative":
            print("INCONCLUSIVE %s (%s)" % (r["id"], r["title"]))
    sel = " (partial run)" if rep["selection"] else ""
    print("validate %s: %s%s; report: %s" % (rep["implementation"]["name"],
                                            "CONFORMS" if rep["conforms"] else "DOES NOT CONFORM", sel,
                                            os.path.join(report_dir, "report.md")))
    n, r = rep["summary"]["normative"], rep["summary"]["recommended"]
    print("normative: %d/%d pass, recommended: %d/%d pass" % (n["pass"], n["total"], r["pass"], r["total"]))
    print("%d passed, %d failed" % (rep["summary"]["tests"]["passed"], rep["summary"]["tests"]["failed"]))


def main(argv=None):
    args = parse_args(argv)
    args.build_log = args.build_log or os.path.join(args.report_dir, "build.log")
    try:
        return validate(args)
    except KitCannotJudge as e:
        report.discard(args.report_dir)
        print("validate: the kit could not judge %s: %s" % (args.name, e), file=sys.stderr)
        print("validate: to fix: %s" % e.fix, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("validate: interrupted", file=sys.stderr)
        return 130
