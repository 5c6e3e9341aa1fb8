"""Writing validate.py's reports: report.json, report.md and junit.xml.

The report model is built by validate.py; this module only renders it.
"""

import json
import os
import xml.etree.ElementTree as ET

VERDICT_WORD = {("fail", "normative"): "FAILED", ("fail", "recommended"): "NON-STRICT",
                ("pass", "normative"): "OK", ("pass", "recommended"): "OK"}


def verdict_word(req):
    if req["verdict"] == "untested":
        return "UNTESTED"
    return VERDICT_WORD[(req["verdict"], req["level"])]


def write_json(path, report):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")


def short(text, limit):
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _cell(text):
    return (text or "").replace("|", "\\|")


def _seed_line(req):
    seed = (req.get("seed") or "").strip()
    if seed in ("", "—", "-"):
        return "— (clarification, not in the seed)"
    return short(seed, 240)


def _failed_block(req):
    lines = ["", "**%s** — %s  " % (req["id"], req["title"]), "Seed: %s" % _seed_line(req), ""]
    for t in req["tests"]:
        if t["verdict"] == "fail":
            lines.append("- `%s` (%s): %s" % (t["name"], t["binary"], short(t["message"], 400)))
    return lines


def write_markdown(path, report):
    s = report["summary"]
    verdict = "CONFORMS" if report["conforms"] else "DOES NOT CONFORM"
    out = ["# completion_port_linux conformance: %s — %s" % (report["name"], verdict), ""]
    out.append("Implementation: `%s`  " % short(report["implementation"], 300))
    out.append("%s · %d binar%s, %d tests in %.1f s (%d jobs, %g s timeout per test)" % (
        report["date"], len(report["binaries"]), "y" if len(report["binaries"]) == 1 else "ies",
        len(report["tests"]), report["seconds"], report["jobs"], report["timeout"]))
    out += ["", "| requirements | pass | fail | untested | total |", "|---|--:|--:|--:|--:|"]
    for level in ("normative", "recommended", "internal"):
        c = s[level]
        out.append("| %s | %d | %d | %d | %d |" % (level, c["pass"], c["fail"], c["untested"], c["total"]))
    out += ["", "Tests: %d passed, %d failed." % (s["tests"]["passed"], s["tests"]["failed"])]
    if s["internal"]["total"]:
        out.append("Internal requirements cannot be seen from outside; they are covered by the "
                   "reference's unit tests and are reported UNTESTED here.")

    broken = [b for b in report["binaries"] if b.get("error")]
    if broken:
        out += ["", "## Test binaries that could not run", ""]
        out += ["- `%s`: %s" % (b["path"], short(b["error"], 400)) for b in broken]
        out.append("")
        out.append("Every api/sys requirement is reported FAILED: its tests could not be run.")

    failed = [r for r in report["requirements"] if r["verdict"] == "fail" and r["level"] == "normative"]
    nonstrict = [r for r in report["requirements"] if r["verdict"] == "fail" and r["level"] == "recommended"]
    out += ["", "## FAILED — normative requirements (%d)" % len(failed)]
    if not failed:
        out += ["", "None."]
    for r in failed:
        out += _failed_block(r)
    out += ["", "## NON-STRICT — recommended requirements (%d)" % len(nonstrict)]
    if not nonstrict:
        out += ["", "None."]
    for r in nonstrict:
        out += _failed_block(r)

    orphans = [t for t in report["tests"] if t["verdict"] == "fail" and not t["requirements"]]
    if orphans:
        out += ["", "## Failed tests that check no spec requirement (%d)" % len(orphans), ""]
        out += ["- `%s` (%s): %s" % (t["name"], t["binary"], short(t["message"], 300)) for t in orphans]
    if report.get("warnings"):
        out += ["", "## Warnings", ""]
        out += ["- " + short(w, 400) for w in report["warnings"]]

    out += ["", "## All requirements", "", "| requirement | level | obs. | verdict | tests | title |",
            "|---|---|---|---|--:|---|"]
    for r in report["requirements"]:
        ran = [t for t in r["tests"] if t["verdict"] in ("pass", "fail")]
        passed = sum(1 for t in ran if t["verdict"] == "pass")
        out.append("| %s | %s | %s | %s | %s | %s |" % (
            r["id"], r["level"], r["observability"], verdict_word(r),
            "%d/%d" % (passed, len(ran)) if ran else "–", _cell(r["title"])))
    out += ["", "Details of every test: report.json (messages, stderr tails, result files); "
            "junit.xml for CI.", ""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


def write_junit(path, report):
    root = ET.Element("testsuites", name="cpkit validate %s" % report["name"],
                      tests=str(len(report["tests"])),
                      failures=str(sum(1 for t in report["tests"] if t["verdict"] == "fail")),
                      time="%.3f" % report["seconds"])
    for b in report["binaries"]:
        tests = [t for t in report["tests"] if t["binary"] == b["name"]]
        suite = ET.SubElement(root, "testsuite", name=b["name"], tests=str(len(tests)),
                              failures=str(sum(1 for t in tests if t["verdict"] == "fail")),
                              errors="1" if b.get("error") else "0",
                              time="%.3f" % sum(t["seconds"] for t in tests))
        if b.get("error"):
            case = ET.SubElement(suite, "testcase", classname=b["name"], name="(test listing)", time="0")
            ET.SubElement(case, "error", message=short(b["error"], 500), type="could-not-run").text = b["error"]
        for t in tests:
            case = ET.SubElement(suite, "testcase", classname=b["name"], name=t["name"],
                                 time="%.3f" % t["seconds"])
            if t["requirements"]:
                props = ET.SubElement(case, "properties")
                for rid in t["requirements"]:
                    ET.SubElement(props, "property", name="requirement", value=rid)
            if t["verdict"] == "fail":
                text = t["message"] or ""
                tail = t.get("details", {}).get("stderr_tail") or []
                if tail:
                    text += "\n--- stderr (last lines) ---\n" + "\n".join(tail)
                ET.SubElement(case, "failure", message=short(t["message"], 500), type=t["kind"]).text = text
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def write_all(report_dir, report):
    os.makedirs(report_dir, exist_ok=True)
    write_json(os.path.join(report_dir, "report.json"), report)
    write_markdown(os.path.join(report_dir, "report.md"), report)
    write_junit(os.path.join(report_dir, "junit.xml"), report)
