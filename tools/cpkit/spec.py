"""Parser for spec/completion_port_linux.md and the seed, shared by every cpkit tool.

Spec format: `## N. Title` opens section N; `#### CPL_<SECTION>_<NNN>: title` opens a
requirement, followed by bullet fields `- **Name:** value` (Level, Observability, Seed,
Requirement, optional Why). `##` headings without a number (the reading guide, the notes)
hold no requirements.
"""

import os
import re

ID_RE = re.compile(r"CPL_[A-Z]+_[0-9]{3}")
# Wider than ID_RE so that a malformed citation (an ID with four digits) is reported as
# unknown rather than silently read as its three-digit prefix.
ID_LIKE_RE = re.compile(r"CPL_[A-Z]+_[0-9]+")
LEVELS = ("normative", "recommended")
OBSERVABILITIES = ("api", "sys", "internal")
SPEC_RELPATH = os.path.join("spec", "completion_port_linux.md")
SEED_RELPATH = os.path.join("..", "shared", "seed", "completion_port_linux_requirements.md")

_SECTION_RE = re.compile(r"^##\s+(\d+)\.\s+(.*?)\s*$")
_H2_RE = re.compile(r"^##\s")
_REQ_RE = re.compile(r"^####\s+(\S+?):\s*(.*?)\s*$")
_FIELD_RE = re.compile(r"^-\s+\*\*([A-Za-z]+):\*\*\s*(.*?)\s*$")
_QUOTE_RE = re.compile(r'"([^"]*)"')
_LIST_MARKER_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


class SpecError(Exception):
    """The spec cannot be parsed; the message lists every problem found."""


def repo_root():
    """The repository root: the parent of tools/ (this file is tools/cpkit/spec.py)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def normalize(text):
    """Collapse whitespace runs so that line wrapping never decides a match."""
    return " ".join(text.split())


def seed_quotes(seed_field):
    """The verbatim seed sentences of a Seed field ("..." segments), normalized."""
    return [normalize(q) for q in _QUOTE_RE.findall(seed_field)]


def parse_spec_text(text, path="spec"):
    """Parse the spec text into a list of requirement dicts (in spec order).

    Each dict: id, title, section (title), section_number, level, observability, seed
    (raw field text), seed_quotes, requirement, why (or None), line.
    Raises SpecError listing every malformed requirement.
    """
    reqs = []
    errors = []
    section = None  # (number, title) while inside a numbered section
    current = None
    last_field = None

    def finish():
        if current is None:
            return
        where = "%s:%d: %s" % (path, current["line"], current["id"])
        for name in ("level", "observability", "seed", "requirement"):
            if not current.get(name):
                errors.append("%s: missing **%s:** field" % (where, name.capitalize()))
        if current.get("level") and current["level"] not in LEVELS:
            errors.append("%s: Level %r is not one of %s" % (where, current["level"], "/".join(LEVELS)))
        if current.get("observability") and current["observability"] not in OBSERVABILITIES:
            errors.append("%s: Observability %r is not one of %s"
                          % (where, current["observability"], "/".join(OBSERVABILITIES)))
        current["seed_quotes"] = seed_quotes(current.get("seed") or "")
        current.setdefault("why", None)
        reqs.append(current)

    in_code = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        m = _SECTION_RE.match(line)
        if m or _H2_RE.match(line):
            finish()
            current = None
            section = (int(m.group(1)), m.group(2)) if m else None
            continue
        if line.startswith("#### "):
            finish()
            current = None
            m = _REQ_RE.match(line)
            if not m or not ID_RE.fullmatch(m.group(1)):
                if ID_LIKE_RE.search(line):
                    errors.append("%s:%d: malformed requirement heading: %s" % (path, lineno, line.strip()))
                continue
            if section is None:
                errors.append("%s:%d: %s is outside a numbered section" % (path, lineno, m.group(1)))
                continue
            current = {"id": m.group(1), "title": m.group(2), "section": section[1],
                       "section_number": section[0], "line": lineno}
            last_field = None
            continue
        if line.startswith("#"):
            finish()
            current = None
            continue
        if current is None:
            continue
        m = _FIELD_RE.match(line)
        if m:
            name = m.group(1).lower()
            if name in current:
                errors.append("%s:%d: %s: duplicate **%s:** field" % (path, lineno, current["id"], m.group(1)))
            current[name] = m.group(2)
            last_field = name
        elif line.strip() and last_field and line[:1].isspace():
            # Continuation of a wrapped field value.
            current[last_field] = (current[last_field] + " " + line.strip()).strip()
        elif line.strip():
            last_field = None
    finish()

    seen = {}
    for r in reqs:
        if r["id"] in seen:
            errors.append("%s:%d: %s already defined at line %d" % (path, r["line"], r["id"], seen[r["id"]]))
        else:
            seen[r["id"]] = r["line"]
    if not reqs:
        errors.append("%s: no requirements found" % path)
    if errors:
        raise SpecError("\n".join(errors))
    return reqs


def load_spec(path):
    with open(path, encoding="utf-8") as f:
        return parse_spec_text(f.read(), path)


def seed_items(text):
    """The seed's prose items: each non-empty line or bullet outside code blocks, with
    list markers stripped, whitespace-normalized, as (line, text).

    Headings are titles, not sentences, so they are skipped whole ("Overview" is not a
    requirement); their words are covered by the sentences under them.
    """
    items = []
    in_code = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code or line.lstrip().startswith("#"):
            continue
        item = normalize(_LIST_MARKER_RE.sub("", line, count=1))
        if item:
            items.append((lineno, item))
    return items


def uncovered_seed_items(seed_text, reqs):
    """Seed items that appear verbatim in no requirement's quoted Seed sentences."""
    quotes = [q for r in reqs for q in r["seed_quotes"]]
    return [(line, item) for line, item in seed_items(seed_text)
            if not any(item in q for q in quotes)]


def load_requirements(requirements_json=None, spec_path=None):
    """Requirements from trace's JSON if given and present, else parsed from the spec."""
    import json
    if requirements_json and os.path.exists(requirements_json):
        with open(requirements_json, encoding="utf-8") as f:
            return json.load(f)["requirements"]
    return load_spec(spec_path or os.path.join(repo_root(), SPEC_RELPATH))
