"""report.html: the same content as report.md, one self-contained page."""

from . import content, doc


def render(report):
    return doc.to_html(content.build(report), "completion_port_linux conformance: " + content.title(report))
