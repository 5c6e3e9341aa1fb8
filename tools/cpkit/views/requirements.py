"""requirements.md / requirements.html: requirement coverage, one row per requirement.

For a validation (one report.json): the summary of report.json, then every requirement
with its level, observability, its tests and their verdicts and the same verdict word as
report.md; requirements that are not OK come first. No source-line data.

`make coverage` (coverage/requirements_report.py) passes one report per suite and a
`code` object adding the reference's line data; a requirement is then covered when no
suite fails it, some suite passes it (an internal one: every test citing it passed, by
report.json's test verdicts, since the engine never judges internal requirements), and
every citation of it that annotates code ran.
"""

from . import content, doc, model

# Not-OK words first, in the order a reader acts on them.
ORDER = {"FAILED": 0, "NON-STRICT": 1, "INCONCLUSIVE": 2, "UNTESTED": 3, "OK": 4}
HEADERS = ["requirement", "level", "obs.", "verdict", "tests", "title"]


def _tests_of(index, rid):
    """[(test name, verdict)] of a requirement: its judged tests from report.json, else
    the tests that cite it (internal requirements have no verdict, their tests do)."""
    req = index.req.get(rid) or {}
    if req.get("tests"):
        return [(index.test_name(t.get("test")), t.get("verdict", "?")) for t in req["tests"]]
    return [(t.get("name", "?"), t.get("verdict", "?")) for t in index.tests
            if rid in (t.get("requirements") or [])]


def _tests_inlines(tests):
    if not tests:
        return ["none"]
    out = []
    for i, (name, verdict) in enumerate(tests):
        out += ["; " if i else "", ("code", name), " " + verdict]
    return out


def covered(indexes, rid, code_ok=None):
    """The coverage rule of `make coverage` (module docstring), from report verdicts."""
    words = [model.word(ix.req[rid]) for ix in indexes if rid in ix.req]
    if any(w in ("FAILED", "NON-STRICT", "INCONCLUSIVE") for w in words):
        return False
    if "OK" not in words:
        tests = [v for ix in indexes for _, v in _tests_of(ix, rid)]
        internal = any((ix.req.get(rid) or {}).get("observability") == "internal" for ix in indexes)
        if not (internal and tests and all(v == "pass" for v in tests)):
            return False
    return code_ok is not False


def _validation_blocks(report):
    index = model.Index(report)
    blocks = [("h", 1, ["Requirement coverage: %s — %s" % (model.impl_name(report), model.headline(report))],
               None),
              ("p", ["Implementation: ", ("code", model.impl_description(report)),
                     ". Kit: %s. Date: %s. Verdicts of report.json (the same as report.md); "
                     "no line data (make coverage adds it for the reference)." % (
                         model.kit_version(report), report.get("date", "?"))]),
              content.summary_table(report), ("p", [content.tests_line(report)])] + content.internal_note(report)
    if report.get("selection"):
        blocks.append(("p", [("b", "Partial run"), ": " + model.selection_text(report) + "."]))
    reqs = sorted(enumerate(index.reqs), key=lambda p: (ORDER.get(model.word(p[1]), 5), p[0]))
    not_ok = [r for _, r in reqs if model.word(r) != "OK"]
    blocks.append(("h", 2, ["Not OK (%d)" % len(not_ok)], None))
    if not not_ok:
        blocks.append(("p", ["None."]))
    else:
        blocks.append(("p", [", ".join("%s %s" % (r["id"], model.word(r)) for r in not_ok)]))
    rows = [[[r["id"]], [r.get("level", "?")], [r.get("observability", "?")], [model.word(r)],
             _tests_inlines(_tests_of(index, r["id"])), [r.get("title", "")]] for _, r in reqs]
    blocks += [("h", 2, ["All requirements (%d)" % len(rows)], None),
               ("table", HEADERS, rows, ["l"] * len(HEADERS))]
    return blocks


def summary_line(report):
    """requirements: normative X/Y pass, ... from report.json's summary."""
    s = report.get("summary") or {}
    return "requirements: " + ", ".join(
        "%s %d/%d pass" % (lv, (s.get(lv) or {}).get("pass", 0), (s.get(lv) or {}).get("total", 0))
        for lv in model.LEVELS)


def coverage_rows(reports, code=None):
    """[(req, covered, [(label, word)], tests)] over several reports (one per suite), in
    the first report's order, uncovered first."""
    indexes = [model.Index(r) for _, r in reports]
    ids, seen = [], set()
    for ix in indexes:
        for r in ix.reqs:
            if r["id"] not in seen:
                seen.add(r["id"])
                ids.append(r["id"])
    rows = []
    for pos, rid in enumerate(ids):
        req = next(ix.req[rid] for ix in indexes if rid in ix.req)
        words = [(label, model.word(ix.req[rid]) if rid in ix.req else "–")
                 for (label, _), ix in zip(reports, indexes)]
        tests = [(label, name, v) for (label, _), ix in zip(reports, indexes) for name, v in _tests_of(ix, rid)]
        ok = covered(indexes, rid, code.ok(rid) if code else None)
        rows.append((pos, req, ok, words, tests))
    rows.sort(key=lambda row: (row[2], row[0]))
    return [row[1:] for row in rows]


def coverage_counts(rows):
    out = {lv: {"covered": 0, "total": 0} for lv in model.LEVELS}
    for req, ok, _, _ in rows:
        c = out[model.category(req)]
        c["total"] += 1
        c["covered"] += ok
    return out


def coverage_summary_line(counts):
    return "requirements: " + ", ".join(
        "%s%s %d/%d" % (lv, " covered" if i == 0 else "", counts[lv]["covered"], counts[lv]["total"])
        for i, lv in enumerate(model.LEVELS))


def _coverage_blocks(reports, code, name):
    rows = coverage_rows(reports, code)
    counts = coverage_counts(rows)
    first = reports[0][1]
    labels = [label for label, _ in reports]
    blocks = [("h", 1, ["Requirement coverage: %s" % name], None),
              ("p", ["Implementation: ", ("code", model.impl_description(first)),
                     ". Kit: %s. Date: %s. Verdicts of each suite's report.json%s." % (
                         model.kit_version(first), first.get("date", "?"),
                         ", line data of the reference" if code else "")]),
              ("p", [("b", coverage_summary_line(counts))]),
              ("table", ["category", "covered", "not covered", "total"],
               [[[lv], [str(counts[lv]["covered"])], [str(counts[lv]["total"] - counts[lv]["covered"])],
                 [str(counts[lv]["total"])]] for lv in model.LEVELS], ["l", "r", "r", "r"]),
              ("p", ["Covered: no suite fails it and one passes it (internal: every test citing it "
                     "passed)%s. Verdict words per suite: %s." % (
                         ", and every citation of it in the reference that annotates code ran" if code else "",
                         ", ".join(labels))])]
    if code and code.legend:
        blocks.append(("p", [code.legend]))
    uncovered = [r for r, ok, _, _ in rows if not ok]
    blocks.append(("h", 2, ["Not covered (%d)" % len(uncovered)], None))
    blocks.append(("p", [", ".join(r["id"] for r in uncovered) or "None."]))
    headers = ["requirement", "level", "obs."] + labels + ["tests"] + (
        [code.header] if code else []) + ["covered", "title"]
    table = []
    for req, ok, words, tests in rows:
        cells = [[req["id"]], [req.get("level", "?")], [req.get("observability", "?")]]
        cells += [[w] for _, w in words]
        tinl = []
        for i, (label, tname, v) in enumerate(tests):
            tinl += ["; " if i else "", ("code", tname), " %s (%s)" % (v, label)]
        cells.append(tinl or ["none"])
        if code:
            cells.append(code.cell(req["id"]))
        cells += [["yes" if ok else "NO"], [req.get("title", "")]]
        table.append(cells)
    blocks += [("h", 2, ["All requirements (%d)" % len(table)], None),
               ("table", headers, table, ["l"] * len(headers))]
    if code:
        blocks += code.blocks()
    return blocks, counts


def render(report):
    """(requirements.md, requirements.html) of one validation."""
    blocks = _validation_blocks(report)
    title = "Requirement coverage: %s" % content.title(report)
    return doc.to_markdown(blocks), doc.to_html(blocks, title)


def render_coverage(reports, code=None, name=None):
    """(md, html, counts) over several suites' reports; `code` adds line data (it has
    header, legend, ok(rid) -> bool or None, cell(rid) -> inlines, blocks())."""
    blocks, counts = _coverage_blocks(reports, code, name or model.impl_name(reports[0][1]))
    title = "Requirement coverage: %s" % (name or model.impl_name(reports[0][1]))
    return doc.to_markdown(blocks), doc.to_html(blocks, title), counts
