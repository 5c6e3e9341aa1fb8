"""Finding requirement IDs in the repository: plain citations and Catch2 test tags.

Used by trace.py. Standard library only.
"""

import bisect
import os
import re
import subprocess

from .spec import ID_LIKE_RE

CPP_EXTS = (".c", ".h", ".cc", ".cpp", ".cxx", ".hh", ".hpp", ".hxx", ".ipp", ".inl")
# Directories never scanned: generated output, VCS data, and the spec (it defines the IDs).
EXCLUDED_TOP = ("build", ".git", "spec")
_EXCLUDED_PARTS = ("__pycache__",)
_TAG_ID_RE = re.compile(r"\[(" + ID_LIKE_RE.pattern + r")\]")
_TAGS_ONLY_RE = re.compile(r"^\s*(\[[^\[\]]*\]\s*)+$")
_RAW_PREFIXES = ("R", "u8R", "uR", "UR", "LR")
_CHAR_PREFIXES = ("u8", "u", "U", "L")


def repo_files(root):
    """Relative paths of the repository's source/doc files (tracked or new, not ignored),
    excluding build/, .git/ and spec/. Falls back to a directory walk without git."""
    paths = None
    if os.path.isdir(os.path.join(root, ".git")):
        try:
            out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard"], check=True, capture_output=True).stdout
            paths = sorted(set(p for p in out.decode("utf-8", "replace").split("\0") if p))
        except (OSError, subprocess.CalledProcessError):
            paths = None
    if paths is None:
        paths = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            if rel == ".":
                dirnames[:] = [d for d in dirnames if d not in EXCLUDED_TOP]
            dirnames[:] = [d for d in dirnames if d not in _EXCLUDED_PARTS]
            for name in filenames:
                paths.append(os.path.normpath(os.path.join(rel, name)))
        paths.sort()
    result = []
    for p in paths:
        parts = p.replace(os.sep, "/").split("/")
        if parts[0] in EXCLUDED_TOP or any(x in _EXCLUDED_PARTS for x in parts):
            continue
        if os.path.isfile(os.path.join(root, p)):
            result.append(p.replace(os.sep, "/"))
    return result


def read_text(path):
    """File contents as text, or None for a binary file."""
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data:
        return None
    return data.decode("utf-8", "replace")


class LineIndex:
    """Offset -> 1-based line number, without rescanning the text for every lookup."""

    def __init__(self, text):
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, offset):
        return bisect.bisect_right(self._starts, offset)


def citations(text):
    """(id_like, line) for every ID-shaped token in text."""
    lines = LineIndex(text)
    return [(m.group(0), lines.line(m.start())) for m in ID_LIKE_RE.finditer(text)]


def _lex(text):
    """Tokens that matter for finding test-case tags, outside comments and char literals:
    ('str', content, offset) for a string literal, ('open', name, offset) for '(' where
    name is the identifier just before it (the macro it opens) or None, and
    ('punct', ')' or ',', offset)."""
    i, n = 0, len(text)
    last_ident = None
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if c == '"':
            prefix = last_ident[0] if last_ident and last_ident[1] == i else None
            if prefix in _RAW_PREFIXES:
                m = re.compile(r'"([^()\\ ]{0,16})\(').match(text, i)
                if m:
                    close = ")" + m.group(1) + '"'
                    j = text.find(close, m.end())
                    j = n if j < 0 else j
                    yield ("str", text[m.end():j], i)
                    i = j + len(close)
                    last_ident = None
                    continue
            j = i + 1
            while j < n and text[j] != '"' and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            yield ("str", text[i + 1:j], i)
            i = j + 1
            last_ident = None
            continue
        if c == "'":
            prefix = last_ident[0] if last_ident and last_ident[1] == i else None
            if i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_") and prefix not in _CHAR_PREFIXES:
                i += 1  # C++14 digit separator (1'000), not a char literal
                continue
            j = i + 1
            while j < n and text[j] != "'" and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            last_ident = None
            continue
        if c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            last_ident = (text[i:j], j)  # identifier and the offset just after it
            i = j
            continue
        if c.isdigit():
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_.'"):
                j += 1
            i = j
            last_ident = None
            continue
        if c in "(),":
            if c == "(":
                yield ("open", last_ident[0] if last_ident else None, i)
            else:
                yield ("punct", c, i)
            last_ident = None
            i += 1
            continue
        if not c.isspace():
            last_ident = None
        i += 1


def test_cases(text):
    """Catch2 test cases that carry requirement tags.

    Returns (name, macro, id_like, line) for every [CPL_...] tag in a string literal. The
    name is the first non-tag string argument of the innermost call holding the tag
    string (TEST_CASE, TEST_CASE_METHOD, SCENARIO or a project wrapper macro), or None when
    the tag string stands outside any call (e.g. in a #define). SCENARIO names get the
    "Scenario: " prefix Catch2 gives them.
    """
    out = []
    stack = []  # frames: {"macro", "arg", "strs": [(arg, content, offset)]}

    line_of = LineIndex(text).line

    def emit(frame, content, off):
        ids = _TAG_ID_RE.findall(content)
        if not ids:
            return
        name = macro = None
        if frame is not None:
            macro = frame["macro"]
            args = {}
            for arg, s, _ in frame["strs"]:
                args[arg] = args.get(arg, "") + s  # adjacent literals concatenate
            for arg in sorted(args):
                if not _TAGS_ONLY_RE.match(args[arg]):
                    name = args[arg]
                    break
            if name is not None and macro == "SCENARIO":
                name = "Scenario: " + name
        for tag_id in ids:
            out.append((name, macro, tag_id, line_of(off)))

    for kind, value, off in _lex(text):
        if kind == "open":
            stack.append({"macro": value, "arg": 0, "strs": []})
        elif kind == "punct" and value == ",":
            if stack:
                stack[-1]["arg"] += 1
        elif kind == "punct" and value == ")":
            if stack:
                frame = stack.pop()
                for arg, s, soff in frame["strs"]:
                    if _TAGS_ONLY_RE.match(s):
                        emit(frame, s, soff)
        elif kind == "str":
            if stack:
                stack[-1]["strs"].append((stack[-1]["arg"], value, off))
            elif _TAGS_ONLY_RE.match(value):
                emit(None, value, off)
    # Unbalanced parentheses (truncated file): report what the open frames hold.
    for frame in stack:
        for arg, s, soff in frame["strs"]:
            if _TAGS_ONLY_RE.match(s):
                emit(frame, s, soff)
    return out


BARE_CHECKS = ("CHECK", "REQUIRE", "FAIL", "CHECK_FALSE", "REQUIRE_FALSE", "FAIL_CHECK")


def bare_checks(text):
    """(macro, line) for every Catch2 check written bare, outside the CPK_ macros that
    name their requirement (comments and string literals do not count)."""
    line_of = LineIndex(text).line
    return [(name, line_of(off)) for kind, name, off in _lex(text)
            if kind == "open" and name in BARE_CHECKS]
