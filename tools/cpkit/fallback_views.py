"""A minimal report.md, used only while tools/cpkit/views is absent."""

import os


def write_all(report_dir, report):
    s = report["summary"]
    out = ["# completion_port_linux conformance: %s — %s" % (
        report["implementation"]["name"], "CONFORMS" if report["conforms"] else "DOES NOT CONFORM"), ""]
    for level in ("normative", "recommended", "internal"):
        c = s[level]
        out.append("- %s: %d pass, %d fail, %d inconclusive, %d untested of %d" % (
            level, c["pass"], c["fail"], c["inconclusive"], c["untested"], c["total"]))
    out.append("- tests: %d passed, %d failed, %d kit errors" % (
        s["tests"]["passed"], s["tests"]["failed"], s["tests"]["kit_errors"]))
    out.append("")
    for r in report["requirements"]:
        if r["verdict"] != "pass":
            line = "- %s %s: %s" % (r["word"], r["id"], r["title"])
            if r["caused_by"]:
                line += " (probably a consequence of %s)" % ", ".join(r["caused_by"])
            out.append(line)
    path = os.path.join(report_dir, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    return [path]
