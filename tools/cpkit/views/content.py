"""The content of report.md and report.html, as doc blocks (doc.py).

Order: verdict and summary; FAILED (normative) entries, roots first, each with its
failures in full and its consequences folded under it; NON-STRICT (recommended) the
same way; INCONCLUSIVE; kit errors; the implementation's build errors; warnings; the
table of every requirement.
"""

from . import model

SUMMARY_HEADERS = ["requirements", "pass", "fail", "inconclusive", "untested", "total", "roots"]
ALL_HEADERS = ["requirement", "level", "obs.", "verdict", "tests", "caused by", "title"]


def seed_text(req):
    seed = (req.get("seed") or "").strip()
    if seed in ("", "—", "-"):
        return "— (clarification, not in the seed)"
    return seed


def summary_table(report):
    s = report.get("summary") or {}
    rows = []
    for level in model.LEVELS:
        c = s.get(level) or {}
        rows.append([[level]] + [[str(c.get(k, 0))] for k in
                                 ("pass", "fail", "inconclusive", "untested", "total", "roots")])
    return ("table", SUMMARY_HEADERS, rows, ["l"] + ["r"] * 6)


def tests_line(report):
    t = (report.get("summary") or {}).get("tests") or {}
    text = "Tests: %d passed, %d failed" % (t.get("passed", 0), t.get("failed", 0))
    if t.get("kit_errors"):
        text += ", %d kit error%s" % (t["kit_errors"], "" if t["kit_errors"] == 1 else "s")
    return text + " (of %d)." % t.get("total", len(report.get("tests") or []))


def internal_note(report):
    if not ((report.get("summary") or {}).get("internal") or {}).get("total"):
        return []
    return [("p", ["Internal requirements cannot be seen from outside: the reference's unit tests "
                   "cover them, and they are UNTESTED here."])]


def header_blocks(report):
    verdict = model.headline(report)
    out = [("h", 1, ["completion_port_linux conformance: %s — %s" % (model.impl_name(report), verdict)], None)]
    facts = ["Implementation: ", ("code", model.impl_description(report)), ". Kit: %s. Date: %s." % (
        model.kit_version(report), report.get("date", "?"))]
    if "seconds" in report:
        facts.append(" %g s, %s jobs, %s s timeout per test." % (
            report["seconds"], report.get("jobs", "?"), report.get("timeout", "?")))
    out.append(("p", facts))
    if model.strict(report):
        out.append(("p", [("b", "STRICT=1"), ": recommended requirements count for the verdict too."]))
    if report.get("selection"):
        out.append(("p", [("b", "Partial run"), ": " + model.selection_text(report) + "."]))
    hang = report.get("hang")
    if hang:
        out.append(("p", [("b", "Hang"), ": %s (probe " % hang.get("signature", "a test hung"),
                          ("code", hang.get("probe", "?")),
                          "; timeout %s s per test, teardown %s ms)." % (hang.get("timeout", "?"),
                                                                      hang.get("teardown_ms", "?"))]))
    out.append(summary_table(report))
    out.append(("p", [tests_line(report)]))
    out += internal_note(report)
    status, meaning = model.exit_meaning(report)
    out.append(("p", ["Exit status %d: %s. 0 conforms, 1 does not conform, 2 the kit could not judge "
                      "(no report then)." % (status, meaning)]))
    return out


def _text_field(label, text):
    """A field inline when it is one short line, else in a fenced block, in full."""
    text = text or ""
    if "\n" not in text.strip() and len(text) <= 160:
        return [("p", [label + ": ", ("code", text.strip())])]
    return [("p", [label + ":"]), ("pre", text, "")]


LONG_LINES = 12


def _long_field(label, text):
    """A fenced block, in full; folded in a <details> in HTML when it is long."""
    lines = text.rstrip("\n").count("\n") + 1
    if lines <= LONG_LINES:
        return [("p", [label + ":"]), ("pre", text, "")]
    return [("details", ["%s (%d lines)" % (label, lines)], [("pre", text, "")], False)]


def failure_blocks(f, index, build_failed):
    """One failure in full: expected/actual, message, INFO, property trace, location."""
    if f.get("kind") == "build" and build_failed:
        return [("p", ["The implementation did not build: see ", ("a", "Build errors", "#build-errors"),
                       " below."])]
    notes = []  # each a list of inlines
    if (f.get("kind"), f.get("phase")) != ("check", "body"):
        notes.append(["Kind: %s, phase: %s" % (f.get("kind", "?"), f.get("phase", "?"))])
    if f.get("source") == "tags":
        notes.append(["attributed from the test's tags (the failed check named no requirement)"])
    elif f.get("source") == "rule":
        notes.append(["attributed by rule (RESULTS.md section 2)"])
    if f.get("after"):
        notes.append(["after a failure of ", ("a", f["after"], "#" + f["after"])])
    joined = []
    for i, note in enumerate(notes):
        joined += (["; "] if i else []) + note
    out = [("p", joined + ["."])] if joined else []
    if f.get("check"):
        out += _text_field("Expected", f["check"])
    if f.get("expanded"):
        out += _text_field("Actual", f["expanded"])
    if f.get("kind") == "property":
        out.append(("p", ["First failing step: ", ("code", model.first_step(f))]))
    if f.get("message"):
        out += _long_field("Message", f["message"]) if "\n" in f["message"].strip() \
            else _text_field("Message", f["message"])
    if f.get("info"):
        out += _long_field("Info", f["info"])
    if f.get("trace"):
        out += _long_field("Shrunk trace", f["trace"])
    if f.get("replay"):
        out.append(("p", ["Replay: ", ("code", f["replay"])]))
    if model.where(f):
        out.append(("p", ["At ", ("code", model.where(f)), "."]))
    return out


def test_heading(index, test_id):
    t = index.test.get(test_id) or {}
    inl = ["Test ", ("b", index.test_name(test_id)), " (", ("code", str(test_id))]
    if t.get("runs", 1) and t.get("runs", 1) > 1:
        inl.append(", failed %d of %d runs" % (t.get("failed_runs", 0), t["runs"]))
    return inl + [")"]


def rerun_blocks(index, test_id):
    t = index.test.get(test_id) or {}
    if not t.get("rerun"):
        return []
    return [("p", ["Rerun:"]), ("pre", t["rerun"], "sh")]


# Tests of one requirement whose failures are shown in full; the rest one line each.
FULL_TESTS_SHOWN = 3


def requirement_blocks(index, req, build_failed):
    rid = req["id"]
    out = [("h", 3, [model.word(req) + " ", ("code", rid), " — " + req.get("title", "")], rid)]
    out.append(("p", ["Seed: " + seed_text(req)]))
    causes = req.get("caused_by") or []
    if causes:
        out.append(("p", ["Probably a consequence of "] + _id_list(index, causes) + ["."]))
    items, more = [], []
    for test_id, failures in model.failures_by_test(req):
        if len(items) >= FULL_TESTS_SHOWN and test_id is not None:
            # One failure is read in full; the same failure in many more tests is a list.
            more.append([("p", [("b", index.test_name(test_id)), " (", ("code", str(test_id)), "): ",
                                ("code", model.one_line(failures[0]))])])
            continue
        # A failure of no test (the build, a binary that could not list its tests) has no heading.
        blocks = [("p", test_heading(index, test_id))] if test_id is not None else []
        for i, f in enumerate(failures):
            blocks += ([("p", [("b", "Then:")])] if i else []) + failure_blocks(f, index, build_failed)
        blocks += rerun_blocks(index, test_id)
        items.append(blocks)
    if items:
        out.append(("ul", items))
    if more:
        out.append(("details", ["%d more failing test%s (each with its rerun command in report.json)"
                                % (len(more), "" if len(more) == 1 else "s")], [("ul", more)], False))
    elif req.get("verdict") == "fail":
        out.append(("p", ["No failure detail in report.json."]))
    conseq = [c for c in req.get("consequences") or [] if c in index.req]
    if conseq:
        lines = []
        for cid in conseq:
            c = index.req[cid]
            first = (c.get("failures") or [{}])[0]
            lines.append([("p", [model.word(c) + " ", ("a", cid, "#" + cid), " — %s: " % c.get("title", ""),
                                 ("code", model.one_line(first) if first else "no detail")])])
        out.append(("details", ["%d probably a consequence of %s" % (len(conseq), rid)],
                    [("ul", lines)], False))
    return out


def _id_list(index, ids):
    out = []
    for i, cid in enumerate(ids):
        if i:
            out.append(", ")
        c = index.req.get(cid)
        out.append(("a", cid, "#" + cid))
        if c:
            out.append(" (%s)" % model.word(c))
    return out


def failed_section(index, level, title, build_failed):
    entries = index.entries(level)
    failing = index.failing(level)
    roots = [r for r in failing if not r.get("caused_by")]
    out = [("h", 2, ["%s (%d: %d root%s)" % (title, len(failing), len(roots), "" if len(roots) == 1 else "s")],
            None)]
    if not failing:
        return out + [("p", ["None."])]
    # Roots first, then the entries whose cause is of another level.
    for r in sorted(entries, key=lambda r: bool(r.get("caused_by"))):
        out += requirement_blocks(index, r, build_failed)
    return out


def inconclusive_section(index):
    reqs = index.by_word("INCONCLUSIVE")
    out = [("h", 2, ["INCONCLUSIVE (%d)" % len(reqs)], None)]
    if not reqs:
        return out + [("p", ["None."])]
    out.append(("p", ["Every test of these failed on another requirement or was a kit error: "
                      "no evidence either way."]))
    items = []
    for r in reqs:
        tests = r.get("tests") or []
        inl = [("code", r["id"]), " (%s) — %s: " % (r.get("level", "?"), r.get("title", ""))]
        for i, t in enumerate(tests):
            inl += ["; " if i else "", ("code", index.test_name(t.get("test"))), " " + t.get("verdict", "?")]
        items.append([("p", inl)])
    return out + [("ul", items)]


def kit_error_section(index, report):
    errs = report.get("kit_errors") or []
    out = [("h", 2, ["Kit errors (%d)" % len(errs)], None)]
    if not errs:
        return out + [("p", ["None."])]
    out.append(("p", ["These are the kit's fault, not the implementation's: a precondition of the kit "
                      "itself failed, so these tests give no verdict. Please report them to the kit's "
                      "maintainers with the rerun command."]))
    items = []
    for e in errs:
        blocks = [("p", test_heading(index, e.get("test")))]
        blocks += _text_field("Message", e.get("message")) if e.get("message") else []
        if model.where(e):
            blocks.append(("p", ["At ", ("code", model.where(e)), "."]))
        blocks += rerun_blocks(index, e.get("test"))
        items.append(blocks)
    return out + [("ul", items)]


def build_section(report):
    build = report.get("build") or {}
    if build.get("status") != "impl-failed":
        return []
    out = [("h", 2, ["Build errors"], "build-errors"),
           ("p", ["The implementation did not compile or link: every api/sys requirement fails with "
                  "these errors (the implementation's, not the kit's)."])]
    errors = build.get("errors") or []
    out.append(("pre", "\n".join(errors) if errors else "(no error lines captured)", ""))
    if build.get("log"):
        out.append(("p", ["Full log: ", ("code", build["log"]), "."]))
    return out


def binaries_section(report):
    broken = [b for b in report.get("binaries") or [] if b.get("error")]
    if not broken:
        return []
    items = [[("p", [("code", b.get("path") or b.get("name", "?")), ":"]), ("pre", b["error"], "")]
             for b in broken]
    return [("h", 2, ["Test binaries that could not run (%d)" % len(broken)], None), ("ul", items)]


def warnings_section(report):
    warnings = report.get("warnings") or []
    if not warnings:
        return []
    return [("h", 2, ["Warnings (%d)" % len(warnings)], None),
            ("ul", [[("pre", w, "")] if "\n" in w else [("p", [w])] for w in warnings])]


def all_requirements_table(index):
    rows = []
    for r in index.reqs:
        causes = r.get("caused_by") or []
        rows.append([[("a", r["id"], "#" + r["id"])] if r.get("verdict") == "fail" else [r["id"]],
                     [r.get("level", "?")], [r.get("observability", "?")], [model.word(r)],
                     [model.tests_cell(r)], [", ".join(causes)], [r.get("title", "")]])
    return [("h", 2, ["All requirements (%d)" % len(rows)], None),
            ("table", ALL_HEADERS, rows, ["l", "l", "l", "l", "r", "l", "l"])]


def build(report):
    index = model.Index(report)
    build_failed = (report.get("build") or {}).get("status") == "impl-failed"
    blocks = header_blocks(report)
    blocks += failed_section(index, "normative", "FAILED — normative requirements", build_failed)
    blocks += failed_section(index, "recommended", "NON-STRICT — recommended requirements", build_failed)
    blocks += inconclusive_section(index)
    blocks += kit_error_section(index, report)
    blocks += build_section(report)
    blocks += binaries_section(report)
    blocks += warnings_section(report)
    blocks += all_requirements_table(index)
    blocks.append(("p", ["Every detail: report.json; for CI: junit.xml; requirement coverage: "
                         "requirements.md."]))
    return blocks


def title(report):
    return "%s — %s" % (model.impl_name(report), model.headline(report))
