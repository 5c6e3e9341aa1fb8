"""report.md: the report as Markdown, read in a minute (content.py)."""

from . import content, doc


def render(report):
    return doc.to_markdown(content.build(report))
