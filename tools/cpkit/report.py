"""report.json (format_version 2, tools/RESULTS.md section 6): assembling it,
writing it with its views, and loading it back."""

import datetime
import json
import os

FORMAT_VERSION = 2


class ReportError(Exception):
    """report.json is missing or of another format."""


def kit_version(root):
    try:
        with open(os.path.join(root, "VERSION"), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def assemble(root, judged, *, name, files, kind, seconds, jobs, timeout, strict, selection,
             hang, binaries, build, warnings):
    """The report dict from verdict.judge's result and the run's facts."""
    return {
        "format_version": FORMAT_VERSION,
        "kit": {"name": "cpkit", "version": kit_version(root)},
        "implementation": {"name": name, "files": list(files), "kind": kind},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 2), "jobs": jobs, "timeout": timeout,
        "strict": bool(strict), "selection": selection, "hang": hang,
        "outcome": judged["outcome"], "conforms": judged["conforms"],
        "exit_status": judged["exit_status"],
        "summary": judged["summary"],
        "requirements": judged["requirements"],
        "tests": [{k: t.get(k) for k in ("id", "binary", "name", "tags", "requirements", "section",
                                         "verdict", "seconds", "runs", "failed_runs", "run_requirements", "rerun",
                                         "failures", "files")} for t in judged["tests"]],
        "kit_errors": judged["kit_errors"],
        "binaries": binaries,
        "build": build,
        "warnings": list(warnings) + judged["warnings"],
    }


def _views():
    """The views package (tools/cpkit/views): every file but report.json."""
    from . import views
    return views.write_all


def write(report_dir, report):
    """Write report.json, then every view of it. Returns the paths written."""
    os.makedirs(report_dir, exist_ok=True)
    path = os.path.join(report_dir, "report.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return [path] + list(_views()(report_dir, report) or [])


def discard(report_dir):
    """Remove a previous verdict: a run that could not judge leaves none behind."""
    for name in ("report.json", "report.md", "report.html", "junit.xml", "requirements.md",
                 "requirements.html"):
        try:
            os.unlink(os.path.join(report_dir, name))
        except OSError:
            pass


def load(report_dir):
    """The report dict of report_dir/report.json (or of a report.json path)."""
    path = report_dir if report_dir.endswith(".json") else os.path.join(report_dir, "report.json")
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        raise ReportError("cannot read %s: %s" % (path, e))
    if report.get("format_version") != FORMAT_VERSION:
        raise ReportError("%s is format %s, not %d: validate again" % (path, report.get("format_version"),
                                                                      FORMAT_VERSION))
    return report
