#!/usr/bin/env python3
"""Line and branch coverage of the reference: thresholds, exclusions, per-suite gaps.

Reads one lcov tracefile per suite (already restricted to reference/src), adds them up,
and fails (exit 1) when
  * line coverage is below --min-lines or branch coverage below --min-branches;
  * an LCOV_EXCL marker in the sources has no reason, or a range is not closed;
  * a suite's tests failed or were kit errors (--report NAME=report.json, its test
    verdicts): coverage of a failing run means little.
Writes a Markdown summary (--md) with the uncovered lines and branches, the exclusions and
their reasons, and per suite what the first suite (conformance) misses. The last line printed:
  coverage: lines 100.0% (N/N), branches 96.2% (N/N), excluded N lines
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import exclusions  # noqa: E402
import lcovinfo  # noqa: E402
import suites  # noqa: E402
from cpkit.views import model  # noqa: E402


def uncovered(files, root):
    """([(rel, line, text)] lines with no hit, [(rel, line, missed, total, text)] lines with
    branches never taken)."""
    lines, branches = [], []
    for rel in sorted(files):
        d = files[rel]
        for ln in sorted(d.lines):
            if d.lines[ln] == 0:
                lines.append((rel, ln, suites.source_line(root, rel, ln)))
        per_line = {}
        for b in d.branches:
            total, missed, never = per_line.get(b[0], (0, 0, 0))
            per_line[b[0]] = (total + 1, missed + (0 if b[3] else 1), never + (b[3] is None))
        for ln in sorted(per_line):
            total, missed, never = per_line[ln]
            if missed:
                branches.append((rel, ln, missed, total, never, suites.source_line(root, rel, ln)))
    return lines, branches


def failed_tests(report_specs):
    """[problem] for every suite whose report shows failed tests or is missing."""
    problems = []
    for name, path in report_specs:
        try:
            with open(path, encoding="utf-8") as f:
                report = json.load(f)
        except (OSError, ValueError) as e:
            problems.append("%s: no test report (%s)" % (suites.label(name), e))
            continue
        failed = model.tests_not_passed(report)
        n_failed = len(failed)
        if n_failed:
            names = ", ".join(t.get("name", "?") for t in failed[:5])
            problems.append("%s: %d test(s) failed%s (%s)" % (
                suites.label(name), n_failed, ": " + names if names else "", path))
    return problems


def mismatched_branches(per_suite):
    """Files whose branch count differs between suites: their objects were built with
    different flags, so the suites' branch records cannot be added up."""
    out = []
    counts = {}
    for name, files in per_suite.items():
        for rel, d in files.items():
            counts.setdefault(rel, {})[name] = len(d.branches)
    for rel, by_suite in sorted(counts.items()):
        if len(set(by_suite.values())) > 1:
            out.append("%s: %s" % (rel, ", ".join("%s %d" % (s, n) for s, n in sorted(by_suite.items()))))
    return out


def stale_sources(root, src_dir, tracefiles):
    """Sources modified after the oldest tracefile was written (edited during the run)."""
    times = [os.path.getmtime(p) for p in tracefiles if os.path.exists(p)]
    if not times:
        return []
    oldest = min(times)
    out = []
    for dirpath, _, names in os.walk(os.path.join(root, src_dir)):
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            if name.endswith(exclusions.SOURCE_EXTS) and os.path.getmtime(path) > oldest:
                out.append(os.path.relpath(path, root))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--src", default="reference/src", help="directory whose coverage is measured")
    ap.add_argument("--suite", action="append", default=[], metavar="NAME=TRACEFILE",
                    help="one per suite, conformance first")
    ap.add_argument("--report", action="append", default=[], metavar="NAME=REPORT_JSON",
                    help="validate.py report of the suite's run")
    ap.add_argument("--min-lines", type=float, default=100.0)
    ap.add_argument("--min-branches", type=float, default=95.0)
    ap.add_argument("--md", help="write the Markdown summary here")
    ap.add_argument("--summary-file", help="write the summary line to this file instead of "
                    "printing it (make coverage prints it last)")
    ap.add_argument("--max-listed", type=int, default=40, help="uncovered items printed")
    args = ap.parse_args(argv)

    root = os.path.abspath(args.root)
    prefix = args.src.rstrip("/") + "/"
    try:
        suite_specs = suites.parse_specs(args.suite)
        report_specs = suites.parse_specs(args.report)
        per_suite = suites.load(suite_specs, root, prefix)
    except (OSError, ValueError) as e:
        print("coverage: %s" % e, file=sys.stderr)
        return 1
    total = suites.combine(per_suite)
    lh, lf, bh, bf = lcovinfo.totals(total)
    excl, excl_problems = exclusions.scan(root, args.src)
    excl_lines = sum(e.lines for e in excl if not e.branch_only)
    excl_branch_lines = sum(e.lines for e in excl if e.branch_only)
    miss_lines, miss_branches = uncovered(total, root)

    problems = []
    if lf == 0:
        problems.append("no line data for %s (was the instrumented build run?)" % prefix)
    if lh * 100 < args.min_lines * lf:
        problems.append("line coverage %.1f%% is below %.1f%%: %d line(s) never ran"
                        % (lcovinfo.percent(lh, lf), args.min_lines, lf - lh))
    if bh * 100 < args.min_branches * bf:
        problems.append("branch coverage %.1f%% is below %.1f%%: %d branch(es) never taken"
                        % (lcovinfo.percent(bh, bf), args.min_branches, bf - bh))
    problems += ["exclusion marker: " + p for p in excl_problems]
    problems += ["tests: " + p for p in failed_tests(report_specs)]
    for name, files in per_suite.items():
        if not files:
            problems.append("%s: no line data for %s" % (suites.label(name), prefix))
    mismatch = mismatched_branches(per_suite)
    stale = stale_sources(root, args.src, [path for _, path in suite_specs])

    summary = "coverage: lines %.1f%% (%d/%d), branches %.1f%% (%d/%d), excluded %d lines" % (
        lcovinfo.percent(lh, lf), lh, lf, lcovinfo.percent(bh, bf), bh, bf, excl_lines)
    if excl_branch_lines:
        summary += " (+%d lines branch-only)" % excl_branch_lines

    if args.md:
        md = ["# Coverage of %s" % prefix, "", summary, ""]
        if problems:
            md += ["## Problems", ""] + ["- " + p for p in problems] + [""]
        md += ["## Lines never run (%d)" % len(miss_lines), ""]
        md += ["- `%s:%d` `%s`" % (r, ln, t.replace("`", "'")) for r, ln, t in miss_lines] or ["None."]
        md += ["", "## Lines with branches never taken (%d lines, %d branches)"
               % (len(miss_branches), sum(b[2] for b in miss_branches)), ""]
        md += ["- `%s:%d` %d of %d branches not taken%s: `%s`" % (
            r, ln, m, n, " (%d never evaluated)" % nv if nv else "", t.replace("`", "'"))
            for r, ln, m, n, nv, t in miss_branches] or ["None."]
        md += ["", "## Exclusions (%d lines, %d branch-only lines)" % (excl_lines, excl_branch_lines), ""]
        md += ["- `%s` %s: %s" % (e.where(), e.kind, e.reason or "NO REASON") for e in excl] or ["None."]
        md += ["", "## Per suite", ""] + suites.markdown(per_suite, root)
        if mismatch:
            md += ["", "Branch counts differ between suites (objects built with different flags):", ""]
            md += ["- " + m for m in mismatch]
        os.makedirs(os.path.dirname(os.path.abspath(args.md)), exist_ok=True)
        with open(args.md, "w", encoding="utf-8") as f:
            f.write("\n".join(md) + "\n")

    for name, files in per_suite.items():
        s_lh, s_lf, s_bh, s_bf = lcovinfo.totals(files)
        print("coverage: %-22s lines %5.1f%% (%d/%d), branches %5.1f%% (%d/%d)" % (
            suites.label(name), lcovinfo.percent(s_lh, s_lf), s_lh, s_lf,
            lcovinfo.percent(s_bh, s_bf), s_bh, s_bf))
    for m in mismatch:
        print("coverage: warning: branch counts differ between suites: %s" % m)
    for rel in stale:
        print("coverage: warning: %s changed after its coverage was measured: line numbers "
              "may be off, run make coverage again" % rel)
    if miss_lines:
        print("coverage: lines never run:")
        for r, ln, t in miss_lines[:args.max_listed]:
            print("    %s:%d  %s" % (r, ln, t))
        if len(miss_lines) > args.max_listed:
            print("    ... %d more in %s" % (len(miss_lines) - args.max_listed, args.md or "the report"))
    if miss_branches and bh * 100 < args.min_branches * bf:
        print("coverage: branches never taken (missed/total on the line):")
        for r, ln, m, n, nv, t in miss_branches[:args.max_listed]:
            print("    %s:%d  %d/%d  %s" % (r, ln, m, n, t))
        if len(miss_branches) > args.max_listed:
            print("    ... %d more in %s" % (len(miss_branches) - args.max_listed, args.md or "the report"))
    for p in problems:
        print("coverage: FAILED: %s" % p)
    if args.summary_file:
        with open(args.summary_file, "w", encoding="utf-8") as f:
            f.write(summary + "\n")
    else:
        print(summary)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
