"""The report views: every file a validation writes besides report.json, rendered from
the report.json object alone (tools/RESULTS.md section 6). No view judges anything.

    write_all(report_dir, report) -> [paths written]
"""

import os

from . import junit, report_html, report_md, requirements

FILES = ("report.md", "report.html", "junit.xml", "requirements.md", "requirements.html")


def render_all(report):
    """{file name: text} of every view."""
    req_md, req_html = requirements.render(report)
    return {"report.md": report_md.render(report), "report.html": report_html.render(report),
            "junit.xml": junit.render(report), "requirements.md": req_md, "requirements.html": req_html}


def write_all(report_dir, report):
    os.makedirs(report_dir, exist_ok=True)
    paths = []
    for name, text in render_all(report).items():
        path = os.path.join(report_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)  # a reader never sees half a file
        paths.append(path)
    return paths
