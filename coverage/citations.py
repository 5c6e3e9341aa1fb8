"""Which executable lines a requirement citation in reference/src annotates.

A citation is a comment. It annotates:
  * the statement or block on its own line when it trails code (`x = 1;  // CPL_X`);
  * otherwise the statement or block that directly follows the comment (no blank line or
    preprocessor line in between); a comment followed by a blank line annotates nothing.
Of a block (function body, `if (...) { ... }`) the lines inside the braces count, and of a
braceless control statement (`if (c)\\n    return;`) the lines after its header, so that a
citation on `if (port == nullptr)` "ran" only when its body ran, not whenever the condition
was evaluated. When the condition itself does the work (it calls a function, as in
`if (arm_entry(...) != 0)`), its lines count too. Only lines with gcov line data (DA
records) are returned.
"""

import re

CONTROL_RE = re.compile(r"^\s*(?:\}\s*)?(?:else\s+if|if|else|for|while|switch|catch|try|do)\b")
CALL_RE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
NOT_CALLS = {"if", "while", "for", "switch", "catch", "sizeof", "alignof", "decltype", "return",
             "noexcept", "defined"}


def _header_calls(code, start, end):
    """Whether the header lines of a control statement call a function."""
    text = " ".join(code[start - 1:end])
    return any(m.group(1) not in NOT_CALLS for m in CALL_RE.finditer(text))


def code_lines(text):
    """Each line of text with comments removed and string/char literal contents blanked
    (the quotes stay), so that braces and semicolons can be counted."""
    out, buf = [], []
    state = None  # None, "line", "block", '"' or "'"
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            out.append("".join(buf))
            buf = []
            if state == "line":
                state = None
            i += 1
            continue
        if state is None:
            if text.startswith("//", i):
                state = "line"
                i += 2
                continue
            if text.startswith("/*", i):
                state = "block"
                i += 2
                continue
            if c in "\"'":
                state = c
            buf.append(c)
        elif state == "block":
            if text.startswith("*/", i):
                state = None
                i += 2
                continue
        elif state in "\"'":
            if c == "\\":
                i += 2
                continue
            if c == state:
                state = None
                buf.append(c)
        i += 1
    out.append("".join(buf))
    return out


def _statement_extent(code, start):
    """(end line, block open line or None, header end line or None) of the statement or
    block starting at 1-based line `start`. The block ends at the brace matching the
    first `{` met outside parentheses."""
    paren = brace = 0
    block_open = None
    header_end = None
    for ln in range(start, len(code) + 1):
        text = code[ln - 1]
        if text.lstrip().startswith("#"):
            continue
        for c in text:
            if c in "([":
                paren += 1
            elif c in ")]":
                paren -= 1
                if paren == 0 and header_end is None:
                    header_end = ln
            elif c == "{":
                if paren == 0 and brace == 0 and block_open is None:
                    block_open = ln
                brace += 1
            elif c == "}":
                brace -= 1
                if brace < 0:
                    return ln, block_open, header_end
                if brace == 0 and paren == 0 and block_open is not None:
                    return ln, block_open, header_end
            elif c == ";" and paren == 0 and brace == 0:
                return ln, block_open, header_end
    return len(code), block_open, header_end


def annotated(code, raw_lines, line):
    """(first, last, body lines) a citation on 1-based `line` annotates, or None.
    `body lines` is the range whose execution shows the cited code ran."""
    if line < 1 or line > len(code):
        return None
    if code[line - 1].strip() and not code[line - 1].lstrip().startswith("#"):
        start = line
    else:
        start = None
        for ln in range(line + 1, len(code) + 1):
            if not raw_lines[ln - 1].strip() or code[ln - 1].lstrip().startswith("#"):
                return None  # a blank or preprocessor line ends the comment's reach
            if code[ln - 1].strip():
                start = ln
                break
        if start is None:
            return None
    end, block_open, header_end = _statement_extent(code, start)
    control = CONTROL_RE.match(code[start - 1]) is not None
    if block_open is not None and block_open < end:
        # Lines strictly inside the braces: the opening line belongs to the header.
        body = list(range(block_open + 1, end))
        if not body:
            return start, end, list(range(start, end + 1))
        if control and _header_calls(code, start, block_open):
            body = list(range(start, block_open + 1)) + body
        return start, end, body
    if control and header_end is not None and header_end < end:
        body = list(range(header_end + 1, end + 1))
        if _header_calls(code, start, header_end):
            body = list(range(start, header_end + 1)) + body
        return start, end, body
    return start, end, list(range(start, end + 1))


class SourceFile:
    """A source file prepared for citation lookups."""

    def __init__(self, text):
        self.raw = text.split("\n")
        self.code = code_lines(text)

    def executable_lines(self, line, da_lines):
        """Sorted DA lines that show the code cited on `line` ran ([] when the citation
        annotates no executable code, e.g. a declaration or a file comment)."""
        span = annotated(self.code, self.raw, line)
        if span is None:
            return []
        start, end, body = span
        hits = [ln for ln in body if ln in da_lines]
        if not hits:
            hits = [ln for ln in range(start, end + 1) if ln in da_lines]
        return hits
