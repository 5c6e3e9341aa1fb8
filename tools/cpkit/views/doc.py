"""A small document model rendered to Markdown and to HTML.

A view builds its content once as blocks; both renderings come from the same
blocks, so report.md and report.html cannot say different things.

Inline content is a list whose items are plain strings or pairs:
("code", s), ("b", s), ("a", text, "#anchor").
Blocks:
  ("h", level, inlines, anchor or None)
  ("p", inlines)
  ("table", headers, rows, aligns)     rows: lists of inline lists; aligns: "l"/"r" per column
  ("pre", text, lang)                  a fenced block, shown in full
  ("ul", items)                        items: lists of blocks
  ("details", summary inlines, blocks, open)   <details> in HTML; in Markdown the summary
                                       in bold, then the blocks
  ("raw", markdown text, html text)    a section another tool already rendered both ways
"""

import html
import re

# --- Markdown ------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*<\[\]])")


def _md_text(s, in_table):
    s = _MD_SPECIAL.sub(r"\\\1", " ".join(str(s).split("\n")))
    if in_table:
        s = s.replace("|", "\\|")
    return s


def _md_code(s, in_table):
    s = " ".join(str(s).split("\n"))
    if in_table:
        s = s.replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return "%s%s%s%s%s" % (fence, pad, s, pad, fence)


def md_inline(inlines, in_table=False):
    out = []
    for item in inlines:
        if isinstance(item, str):
            out.append(_md_text(item, in_table))
        elif item[0] == "code":
            out.append(_md_code(item[1], in_table))
        elif item[0] == "b":
            out.append("**%s**" % _md_text(item[1], in_table))
        elif item[0] == "a":
            out.append(_md_text(item[1], in_table))  # plain: raw Markdown is read too
        else:
            raise ValueError("unknown inline %r" % (item,))
    return "".join(out)


def _md_fence(text):
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    return "`" * max(3, longest + 1)


def _md_blocks(blocks, indent=""):
    out = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out.append("#" * b[1] + " " + md_inline(b[2]))
        elif kind == "p":
            out.append(md_inline(b[1]))
        elif kind == "table":
            headers, rows, aligns = b[1], b[2], b[3]
            lines = ["| " + " | ".join(_md_text(h, True) for h in headers) + " |",
                     "|" + "|".join("--:" if a == "r" else "---" for a in aligns) + "|"]
            lines += ["| " + " | ".join(md_inline(c, True) for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "pre":
            fence = _md_fence(b[1])
            out.append("%s%s\n%s\n%s" % (fence, b[2] or "", b[1].rstrip("\n"), fence))
        elif kind == "ul":
            for item in b[1]:
                sub = _md_blocks(item)
                lines = "\n\n".join(sub).split("\n")
                out.append("\n".join(["- " + lines[0]] + [("  " + ln) if ln else "" for ln in lines[1:]]))
        elif kind == "details":
            out.append("**%s**" % md_inline(b[1]))
            out.extend(_md_blocks(b[2]))
        elif kind == "raw":
            out.append(b[1].rstrip("\n"))
        else:
            raise ValueError("unknown block %r" % (kind,))
    return out


def to_markdown(blocks):
    return "\n\n".join(_md_blocks(blocks)) + "\n"


# --- HTML ----------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _h(s):
    """Escaped, and XML-safe: control characters (ANSI colours of a sanitizer report)
    are shown as \\xNN, so the page also parses as XML."""
    s = _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()), str(s))
    return html.escape(s, quote=True)


def html_inline(inlines):
    out = []
    for item in inlines:
        if isinstance(item, str):
            out.append(_h(item))
        elif item[0] == "code":
            out.append("<code>%s</code>" % _h(item[1]))
        elif item[0] == "b":
            out.append("<b>%s</b>" % _h(item[1]))
        elif item[0] == "a":
            out.append('<a href="%s">%s</a>' % (_h(item[2]), _h(item[1])))
        else:
            raise ValueError("unknown inline %r" % (item,))
    return "".join(out)


def _html_blocks(blocks):
    out = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            anchor = ' id="%s"' % _h(b[3]) if b[3] else ""
            out.append("<h%d%s>%s</h%d>" % (b[1], anchor, html_inline(b[2]), b[1]))
        elif kind == "p":
            out.append("<p>%s</p>" % html_inline(b[1]))
        elif kind == "table":
            headers, rows, aligns = b[1], b[2], b[3]
            cells = "".join("<th>%s</th>" % _h(h) for h in headers)
            out.append("<table>\n<thead><tr>%s</tr></thead>\n<tbody>" % cells)
            for row in rows:
                out.append("<tr>%s</tr>" % "".join(
                    '<td%s>%s</td>' % (' class="num"' if a == "r" else "", html_inline(c))
                    for c, a in zip(row, aligns)))
            out.append("</tbody>\n</table>")
        elif kind == "pre":
            out.append("<pre>%s</pre>" % _h(b[1].rstrip("\n")))
        elif kind == "ul":
            out.append("<ul>")
            for item in b[1]:
                out.append("<li>%s</li>" % "\n".join(_html_blocks(item)))
            out.append("</ul>")
        elif kind == "details":
            out.append("<details%s><summary>%s</summary>" % (' open="open"' if b[3] else "", html_inline(b[1])))
            out.extend(_html_blocks(b[2]))
            out.append("</details>")
        elif kind == "raw":
            out.append(b[2])
        else:
            raise ValueError("unknown block %r" % (kind,))
    return out


CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:72em;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.2em .5em;vertical-align:top;text-align:left}
th{background:#f0f0f0}
td.num{text-align:right}
pre{background:#f6f6f6;border:1px solid #ddd;padding:.5em;overflow-x:auto;white-space:pre-wrap}
code{font-size:90%;background:#f3f3f3;padding:0 .2em}
details{margin:.3em 0 .3em 1em}
summary{cursor:pointer}
h1{font-size:1.5em}
"""


def to_html(blocks, title):
    """One self-contained page: no external asset, the style inline."""
    body = "\n".join(_html_blocks(blocks))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
            "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n%s\n</body>\n</html>\n"
            % (_h(title), CSS, body))
