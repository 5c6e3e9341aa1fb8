#!/usr/bin/env python3
"""Requirement traceability: spec <-> seed, tests and the reference implementation.

Fails (exit 1) listing the offenders unless
  * every requirement ID cited in the repository (outside spec/ and build/) is in the spec;
  * every api/sys requirement is a tag of a Catch2 test in conformance/ or property_tests/,
    every internal one a tag of a test in reference/tests/ (--allow-untested: warn only);
  * every normative api/sys requirement is a tag of a test in conformance/ (a
    deterministic check, not only a property);
  * every requirement is cited in reference/src/;
  * every prose line or bullet of the seed appears verbatim in some requirement's Seed
    (skipped with a warning when the seed file is absent).
Warns about Catch2 checks written bare in conformance/tests/ (CHECK, REQUIRE, ... outside
the CPK_ macros, so they name no requirement); --strict-checks makes that an error.
Writes build/trace/requirements.json in every case the spec can be parsed.
"""

import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpkit import sources as cpkit_sources  # noqa: E402
from cpkit import spec as cpkit_spec  # noqa: E402

API_TEST_DIRS = ("conformance/", "property_tests/")
UNIT_TEST_DIRS = ("reference/tests/",)
DETERMINISTIC_DIRS = ("conformance/",)
CHECKED_TEST_DIRS = ("conformance/tests/",)
IMPL_DIRS = ("reference/src/",)


def _under(path, dirs):
    return any(path.startswith(d) for d in dirs)


def collect(root, reqs, seed_path):
    """Scan the repository; return (requirements for the JSON, problems, warnings)."""
    by_id = {r["id"]: r for r in reqs}
    levels = {r["id"]: r["level"] for r in reqs}
    tests = {r["id"]: [] for r in reqs}
    deterministic = {r["id"]: [] for r in reqs}
    bare = []
    unit_tests = {r["id"]: [] for r in reqs}
    implemented = {r["id"]: [] for r in reqs}
    problems = []
    warnings = []
    unknown = []

    for rel in cpkit_sources.repo_files(root):
        text = cpkit_sources.read_text(os.path.join(root, rel))
        if text is None:
            continue
        for cited, line in cpkit_sources.citations(text):
            if cited not in by_id:
                unknown.append("%s:%d: %s" % (rel, line, cited))
            elif _under(rel, IMPL_DIRS):
                implemented[cited].append({"file": rel, "line": line})
        if not rel.endswith(cpkit_sources.CPP_EXTS):
            continue
        if _under(rel, CHECKED_TEST_DIRS):
            bare += ["%s:%d: bare %s(...): use CPK_%s(<requirement>, ...)" % (rel, line, macro, macro)
                     for macro, line in cpkit_sources.bare_checks(text)]
        in_api = _under(rel, API_TEST_DIRS)
        in_unit = _under(rel, UNIT_TEST_DIRS)
        if not (in_api or in_unit):
            continue
        per_case = {}
        for name, macro, tag_id, line in cpkit_sources.test_cases(text):
            if tag_id not in by_id:
                continue  # already reported as an unknown citation
            entry = {"file": rel, "line": line, "name": name}
            (tests if in_api else unit_tests)[tag_id].append(entry)
            if _under(rel, DETERMINISTIC_DIRS):
                deterministic[tag_id].append(entry)
            if name is not None:
                per_case.setdefault(name, set()).add(levels[tag_id])
        for name, lv in sorted(per_case.items()):
            if in_api and len(lv) > 1:
                warnings.append("%s: test case %r tags both normative and recommended requirements "
                                "(a literal implementation would fail a normative test for a "
                                "recommended reason)" % (rel, name))

    if unknown:
        problems.append(("requirement IDs cited but not in the spec", unknown))

    untested = []
    for r in reqs:
        if r["observability"] == "internal":
            if not unit_tests[r["id"]]:
                untested.append("%s (internal, %s): no Catch2 test in %s tags it"
                                % (r["id"], r["level"], " or ".join(UNIT_TEST_DIRS)))
        elif not tests[r["id"]]:
            untested.append("%s (%s, %s): no Catch2 test in %s tags it"
                            % (r["id"], r["observability"], r["level"], " or ".join(API_TEST_DIRS)))
    no_check = ["%s (%s, normative): no test in %s tags it (property tests alone are not a "
                "deterministic check)" % (r["id"], r["observability"], " or ".join(DETERMINISTIC_DIRS))
                for r in reqs if r["level"] == "normative" and r["observability"] != "internal"
                and tests[r["id"]] and not deterministic[r["id"]]]
    if no_check:
        problems.append(("normative requirements without a deterministic check", no_check))
    n_deterministic = sum(1 for r in reqs if r["level"] == "normative" and r["observability"] != "internal"
                          and deterministic[r["id"]])
    unimplemented = ["%s (%s): not cited in %s" % (r["id"], r["level"], " or ".join(IMPL_DIRS))
                     for r in reqs if not implemented[r["id"]]]
    if unimplemented:
        problems.append(("requirements not cited by the reference implementation", unimplemented))

    if seed_path and os.path.isfile(seed_path):
        with open(seed_path, encoding="utf-8") as f:
            missing = cpkit_spec.uncovered_seed_items(f.read(), reqs)
        if missing:
            problems.append(("seed lines quoted verbatim by no requirement's Seed (%s)" % seed_path,
                             ["line %d: %s" % (line, item) for line, item in missing]))
    else:
        warnings.append("seed file %s not found: seed coverage not checked" % seed_path)

    out = []
    for r in reqs:
        is_internal = r["observability"] == "internal"
        out.append({
            "id": r["id"], "title": r["title"], "section": r["section"],
            "section_number": r["section_number"], "level": r["level"],
            "observability": r["observability"], "seed": r["seed"],
            "seed_quotes": r["seed_quotes"], "requirement": r["requirement"], "why": r["why"],
            "spec_line": r["line"],
            "tests": unit_tests[r["id"]] if is_internal else tests[r["id"]],
            "unit_tests": unit_tests[r["id"]],
            "implemented_at": implemented[r["id"]],
        })
    return out, untested, problems, warnings, bare, n_deterministic


def write_json(path, data):
    """Write atomically: several make targets may regenerate it at the same time."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=cpkit_spec.repo_root(), help="repository root")
    ap.add_argument("--spec", help="spec file (default: ROOT/spec/completion_port_linux.md)")
    ap.add_argument("--seed", help="seed file (default: ROOT/../shared/seed/...)")
    ap.add_argument("--out", help="JSON output (default: ROOT/build/trace/requirements.json)")
    ap.add_argument("--allow-untested", action="store_true",
                    help="report untested requirements as a warning (development only)")
    ap.add_argument("--strict-checks", action="store_true",
                    help="bare Catch2 checks in conformance/tests/ are an error, not a warning")
    ap.add_argument("--json-only", action="store_true",
                    help="write the JSON and exit 0 whatever the checks find")
    args = ap.parse_args(argv)

    root = os.path.abspath(args.root)
    spec_path = args.spec or os.path.join(root, cpkit_spec.SPEC_RELPATH)
    seed_path = args.seed or os.path.normpath(os.path.join(root, cpkit_spec.SEED_RELPATH))
    out_path = args.out or os.path.join(root, "build", "trace", "requirements.json")

    try:
        reqs = cpkit_spec.load_spec(spec_path)
    except (OSError, cpkit_spec.SpecError) as e:
        print("trace: cannot parse the spec:\n%s" % e, file=sys.stderr)
        return 1

    out, untested, problems, warnings, bare, n_deterministic = collect(root, reqs, seed_path)
    if bare and args.strict_checks:
        problems.append(("bare Catch2 checks (they name no requirement)", bare))
    elif bare:
        shown = bare[:10] + (["... and %d more (all in %s: bare_checks)" % (len(bare) - 10, os.path.relpath(out_path, root))]
                             if len(bare) > 10 else [])
        warnings.append("%d bare Catch2 check(s) in %s name no requirement (--strict-checks makes "
                        "this an error):\n    %s" % (len(bare), " or ".join(CHECKED_TEST_DIRS), "\n    ".join(shown)))
    if untested and not args.allow_untested:
        problems.insert(1 if problems and problems[0][0].startswith("requirement IDs") else 0,
                        ("requirements no test checks", untested))
    elif untested:
        warnings.append("%d untested requirement(s) allowed by --allow-untested:\n    %s"
                        % (len(untested), "\n    ".join(untested)))

    n_norm = sum(1 for r in reqs if r["level"] == "normative")
    n_tested = sum(1 for r in out if r["tests"])
    summary = "%d requirements: %d normative, %d recommended; %d tested, %d untested" % (
        len(reqs), n_norm, len(reqs) - n_norm, n_tested, len(reqs) - n_tested)
    write_json(out_path, {
        "spec": os.path.relpath(spec_path, root),
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "summary": {"requirements": len(reqs), "normative": n_norm, "recommended": len(reqs) - n_norm,
                    "tested": n_tested, "untested": len(reqs) - n_tested},
        "problems": {title: items for title, items in problems},
        "bare_checks": bare,
        "requirements": out,
    })
    if args.json_only:
        return 0

    for w in warnings:
        print("trace: warning: %s" % w)
    for title, items in problems:
        print("trace: error: %d %s:" % (len(items), title))
        for item in items:
            print("    " + item)
    print(summary)
    print("%d normative requirements with a deterministic check" % n_deterministic)
    if problems:
        print("trace: FAILED (%s); details in %s" % (
            ", ".join("%d %s" % (len(i), t.split(" (")[0]) for t, i in problems),
            os.path.relpath(out_path, root)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
