"""Attribution, verdicts, root causes and exit status (tools/RESULTS.md, 2-5).

judge() is the only place a verdict is decided; every view reads its output.
"""

SEND_SIGPIPE = "CPL_SEND_004"
DECREF_RETURNS = "CPL_DECREF_004"
DECREF_THREAD = "CPL_DECREF_002"
DECREF_FREES = "CPL_DECREF_005"
THREAD_SAFE = "CPL_ADD_018"
FAILED_CREATE_LEAK = ("CPL_CREATE_008", "CPL_ADD_015")
VIOLATION_KINDS = ("check", "exception", "fatal", "property")
WORDS = {"pass": "OK", "inconclusive": "INCONCLUSIVE", "untested": "UNTESTED"}
LEVELS = ("normative", "recommended", "internal")


def word(verdict, level):
    if verdict == "fail":
        return "FAILED" if level == "normative" else "NON-STRICT"
    return WORDS[verdict]


def requirement_ids(tags, known):
    """The spec IDs among a test's Catch2 tags (an ID in brackets), in tag order."""
    out = []
    for tag in tags:
        rid = tag.strip("[]")
        if rid in known and rid not in out:
            out.append(rid)
    return out


def attribute(failure, tagged, known):
    """(requirements, source) a failure counts against (section 2, rules 1-3)."""
    kind, phase = failure["kind"], failure["phase"]
    if kind in VIOLATION_KINDS:
        if failure.get("requirement") in known:
            return [failure["requirement"]], "violation"
        return list(tagged), "tags"
    rule = None
    if failure.get("signal") == "SIGPIPE":
        rule = [SEND_SIGPIPE]
    elif failure.get("data_race"):
        # ThreadSanitizer: the row in progress if it names one, else thread safety.
        rule = [failure["running"] if failure.get("running") in known and phase == "body" else THREAD_SAFE]
    elif failure.get("freed_by_dec_ref"):
        rule = [DECREF_RETURNS]
    elif failure.get("running") in known and phase not in ("release", "guard", "end"):
        rule = [failure["running"]]
    elif kind == "leak" and phase == "end":
        rule = [r for r in FAILED_CREATE_LEAK if r in tagged] or [DECREF_FREES]
    elif kind in ("timeout", "crash", "abort", "sanitizer", "leak") and phase == "release":
        rule = [DECREF_RETURNS]
    elif kind == "timeout" and phase == "guard":
        rule = [DECREF_THREAD]
    if rule and all(r in known for r in rule):
        return rule, "rule"
    return list(tagged), "tags"


def _failure_entry(test_id, rid, level, source, f, after):
    out = {"test": test_id, "requirement": rid, "level": level, "source": source}
    for k in ("kind", "phase", "check", "expanded", "message", "info", "file", "line", "trace", "replay"):
        out[k] = f.get(k, 0 if k == "line" else "")
    out["after"] = after
    return out


def _attribute_test(t, by_id, warnings):
    """Fills t["failures"] (attributed) from t["raw_failures"]; returns
    [(position, failure entry)]."""
    known = by_id.keys()
    entries = []
    for pos, f in enumerate(t.get("raw_failures") or []):
        rids, source = attribute(f, t["requirements"], known)
        if f["kind"] in VIOLATION_KINDS and f.get("requirement") and f["requirement"] not in known:
            warnings.append("%s: a check names %s, which is not in the spec; counted against its tags"
                            % (t["id"], f["requirement"]))
        if not rids:
            warnings.append("%s failed (%s) but names no requirement and has no requirement tag"
                            % (t["id"], f["kind"]))
        for rid in rids:
            entries.append((pos, _failure_entry(t["id"], rid, by_id[rid]["level"], source, f, None)))
    for pos, e in entries:
        earlier = [x for p, x in entries if p < pos and x["requirement"] != e["requirement"]]
        e["after"] = earlier[0]["requirement"] if earlier else None
        e["_before"] = sorted({x["requirement"] for x in earlier})
    t["failures"] = [e for _, e in entries]
    return entries


def _reaches(graph, start, goal):
    seen, stack = set(), [start]
    while stack:
        n = stack.pop()
        if n == goal:
            return True
        if n in seen:
            continue
        seen.add(n)
        stack.extend(graph.get(n, ()))
    return False


def root_causes(order, failures_of):
    """caused_by per failing requirement (section 4). order: requirement IDs in spec
    order; failures_of: id -> failure entries with "_before". Links that would close
    a cycle are dropped, in spec order, so every chain ends at a root."""
    graph = {}
    for rid in order:
        fs = failures_of.get(rid) or []
        if not fs or not all(f["_before"] for f in fs):
            continue
        graph[rid] = []
        for cause in sorted({c for f in fs for c in f["_before"]}):
            if not _reaches(graph, cause, rid):
                graph[rid].append(cause)
    return {rid: causes for rid, causes in graph.items() if causes}


def judge(reqs, tests, strict=False, build=None, partial=False, global_failures=None):
    """Verdicts for one validation.

    reqs: spec requirements (spec.load_requirements). tests: [{"id", "binary", "name",
    "tags", "raw_failures" (results.read's "failures"), "kit_errors"}]; each gets
    "requirements", "verdict", "failures". build: {"status": "impl-failed", "errors":
    [...]} fails every api/sys requirement, as does each failure of global_failures
    (a test binary that cannot list its tests). partial: ONLY / RERUN_FAILED (exit 1 when a
    selected test failed). Returns {"requirements", "tests", "summary", "conforms",
    "outcome", "exit_status", "kit_errors", "warnings"}; exit_status 2 when a normative
    requirement is left inconclusive by kit errors (no verdict must be written)."""
    by_id = {r["id"]: r for r in reqs}
    warnings, kit_errors = [], []
    failures_of = {r["id"]: [] for r in reqs}
    for t in tests:
        t["requirements"] = requirement_ids(t.get("tags") or [], by_id)
        t["unknown_tags"] = [g.strip("[]") for g in t.get("tags") or []
                             if g.strip("[]").startswith("CPL_") and g.strip("[]") not in by_id]
        if t.get("kit_errors"):
            t["verdict"] = "kit-error"
            t["failures"] = []
            for k in t["kit_errors"]:
                kit_errors.append(dict(k, test=t["id"]))
            continue
        for _, e in _attribute_test(t, by_id, warnings):
            failures_of[e["requirement"]].append(e)
        t["verdict"] = "fail" if t.get("raw_failures") else "pass"
        if t["unknown_tags"]:
            warnings.append("%s tags IDs that are not in the spec: %s" % (t["id"], ", ".join(t["unknown_tags"])))
    blanket = list(global_failures or [])
    if build and build.get("status") == "impl-failed":
        errors = build.get("errors") or ["the implementation did not build"]
        file, line = _location(errors[0])
        blanket.append({"kind": "build", "phase": "setup", "message": "\n".join(errors),
                        "file": file, "line": line})
    for f in blanket:
        for r in reqs:
            if r["observability"] != "internal":
                e = _failure_entry(None, r["id"], r["level"], "rule", f, None)
                e["_before"] = []
                failures_of[r["id"]].append(e)

    causes = root_causes([r["id"] for r in reqs], failures_of)
    consequences = {}
    for rid, cs in causes.items():
        for c in cs:
            consequences.setdefault(c, []).append(rid)

    out = []
    for r in reqs:
        rid = r["id"]
        fs = failures_of[rid]
        related = [t for t in tests if rid in t["requirements"] or any(f["requirement"] == rid for f in t["failures"])]
        rtests = []
        for t in related:
            if t["verdict"] == "kit-error":
                v = "kit-error"
            elif any(f["requirement"] == rid for f in t["failures"]):
                v = "fail"
            elif t["verdict"] == "pass":
                v = "pass"
            else:
                v = "not-blamed"
            rtests.append({"test": t["id"], "verdict": v})
        if r["observability"] == "internal":
            verdict = "untested"
            if fs:
                warnings.append("%s is internal but a failure names it; internal requirements are "
                                "judged by the reference's unit tests" % rid)
                fs = []
        elif fs:
            verdict = "fail"
        elif any(x["verdict"] == "pass" for x in rtests):
            verdict = "pass"
        elif rtests:
            verdict = "inconclusive"
        else:
            verdict = "untested"
        out.append({
            "id": rid, "title": r.get("title", ""), "section": r.get("section", ""),
            "section_number": r.get("section_number", 0), "level": r["level"],
            "observability": r["observability"], "seed": r.get("seed", ""),
            "verdict": verdict, "word": word(verdict, r["level"]),
            "caused_by": causes.get(rid, []) if verdict == "fail" else [],
            "consequences": sorted(consequences.get(rid, []), key=[x["id"] for x in reqs].index)
            if verdict == "fail" else [],
            "tests": rtests,
            "failures": [{k: v for k, v in f.items() if k != "_before"} for f in fs],
        })
    for t in tests:
        t["failures"] = [{k: v for k, v in f.items() if k != "_before"} for f in t["failures"]]

    summary = summarize(out, tests)
    counted = ("normative", "recommended") if strict else ("normative",)
    bad = [e for e in out if e["level"] in counted and e["verdict"] in ("fail", "inconclusive")]
    conforms = not bad
    by_kit = [e for e in out if e["level"] == "normative" and e["verdict"] == "inconclusive"
              and any(x["verdict"] == "kit-error" for x in e["tests"])]
    if by_kit:
        exit_status = 2
    elif partial:
        failed = any(t["verdict"] == "fail" for t in tests) or bool(blanket)
        exit_status = 1 if failed or not conforms else 0
    else:
        exit_status = 0 if conforms else 1
    return {"requirements": out, "tests": tests, "summary": summary, "conforms": conforms,
            "outcome": "conforms" if conforms else "does-not-conform", "exit_status": exit_status,
            "kit_errors": kit_errors, "warnings": warnings,
            "inconclusive_by_kit": [e["id"] for e in by_kit]}


def _location(line):
    parts = (line or "").split(":")
    if len(parts) > 2 and parts[1].isdigit():
        return parts[0], int(parts[1])
    return "", 0


def summarize(req_entries, tests):
    def count(entries):
        c = {v: sum(1 for e in entries if e["verdict"] == v) for v in ("pass", "fail", "inconclusive", "untested")}
        c["total"] = len(entries)
        c["roots"] = sum(1 for e in entries if e["verdict"] == "fail" and not e["caused_by"])
        return c
    external = [e for e in req_entries if e["observability"] != "internal"]
    return {"normative": count([e for e in external if e["level"] == "normative"]),
            "recommended": count([e for e in external if e["level"] == "recommended"]),
            "internal": count([e for e in req_entries if e["observability"] == "internal"]),
            "tests": {"passed": sum(1 for t in tests if t["verdict"] == "pass"),
                      "failed": sum(1 for t in tests if t["verdict"] == "fail"),
                      "kit_errors": sum(1 for t in tests if t["verdict"] == "kit-error"),
                      "total": len(tests)}}
