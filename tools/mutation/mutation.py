#!/usr/bin/env python3
"""Mutation testing: how much of an implementation the kit really checks.

  mutation.py --src reference/src --out build/mutation [--sample N --seed S]

Every mutant (generate.py) is materialized by the self-test's faults.py into a
worker slot, BUILD/mutation/<name>/slot<k>/src, and validated exactly as
`tools/cpkit-validate IMPL=<those sources>` validates any sources, with
VALIDATE_FAIL_FAST=1: the first test that fails the verdict kills it, a hang
counts as killed after VALIDATE_TIMEOUT. A slot's sources change one file at
a time, so make recompiles only that file. --jobs mutants run at once.

A mutant that does not compile is discarded and counted. The unmutated
sources are validated first: they must conform (with --strict: every
requirement passes), or nothing can be concluded (exit 2).

Results are cached in BUILD/mutation/cache/ under a hash of the mutant's
sources, the kit's sources and the settings: an unchanged mutant is not rerun.

Writes OUT/report.json and OUT/report.md. A survivor is equivalent or
explained when tools/mutation/verdicts.txt says why (by mutant id).
--report-only writes the report from the cache alone (the rest is pending).
Exit status: 0 the score reaches --min-score, 1 it does not, 2 no verdict
(an error, or mutants still pending).
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "conformance", "selftest"))
import faults  # noqa: E402
import generate  # noqa: E402

# What the kit is made of: a change here can change what a mutant's validation says.
KIT_PATHS = ("conformance/harness", "conformance/tests", "conformance/catch2_main.cpp", "property_tests",
             "tools/cpkit", "tools/validate.py", "tools/cpkit-validate", "include", "mk/impl.mk",
             "spec/completion_port_linux.md")
KIT_EXT = (".cpp", ".c", ".h", ".py", ".mk", ".md", "")
VERDICT_KINDS = ("equivalent", "explained")


class MutationError(Exception):
    pass


# --- verdicts.txt ------------------------------------------------------------------

def read_verdicts(path):
    """id -> (kind, reason). Lines: `<id> equivalent|explained <reason>`; '#' comments."""
    out = {}
    if not path or not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3 or parts[1] not in VERDICT_KINDS or not parts[2].strip():
                raise MutationError("%s:%d: expected `<mutant id> equivalent|explained <reason>`, got %r"
                                    % (path, n, line))
            if parts[0] in out:
                raise MutationError("%s:%d: mutant %s listed twice" % (path, n, parts[0]))
            out[parts[0]] = (parts[1], parts[2].strip())
    return out


# --- hashing -----------------------------------------------------------------------

def kit_hash(root=ROOT):
    h = hashlib.sha256()
    for rel in KIT_PATHS:
        path = os.path.join(root, rel)
        files = [path] if os.path.isfile(path) else sorted(
            os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs
            if f.endswith(KIT_EXT) and "__pycache__" not in d)
        for p in files:
            h.update(os.path.relpath(p, root).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def sources_hash(sources, salt):
    h = hashlib.sha256(salt.encode())
    for name in sorted(sources):
        h.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    return h.hexdigest()[:20]


# --- one validation ----------------------------------------------------------------

class Slots:
    """Worker slots: each has its own source copy and validation directory."""

    def __init__(self, args, count):
        self.free = list(range(count))
        self.lock = threading.Condition()
        self.args = args

    def take(self):
        with self.lock:
            while not self.free:
                self.lock.wait()
            return self.free.pop(0)

    def give(self, k):
        with self.lock:
            self.free.append(k)
            self.lock.notify()


def validate(args, slot, sources, label):
    """Validates `sources` in slot `slot`; returns an outcome dict."""
    slot_dir = os.path.join(args.build, "mutation", args.name, "slot%d" % slot, "src")
    name = "mutation-%s-%d" % (args.name, slot)
    whole = {"path": label, "hunks": [(f, args.original[f], sources[f], 0)
                                      for f in sorted(sources) if sources[f] != args.original[f]]}
    if whole["hunks"]:
        files = faults.materialize(whole, args.src, slot_dir)
    else:
        files = faults.materialize({"path": label, "hunks": []}, args.src, slot_dir)
    report_dir = os.path.join(args.build, "validate", name)
    cmd = [os.path.join(ROOT, "tools", "cpkit-validate"), "IMPL=" + " ".join(files),
           "VALIDATE_NAME=" + name, "REPORT_DIR=" + report_dir, "VALIDATE_JOBS=%d" % args.validate_jobs,
           "VALIDATE_TIMEOUT=%g" % args.timeout, "VALIDATE_FAIL_FAST=1", "STRICT=%s" % ("1" if args.strict else ""),
           "BUILD=" + args.build]
    if args.cflags:
        cmd.append("IMPL_CFLAGS=" + args.cflags)
    start = time.monotonic()
    log = os.path.join(args.build, "mutation", args.name, "slot%d.log" % slot)
    with open(log, "w", encoding="utf-8") as out:
        out.write("$ %s\n" % " ".join(shlex.quote(c) for c in cmd))
        out.flush()
        try:
            status = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    timeout=args.mutant_timeout).returncode
        except subprocess.TimeoutExpired:
            status = "timeout"
    seconds = round(time.monotonic() - start, 1)
    rep = None
    try:
        with open(os.path.join(report_dir, "report.json"), encoding="utf-8") as f:
            rep = json.load(f)
    except (OSError, ValueError):
        pass
    return classify(status, rep, seconds, log)


def classify(status, rep, seconds, log=None):
    """The outcome of one validation: killed, survived, uncompilable or error."""
    if status == "timeout":
        return {"outcome": "killed", "by": "the whole validation timed out", "seconds": seconds}
    judged_by_kit = _kit_error_message(log) if status == 2 else None
    if judged_by_kit:
        # The mutant made the kit's own checks fail (they never fail on the
        # unmutated sources, and an error is validated twice): it is caught.
        return {"outcome": "killed", "by": "kit errors: " + judged_by_kit, "seconds": seconds}
    if status == 2 or rep is None:
        return {"outcome": "error", "by": "the kit could not judge (exit %s; log %s)" % (status, log),
                "seconds": seconds}
    if (rep.get("build") or {}).get("status") == "impl-failed":
        errors = rep["build"].get("errors") or []
        return {"outcome": "uncompilable", "by": errors[0] if errors else "build failed", "seconds": seconds}
    if status == 1:
        failed = [t for t in rep.get("tests", []) if t.get("verdict") == "fail"]
        reqs = sorted({f["requirement"] for t in failed for f in t.get("failures", []) if f.get("requirement")})
        by = failed[0]["name"] if failed else "the verdict"
        return {"outcome": "killed", "by": by, "requirements": reqs, "seconds": seconds}
    return {"outcome": "survived", "by": None, "seconds": seconds}


KIT_ERRORS = "kit errors leave normative requirements inconclusive"


def _kit_error_message(log):
    """The engine's kit-error line in a validation log, or None."""
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            for line in f:
                if KIT_ERRORS in line:
                    return " ".join(line.split())[:300]
    except (OSError, TypeError):
        pass
    return None


# --- the run -----------------------------------------------------------------------

def run(args):
    args.original = faults.read_sources(args.src)
    mutants = generate.generate(args.original, exclude=set(args.exclude))
    total_generated = len(mutants)
    mutants = generate.sample(mutants, args.sample, args.seed)
    verdicts = read_verdicts(args.verdicts)
    salt = "%s|%s|strict=%d|timeout=%g|%s" % (kit_hash(), args.name, args.strict, args.timeout, args.cflags)
    cache_dir = os.path.join(args.build, "mutation", "cache")
    os.makedirs(cache_dir, exist_ok=True)
    os.makedirs(os.path.join(args.build, "mutation", args.name), exist_ok=True)
    slots = Slots(args, args.jobs)
    lock = threading.Lock()
    progress = {"done": 0}
    started = time.monotonic()

    def cached(sources, label):
        key = sources_hash(sources, salt)
        path = os.path.join(cache_dir, key + ".json")
        try:
            with open(path, encoding="utf-8") as f:
                return dict(json.load(f), cached=True)
        except (OSError, ValueError):
            pass
        if args.report_only:
            return {"outcome": "pending", "by": None, "seconds": 0, "cached": False}
        k = slots.take()
        try:
            res = validate(args, k, sources, label)
            if res["outcome"] == "error":  # once more: a kit error under load is not a verdict
                res = validate(args, k, sources, label)
        finally:
            slots.give(k)
        if res["outcome"] != "error":
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                json.dump(res, f)
            os.replace(path + ".tmp", path)
        return dict(res, cached=False)

    base = cached(args.original, "original")
    if base["outcome"] != "survived" and not (args.report_only and base["outcome"] == "pending"):
        raise MutationError("the unmutated sources of %s do not pass every test (%s: %s); fix that first"
                            % (args.src, base["outcome"], base["by"]))

    def one(m):
        srcs = dict(args.original)
        srcs[m.file] = m.apply(srcs[m.file])
        res = cached(srcs, "mutant %s" % m.id)
        if args.report_only:
            return m, res
        with lock:
            progress["done"] += 1
            print("mutation %s: %d/%d %s %s:%d %s (%s%.0f s)" % (
                args.name, progress["done"], len(mutants), res["outcome"].upper(), m.file, m.line,
                m.description, "cached, " if res["cached"] else "", res["seconds"]), flush=True)
        return m, res

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        done = list(pool.map(one, mutants))
    rep = assemble(args, done, verdicts, total_generated, time.monotonic() - started)
    write(args.out, rep)
    print("mutation %s: %d mutants, %d killed, %d survived, %d equivalent, score %.1f%% "
          "(%d did not compile, %d errors); %s" % (
              args.name, rep["mutants"], rep["killed"], rep["survived"], rep["equivalent"], rep["score"],
              rep["uncompilable"], rep["errors"], os.path.join(args.out, "report.md")))
    if rep["errors"] or rep["pending"]:
        return 2
    return 0 if rep["score"] >= args.min_score else 1


def assemble(args, done, verdicts, total_generated, seconds):
    """report.json: score = killed / (mutants - equivalent); mutants are the ones that
    compiled and were judged."""
    rows, survivors, warnings = [], [], []
    counts = {"killed": 0, "survived": 0, "equivalent": 0, "uncompilable": 0, "errors": 0, "pending": 0}
    for m, res in done:
        row = dict(m.as_dict(), outcome=res["outcome"], by=res.get("by"), seconds=res.get("seconds"))
        kind, reason = verdicts.get(m.id, (None, None))
        if res["outcome"] == "killed":
            counts["killed"] += 1
            if kind:
                warnings.append("%s is listed as %s in verdicts.txt but was killed by %r"
                                % (m.id, kind, res.get("by")))
        elif res["outcome"] == "uncompilable":
            counts["uncompilable"] += 1
        elif res["outcome"] == "error":
            counts["errors"] += 1
        elif res["outcome"] == "pending":
            counts["pending"] += 1
        else:
            kind = kind or "unexplained"
            counts["equivalent" if kind == "equivalent" else "survived"] += 1
            survivors.append({"id": m.id, "file": m.file, "line": m.line, "mutation": m.description,
                              "kind": kind, "reason": reason or "no test fails: not explained yet"})
            row["kind"] = kind
        rows.append(row)
    judged = counts["killed"] + counts["survived"] + counts["equivalent"]
    denominator = judged - counts["equivalent"]
    score = round(100.0 * counts["killed"] / denominator, 1) if denominator else 0.0
    return {
        "implementation": args.name, "src": os.path.relpath(args.src, ROOT) if os.path.isabs(args.src) else args.src,
        "generated": total_generated, "sampled": len(done),
        "sample": {"count": args.sample, "seed": args.seed} if args.sample else None,
        "mutants": judged, "killed": counts["killed"], "survived": counts["survived"],
        "equivalent": counts["equivalent"], "score": score,
        "uncompilable": counts["uncompilable"], "errors": counts["errors"], "pending": counts["pending"],
        "seconds": round(seconds, 1), "jobs": args.jobs, "strict": bool(args.strict),
        "survivors": sorted(survivors, key=lambda s: (s["file"], s["line"], s["id"])),
        "warnings": warnings, "results": rows,
    }


def render_md(rep):
    lines = ["# Mutation testing: %s" % rep["implementation"], ""]
    sample = (" (a seeded sample of %d, seed %s, of %d generated)" % (rep["sample"]["count"], rep["sample"]["seed"],
                                                                       rep["generated"])
              if rep["sample"] else " (all %d generated)" % rep["generated"])
    lines += ["Sources `%s`%s; %.0f s with %d at a time%s." % (
        rep["src"], sample, rep["seconds"], rep["jobs"], "; STRICT=1: any failing test kills" if rep["strict"]
        else "; a mutant is killed when it no longer conforms"), ""]
    lines += ["| mutants | killed | survived | equivalent | score | did not compile | errors |",
              "|--:|--:|--:|--:|--:|--:|--:|",
              "| %d | %d | %d | %d | %.1f %% | %d | %d |" % (
                  rep["mutants"], rep["killed"], rep["survived"], rep["equivalent"], rep["score"],
                  rep["uncompilable"], rep["errors"]), "",
              "score = killed / (mutants - equivalent); a mutant that does not compile is not counted.", ""]
    if rep["pending"]:
        lines += ["**Partial**: %d of the %d mutants have no result yet (rerun `make mutation`: the "
                  "cached ones are not validated again)." % (rep["pending"], rep["sampled"]), ""]
    for title, kinds in (("Survivors not explained", ("unexplained",)), ("Survivors explained", ("explained",)),
                         ("Equivalent mutants", ("equivalent",))):
        rows = [s for s in rep["survivors"] if s["kind"] in kinds]
        lines += ["## %s (%d)" % (title, len(rows)), ""]
        for s in rows:
            lines.append("- `%s:%d` %s (id `%s`)%s" % (
                s["file"], s["line"], s["mutation"], s["id"],
                "" if s["kind"] == "unexplained" else ": " + s["reason"]))
        lines.append("")
    if rep["warnings"]:
        lines += ["## Warnings", ""] + ["- " + w for w in rep["warnings"]] + [""]
    return "\n".join(lines)


def write(out, rep):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report.json.tmp"), "w", encoding="utf-8") as f:
        json.dump(rep, f, indent=1)
    os.replace(os.path.join(out, "report.json.tmp"), os.path.join(out, "report.json"))
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
        f.write(render_md(rep))


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default="reference/src", help="directory of the sources to mutate")
    ap.add_argument("--name", default="reference", help="short name (slots, cache, report)")
    ap.add_argument("--out", default="build/mutation", help="where report.json and report.md go")
    ap.add_argument("--build", default="build")
    ap.add_argument("--exclude", nargs="*", default=[], help="file names never mutated")
    ap.add_argument("--cflags", default="", help="IMPL_CFLAGS of the sources")
    ap.add_argument("--sample", type=int, help="a seeded sample of this many mutants")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--jobs", type=int, default=2, help="mutants validated at once")
    ap.add_argument("--validate-jobs", type=int, default=1, help="VALIDATE_JOBS of each validation")
    ap.add_argument("--timeout", type=float, default=20, help="VALIDATE_TIMEOUT: seconds per test")
    ap.add_argument("--mutant-timeout", type=float, default=900, help="seconds for a whole validation")
    ap.add_argument("--strict", action="store_true", help="any failing test kills (the sources pass them all)")
    ap.add_argument("--verdicts", default=os.path.join(HERE, "verdicts.txt"))
    ap.add_argument("--report-only", action="store_true",
                    help="write the report from the cache alone; mutants without a result are pending")
    ap.add_argument("--min-score", type=float, default=0.0, help="exit 1 below this score (percent)")
    args = ap.parse_args(argv)
    if args.jobs < 1 or args.validate_jobs < 1 or (args.sample is not None and args.sample < 1):
        ap.error("--jobs, --validate-jobs and --sample must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        return run(args)
    except (MutationError, faults.FaultError, OSError, ValueError) as e:
        print("mutation: ERROR %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
