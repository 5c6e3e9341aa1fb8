"""What every view reads from report.json (tools/RESULTS.md section 6), in one place.

Nothing here judges: verdicts, words, roots and counts are the engine's. These helpers
only look things up, order them and phrase them, so that every view phrases them alike.
Optional fields may be absent; every helper tolerates that.
"""

import re

LEVELS = ("normative", "recommended", "internal")
VERDICTS = ("pass", "fail", "inconclusive", "untested")
WORDS = ("OK", "FAILED", "NON-STRICT", "INCONCLUSIVE", "UNTESTED")
ID_RE = re.compile(r"\bCPL_[A-Z]+_[0-9]{3}\b")
_FALLBACK_WORD = {"pass": "OK", "inconclusive": "INCONCLUSIVE", "untested": "UNTESTED"}


def headline(report):
    """CONFORMS or DOES NOT CONFORM, as the engine decided."""
    if "conforms" in report:
        return "CONFORMS" if report["conforms"] else "DOES NOT CONFORM"
    return "CONFORMS" if report.get("outcome") == "conforms" else "DOES NOT CONFORM"


def word(req):
    """The requirement's verdict word; report.json carries it, and a report without it
    gets the RESULTS.md section 3 word of its verdict and level."""
    if req.get("word"):
        return req["word"]
    if req.get("verdict") == "fail":
        return "FAILED" if req.get("level") == "normative" else "NON-STRICT"
    return _FALLBACK_WORD.get(req.get("verdict"), "UNTESTED")


def category(req):
    """The summary row a requirement is counted in."""
    return "internal" if req.get("observability") == "internal" else req.get("level", "normative")


def impl_name(report):
    impl = report.get("implementation")
    if isinstance(impl, dict):
        return impl.get("name") or "?"
    return str(impl or report.get("name") or "?")


def impl_description(report):
    """`name` (kind: file, file)."""
    impl = report.get("implementation")
    if not isinstance(impl, dict):
        return impl_name(report)
    files = impl.get("files") or []
    kind = impl.get("kind")
    detail = ", ".join(files)
    if kind:
        detail = "%s: %s" % (kind, detail) if detail else kind
    return "%s (%s)" % (impl_name(report), detail) if detail else impl_name(report)


def kit_version(report):
    kit = report.get("kit") or {}
    return "%s %s" % (kit.get("name", "cpkit"), kit.get("version", "?"))


class Index:
    """Lookups over one report."""

    def __init__(self, report):
        self.report = report
        self.reqs = report.get("requirements") or []
        self.tests = report.get("tests") or []
        self.req = {r["id"]: r for r in self.reqs}
        self.test = {t["id"]: t for t in self.tests if "id" in t}

    def test_name(self, test_id):
        t = self.test.get(test_id)
        return t["name"] if t else str(test_id)

    def failing(self, level):
        return [r for r in self.reqs if r.get("verdict") == "fail" and r.get("level") == level]

    def entries(self, level):
        """The failing requirements of a level that head an entry of their own: those
        with no failing cause of the same level (roots, and consequences of another
        level's requirement). Same-level consequences are folded under their root."""
        out = []
        for r in self.failing(level):
            causes = [self.req[c] for c in r.get("caused_by") or [] if c in self.req]
            if not any(c.get("level") == level and c.get("verdict") == "fail" for c in causes):
                out.append(r)
        return out

    def by_word(self, w):
        return [r for r in self.reqs if word(r) == w]


def test_counts(req):
    """(passed, judged, unjudged) of a requirement's tests: judged = pass or fail;
    unjudged = not blamed or kit errors."""
    verdicts = [t.get("verdict") for t in req.get("tests") or []]
    passed = verdicts.count("pass")
    judged = passed + verdicts.count("fail")
    return passed, judged, len(verdicts) - judged


def tests_cell(req):
    passed, judged, unjudged = test_counts(req)
    if not judged and not unjudged:
        return "–"
    text = "%d/%d" % (passed, judged)
    if unjudged:
        text += " +%d unjudged" % unjudged
    return text


def strict(report):
    return bool(report.get("strict"))


def junit_failure(test, report):
    """A test is a JUnit <failure> when it failed on a normative requirement, or on any
    requirement with STRICT=1. Failures only against recommended requirements do not
    fail a CI job that follows the exit status."""
    if test.get("verdict") != "fail":
        return False
    if strict(report):
        return True
    failures = test.get("failures") or []
    if not failures:
        return True  # failed with nothing attributed: never hide it
    return any(f.get("level", "normative") == "normative" for f in failures)


def tests_not_passed(report):
    """The tests of a report that did not pass (failed or kit errors)."""
    return [t for t in report.get("tests") or [] if t.get("verdict") != "pass"]


def junit_error(test):
    return test.get("verdict") == "kit-error"


def failures_by_test(req):
    """[(test id, [failures])] in the order the failures are listed."""
    order, groups = [], {}
    for f in req.get("failures") or []:
        key = f.get("test")
        if key not in groups:
            order.append(key)
            groups[key] = []
        groups[key].append(f)
    return [(k, groups[k]) for k in order]


def _first_line(text):
    for line in (text or "").split("\n"):
        if line.strip():
            return line.strip()
    return ""


def one_line(f, limit=200):
    """The one-line summary of a failure: its actual values, else its message."""
    if f.get("kind") == "build":
        text = "did not build: " + _first_line(f.get("message"))
    elif f.get("expanded") and f.get("check"):
        text = "%s with %s" % (_first_line(f["check"]), _first_line(f["expanded"]))
    else:
        text = _first_line(first_step(f) if f.get("kind") == "property" else "") \
            or _first_line(f.get("message")) or _first_line(f.get("check")) or f.get("kind", "failed")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def first_step(f):
    """The first failing step of a property failure: the record's `step` when present,
    else the first message line naming a requirement (the property runner writes what
    was violated, with its ID, before the trace), else the message's first line."""
    if f.get("step"):
        return str(f["step"])
    message = f.get("message") or ""
    for line in message.split("\n"):
        if ID_RE.search(line) and not line.strip().startswith("property falsified"):
            return line.strip()
    return _first_line(message)


def where(f):
    if f.get("file"):
        return "%s:%s" % (f["file"], f.get("line") or 0)
    return ""


def classname(test):
    """JUnit classname: cpkit.<the spec section of the test's first requirement>, named
    by the ID's middle part (CPL_RECV_005 -> cpkit.recv); cpkit.<binary> without one."""
    for rid in test.get("requirements") or []:
        m = re.fullmatch(r"CPL_([A-Z]+)_[0-9]{3}", rid)
        if m:
            return "cpkit." + m.group(1).lower()
    return "cpkit." + re.sub(r"[^A-Za-z0-9_]+", "_", test.get("binary") or "tests")


def junit_name(test):
    ids = test.get("requirements") or []
    return "%s [%s]" % (test.get("name", "?"), " ".join(ids)) if ids else test.get("name", "?")


def selection_text(report):
    sel = report.get("selection")
    if not sel:
        return ""
    parts = []
    if sel.get("only"):
        parts.append("only " + ", ".join(sel["only"]))
    if sel.get("rerun_failed"):
        parts.append("the tests that failed last time")
    if sel.get("fail_fast"):
        parts.append("stopped at the first failing test")
    return "partial run (%s): requirements outside it are not judged" % "; ".join(parts or ["a selection"])


def exit_meaning(report):
    status = report.get("exit_status", 0 if report.get("conforms") else 1)
    if status == 0:
        meaning = "conforms" + (" (STRICT=1: no requirement fails)" if strict(report) else
                                " (no normative requirement fails)")
    elif report.get("selection"):
        meaning = "a selected test failed"
    else:
        meaning = "does not conform" + (" (STRICT=1: a requirement fails)" if strict(report) else
                                        " (a normative requirement fails)")
    return status, meaning
