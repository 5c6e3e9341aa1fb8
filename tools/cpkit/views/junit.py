"""junit.xml: one <testcase> per test, for CI systems.

classname is the test's spec section (cpkit.recv), name the test name and its
requirement IDs. A normative failure is a <failure> with the message and the rerun
command; a failure only against recommended requirements is one only with STRICT=1
(otherwise it is reported in <system-out>, as NON-STRICT); a kit error is an <error>.
An implementation that did not build gets one failing <testcase> carrying the errors.
"""

import xml.etree.ElementTree as ET

from . import model

BUILD_CASE = ("cpkit.build", "the implementation builds")


def _failure_text(index, test):
    parts = []
    for f in test.get("failures") or []:
        head = "%s (%s, %s)" % (f.get("requirement") or "no requirement", f.get("level", "?"), f.get("kind", "?"))
        lines = [head]
        for key, label in (("check", "expected"), ("expanded", "actual"), ("message", "message"),
                           ("info", "info"), ("trace", "trace"), ("replay", "replay")):
            if f.get(key):
                lines.append("%s: %s" % (label, f[key]))
        if model.where(f):
            lines.append("at " + model.where(f))
        parts.append("\n".join(lines))
    if test.get("rerun"):
        parts.append("rerun: " + test["rerun"])
    return "\n\n".join(parts)


def _message(test):
    failures = test.get("failures") or []
    if not failures:
        return "failed"
    f = failures[0]
    return "%s: %s" % (f.get("requirement") or "no requirement", model.one_line(f, 300))


def _kit_error(report, test):
    for e in report.get("kit_errors") or []:
        if e.get("test") == test.get("id"):
            return e
    return {}


def _xml_text(s):
    """XML 1.0 cannot hold most control characters, even escaped."""
    return "".join(c if c in "\t\n\r" or ord(c) >= 0x20 else "\\x%02x" % ord(c) for c in str(s))


def build(report):
    index = model.Index(report)
    suites = {}
    order = []
    for t in index.tests:
        b = t.get("binary") or "tests"
        if b not in suites:
            suites[b] = []
            order.append(b)
        suites[b].append(t)
    build = report.get("build") or {}
    root = ET.Element("testsuites", name="cpkit %s" % model.impl_name(report))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def suite(name, cases):
        el = ET.SubElement(root, "testsuite", name=name)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        seconds = 0.0
        for case in cases:
            el.append(case)
            counts["tests"] += 1
            counts["failures"] += case.find("failure") is not None
            counts["errors"] += case.find("error") is not None
            seconds += float(case.get("time", "0"))
        for k, v in counts.items():
            el.set(k, str(v))
            totals[k] += v
        el.set("time", "%.3f" % seconds)

    if build.get("status") == "impl-failed":
        case = ET.Element("testcase", classname=BUILD_CASE[0], name=BUILD_CASE[1], time="0")
        errors = build.get("errors") or []
        ET.SubElement(case, "failure", type="build", message=_xml_text(
            (errors[0] if errors else "the implementation did not build"))).text = _xml_text(
            "\n".join(errors) + ("\nfull log: %s" % build["log"] if build.get("log") else ""))
        suite("build", [case])
    for b in report.get("binaries") or []:
        if b.get("error") and b.get("name") not in suites:
            case = ET.Element("testcase", classname="cpkit." + b.get("name", "tests"),
                              name="(the test binary runs)", time="0")
            ET.SubElement(case, "error", type="could-not-run",
                          message=_xml_text(b["error"].split("\n")[0])).text = _xml_text(b["error"])
            suite(b.get("name", "tests"), [case])
    for name in order:
        cases = []
        for t in suites[name]:
            case = ET.Element("testcase", classname=model.classname(t), name=_xml_text(model.junit_name(t)),
                              time="%.3f" % float(t.get("seconds") or 0))
            if model.junit_error(t):
                e = _kit_error(report, t)
                msg = e.get("message") or "kit error"
                text = "the kit's fault, not the implementation's: %s%s%s" % (
                    msg, "\nat " + model.where(e) if model.where(e) else "",
                    "\nrerun: " + t["rerun"] if t.get("rerun") else "")
                ET.SubElement(case, "error", type="kit-error",
                              message=_xml_text(msg.split("\n")[0])).text = _xml_text(text)
            elif model.junit_failure(t, report):
                ET.SubElement(case, "failure", type=(t.get("failures") or [{}])[0].get("kind", "fail"),
                              message=_xml_text(_message(t))).text = _xml_text(_failure_text(index, t))
            elif t.get("verdict") == "fail":
                ET.SubElement(case, "system-out").text = _xml_text(
                    "NON-STRICT (recommended requirements only; a failure with STRICT=1):\n"
                    + _failure_text(index, t))
            cases.append(case)
        suite(name, cases)
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", "%.3f" % float(report.get("seconds") or 0))
    return root


def render(report):
    root = build(report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

