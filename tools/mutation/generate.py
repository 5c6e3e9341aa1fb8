"""Mutant generator for C and C++ sources (Python standard library only).

Why a generator of our own and not clang's AST (python3-clang): the operators
below are all local rewrites of one token or one statement, which a small
lexer with bracket depths finds exactly; the kit keeps its dependency list
(mk/packages.txt) unchanged, and the same code mutates the reference's C++ and
the literal implementation's C. What a lexer cannot know (types) is handled
by the build: a mutant that does not compile is discarded and counted.

A mutant is a list of edits (start, end, replacement) on one file. Its id
hashes the file name, the operator, the text of the mutated line and the
edits' columns in it: it does not depend on line numbers, so it survives
edits elsewhere in the file (tools/mutation/verdicts.txt refers to ids).
"""

import hashlib
import random
import re

# --- lexer -------------------------------------------------------------------------

PUNCT = sorted("""
>>= <<= ... ->* :: -> ++ -- << >> <= >= == != && || += -= *= /= %= &= |= ^=
{ } [ ] ( ) ; : , . ? ~ ! + - * / % & | ^ = < >
""".split(), key=len, reverse=True)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_NUMBER = re.compile(r"(0[xX][0-9A-Fa-f']+|[0-9][0-9']*(\.[0-9]*)?([eE][+-]?[0-9]+)?)[uUlLfF]*")


class Token:
    __slots__ = ("kind", "text", "start", "end", "line", "template")

    def __init__(self, kind, text, start, line):
        self.kind, self.text, self.start, self.end, self.line = kind, text, start, start + len(text), line
        self.template = False  # a '<' or '>' of a template argument list

    def __repr__(self):
        return "%s(%r@%d)" % (self.kind, self.text, self.line)


_CONDITIONAL = re.compile(r"#\s*(ifdef|ifndef|if|elif|else|endif)\b\s*([A-Za-z_][A-Za-z_0-9]*)?")


def _directive(text, defined, stack):
    """Follows #ifdef/#ifndef/#else/#endif: a branch of `#ifdef NAME` whose NAME is
    not defined is not compiled, so it is not mutated (the literal implementation's
    MUTANT_ switches). Any other #if keeps both branches."""
    m = _CONDITIONAL.match(text)
    if not m:
        return
    kind, name = m.group(1), m.group(2)
    if kind in ("ifdef", "ifndef") and name:
        stack.append((name in defined) == (kind == "ifdef"))
    elif kind == "if":
        stack.append(None)
    elif kind == "elif" and stack:
        stack[-1] = None
    elif kind == "else" and stack and stack[-1] is not None:
        stack[-1] = not stack[-1]
    elif kind == "endif" and stack:
        stack.pop()


def tokenize(text, defined=("__cplusplus",)):
    """Tokens of the code: comments, string and character literals are one
    token each (never mutated), preprocessor lines are skipped whole, and so
    are the branches they switch off (`defined`: the macros taken as defined)."""
    toks, i, line, n = [], 0, 1, len(text)
    at_line_start = True
    stack = []
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            at_line_start = True
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        if at_line_start and c == "#":
            # A directive, with its backslash continuations.
            start = i
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    line += 1
                    i += 1
                i += 1
            _directive(text[start:i], defined, stack)
            continue
        if False in stack:
            # A switched-off branch: skip the line.
            while i < n and text[i] != "\n":
                i += 1
            continue
        at_line_start = False
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            line += text.count("\n", i, j)
            i = j
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            toks.append(Token("string", text[i:j + 1], i, line))
            i = j + 1
            continue
        m = _IDENT.match(text, i)
        if m:
            toks.append(Token("ident", m.group(), i, line))
            i = m.end()
            continue
        m = _NUMBER.match(text, i)
        if m:
            toks.append(Token("number", m.group(), i, line))
            i = m.end()
            continue
        for p in PUNCT:
            if text.startswith(p, i):
                toks.append(Token("punct", p, i, line))
                i += len(p)
                break
        else:
            raise ValueError("line %d: unexpected character %r" % (line, c))
    _mark_templates(toks)
    return toks


_TEMPLATE_INNER = {"::", "*", "&", ",", "<", ">", "const"}


def _mark_templates(toks):
    """`name<...>` whose inside is only names, numbers, `::`, `*`, `&` and `,` is
    a template argument list (static_cast<uint32_t>, std::atomic<int>); a
    comparison always meets an operator, a `)` or a `;` before any `>`."""
    for i, t in enumerate(toks):
        if t.text != "<" or i == 0 or toks[i - 1].kind != "ident":
            continue
        depth, j = 0, i
        while j < len(toks):
            u = toks[j]
            if u.text == "<":
                depth += 1
            elif u.text == ">":
                depth -= 1
                if depth == 0:
                    break
            elif u.kind not in ("ident", "number") and u.text not in _TEMPLATE_INNER:
                j = len(toks)
                break
            j += 1
        if j < len(toks):
            for u in toks[i:j + 1]:
                if u.text in ("<", ">"):
                    u.template = True


# --- operators ---------------------------------------------------------------------

# The boundary shift of each comparison (`<` -> `<=`); whole conditions are
# negated by the "condition" operator.
ROR = {"<": ["<="], "<=": ["<"], ">": [">="], ">=": [">"], "==": ["!="], "!=": ["=="]}
LCR = {"&&": "||", "||": "&&"}
AOR = {"+": "-", "-": "+", "+=": "-=", "-=": "+=", "++": "--", "--": "++"}
BIT = {"|": "&", "&": "|", "|=": "&=", "&=": "|="}
JUMP = {"break": "continue", "continue": "break"}
BOOLS = {"true": "false", "false": "true"}

# Named constants of the module's domain: replaced by a neighbour (a changed
# flag, errno, action or result) or by 0 (a flag dropped).
CONSTANTS = {
    "MSG_NOSIGNAL": ["0"], "MSG_DONTWAIT": ["0"],
    "EPOLLONESHOT": ["0"], "EPOLLRDHUP": ["0"], "EPOLLEXCLUSIVE": ["0"], "EPOLLET": ["0"],
    "EPOLLIN": ["EPOLLOUT"], "EPOLLOUT": ["EPOLLIN"], "EPOLLERR": ["0"], "EPOLLHUP": ["0"],
    "EPOLL_CTL_MOD": ["EPOLL_CTL_ADD"], "EPOLL_CTL_ADD": ["EPOLL_CTL_MOD"], "EPOLL_CTL_DEL": ["EPOLL_CTL_MOD"],
    "EPOLL_CLOEXEC": ["0"], "EFD_CLOEXEC": ["0"], "EFD_NONBLOCK": ["0"],
    "EAGAIN": ["EINTR"], "EWOULDBLOCK": ["EINTR"], "EINTR": ["EAGAIN"], "ENOENT": ["EEXIST"],
    "ECONNRESET": ["EPIPE"], "EPIPE": ["ECONNRESET"],
    "COMPLETION_PORT_RESULT_OK": ["COMPLETION_PORT_RESULT_ERROR"],
    "COMPLETION_PORT_RESULT_ERROR": ["COMPLETION_PORT_RESULT_ABANDONED"],
    "COMPLETION_PORT_RESULT_ABANDONED": ["COMPLETION_PORT_RESULT_OK"],
    "COMPLETION_PORT_EPOLL_EPOLLIN": ["COMPLETION_PORT_EPOLL_EPOLLOUT"],
    "COMPLETION_PORT_EPOLL_EPOLLOUT": ["COMPLETION_PORT_EPOLL_EPOLLRDHUP"],
    "COMPLETION_PORT_EPOLL_EPOLLRDHUP": ["COMPLETION_PORT_EPOLL_EPOLLIN"],
    "COMPLETION_PORT_CLOSING": ["COMPLETION_PORT_EPOLL_EPOLLRDHUP"],
    "memory_order_acq_rel": ["memory_order_relaxed"],
}

# Calls inside these are not mutated: an assertion's condition is not behaviour.
SKIP_CALLS = {"assert", "static_assert"}
# Statement starts that make a declaration or a control statement, not an
# expression statement that can be deleted.
NOT_EXPRESSION = {"return", "if", "else", "for", "while", "do", "switch", "case", "default", "goto",
                  "break", "continue", "try", "catch", "throw", "const", "constexpr", "static",
                  "struct", "enum", "union", "typedef", "using", "namespace", "template", "class",
                  "auto", "unsigned", "signed", "int", "char", "long", "short", "bool", "void",
                  "float", "double", "extern", "inline", "volatile", "thread_local", "public",
                  "private", "protected", "register"}
# Return values tried by an early return, by the function's return type.
EARLY_RETURNS = {"void": ["return;"], "bool": ["return false;", "return true;"], "int": ["return 0;"]}


class Mutant:
    __slots__ = ("file", "line", "operator", "edits", "original", "replacement", "id")

    def __init__(self, file, line, operator, edits, original, replacement, line_text, line_start):
        self.file, self.line, self.operator, self.edits = file, line, operator, sorted(edits)
        self.original, self.replacement = original, replacement
        key = "\0".join([file, operator, line_text.strip()] +
                        ["%d:%d:%s" % (s - line_start - (len(line_text) - len(line_text.lstrip())),
                                       e - s, r) for s, e, r in self.edits])
        self.id = hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]

    @property
    def description(self):
        return "%s: `%s` -> `%s`" % (self.operator, self.original, self.replacement)

    def apply(self, text):
        for s, e, r in reversed(self.edits):
            text = text[:s] + r + text[e:]
        return text

    def as_dict(self):
        return {"id": self.id, "file": self.file, "line": self.line, "operator": self.operator,
                "mutation": self.description}


def _matching(toks, i, open_, close):
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].text == open_:
            depth += 1
        elif toks[j].text == close:
            depth -= 1
            if depth == 0:
                return j
    return None


def _skipped_spans(toks):
    """Token index ranges inside assert(...) / static_assert(...)."""
    spans = []
    for i, t in enumerate(toks):
        if t.kind == "ident" and t.text in SKIP_CALLS and i + 1 < len(toks) and toks[i + 1].text == "(":
            j = _matching(toks, i + 1, "(", ")")
            if j is not None:
                spans.append((i, j))
    return spans


def _is_operand_end(t):
    """A token after which `&`, `|`, `+`, `-` are binary."""
    return t.kind in ("ident", "number", "string") and t.text not in NOT_EXPRESSION | {"delete", "new"} \
        or t.text in (")", "]")


def mutants_of(name, text):
    """Every mutant of one file, in source order."""
    toks = tokenize(text, defined=() if name.endswith(".c") else ("__cplusplus",))
    lines = text.split("\n")
    line_starts = [0]
    for ln in lines:
        line_starts.append(line_starts[-1] + len(ln) + 1)
    skipped = _skipped_spans(toks)
    body_depth = _function_body_depths(toks)
    out = []

    def add(tok_or_line, operator, edits, original, replacement):
        line = tok_or_line if isinstance(tok_or_line, int) else tok_or_line.line
        out.append(Mutant(name, line, operator, edits, original, replacement,
                          lines[line - 1], line_starts[line - 1]))

    def in_skipped(i):
        return any(a <= i <= b for a, b in skipped)

    for i, t in enumerate(toks):
        if in_skipped(i):
            continue
        prev = toks[i - 1] if i else None
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        span = [(t.start, t.end)]
        if t.kind == "punct":
            if t.text in ROR and not t.template:
                for r in ROR[t.text]:
                    add(t, "relational", [span[0] + (r,)], t.text, r)
            elif t.text in LCR:
                add(t, "logical", [span[0] + (LCR[t.text],)], t.text, LCR[t.text])
            elif t.text in ("++", "--") or (t.text in AOR and prev is not None and _is_operand_end(prev)):
                add(t, "arithmetic", [span[0] + (AOR[t.text],)], t.text, AOR[t.text])
            elif t.text in BIT and prev is not None and _is_operand_end(prev) and \
                    not (t.text == "&" and body_depth[i] == 0):  # `const T& x` of a declaration
                add(t, "bitwise", [span[0] + (BIT[t.text],)], t.text, BIT[t.text])
            elif t.text == "~":
                add(t, "bitwise", [(t.start, t.end, "")], "~", "")
            elif t.text == "!" and nxt is not None:
                add(t, "negation", [(t.start, t.end, "")], "!", "")
        elif t.kind == "ident":
            if t.text in CONSTANTS:
                for r in CONSTANTS[t.text]:
                    add(t, "constant", [span[0] + (r,)], t.text, r)
            elif t.text in BOOLS:
                add(t, "constant", [span[0] + (BOOLS[t.text],)], t.text, BOOLS[t.text])
            elif t.text in JUMP and nxt is not None and nxt.text == ";":
                add(t, "jump", [span[0] + (JUMP[t.text],)], t.text, JUMP[t.text])
            elif t.text in ("if", "while") and nxt is not None and nxt.text == "(":
                j = _matching(toks, i + 1, "(", ")")
                # `!(a == b)` is the relational mutant `a != b` again: not generated twice.
                inner = toks[i + 2:j]
                single = sum(u.text in ("==", "!=") for u in inner) == 1 and \
                    not any(u.text in ("&&", "||", "?") for u in inner)
                if j is not None and j > i + 2 and not single:
                    cond = text[toks[i + 2].start:toks[j - 1].end]
                    add(t, "condition", [(toks[i + 2].start, toks[i + 2].start, "!("),
                                         (toks[j - 1].end, toks[j - 1].end, ")")],
                        "%s (%s)" % (t.text, _short(cond)), "%s (!(%s))" % (t.text, _short(cond)))
        elif t.kind == "number":
            value = _int_value(t.text)
            if value is None or (prev is not None and prev.text == "["):
                continue
            for r in (["1"] if value == 0 else [str(value + 1)]):
                add(t, "constant", [span[0] + (r,)], t.text, r)
    out += _statement_deletions(name, text, toks, skipped, add)
    out += _early_returns(toks, add)
    return _unique(out)


def _short(s, limit=60):
    s = " ".join(s.split())
    return s if len(s) <= limit else s[:limit - 3] + "..."


def _int_value(text):
    t = text.rstrip("uUlL").replace("'", "")
    try:
        return int(t, 0)
    except ValueError:
        return None


def _statement_deletions(name, text, toks, skipped, add):
    """Expression statements inside function bodies (calls, assignments,
    increments, delete/free) replaced by an empty statement."""
    body_depth = _function_body_depths(toks)
    found = []
    starts = {0} | {i + 1 for i, t in enumerate(toks) if t.text in (";", "{", "}")}
    for i in sorted(starts):
        if i >= len(toks) or body_depth[i] <= 0:
            continue
        t = toks[i]
        if t.kind != "ident" and t.text not in ("(", "*", "++", "--"):
            continue
        if t.text in NOT_EXPRESSION or any(a <= i <= b for a, b in skipped):
            continue
        # To the statement's `;` at the same bracket depth; none of `{`, `}` on the way.
        depth, j = 0, i
        while j < len(toks):
            u = toks[j].text
            if u in "([":
                depth += 1
            elif u in ")]":
                depth -= 1
            elif u in ("{", "}") or depth < 0:
                j = None
                break
            elif u == ";" and depth == 0:
                break
            j += 1
        if j is None or j >= len(toks) or j == i:
            continue
        stmt = toks[i:j]
        # A declaration starts with two names in a row (`Op* op = ...` has `*` between:
        # a name, `*` or `&`, a name, then `=` or `;` or `(`), or with `name<...> name`.
        words = _qualified_words(stmt)
        if len(words) >= 2 and words[0].kind == "ident" and words[1].kind == "ident":
            continue
        if (len(words) >= 3 and words[0].kind == "ident" and words[1].text in ("*", "&")
                and words[2].kind == "ident" and (len(words) == 3 or words[3].text in ("=", "(", "{", "["))):
            continue
        if any(u.template for u in stmt[:2]):
            continue
        effect = any(u.text in ("(", "=", "+=", "-=", "|=", "&=", "^=", "++", "--") for u in stmt) or \
            stmt[0].text == "delete"
        if not effect:
            continue
        original = _short(text[stmt[0].start:toks[j].end])
        found.append((t, [(stmt[0].start, toks[j].end, ";")], original))
    for t, edits, original in found:
        add(t, "statement", edits, original, ";")
    return []


def _qualified_words(stmt):
    """The statement's tokens with `a::b` as one name and template lists left out."""
    words = []
    for u in stmt:
        if u.template or u.text == "::" or (words and words[-1].text == "::"):
            if u.text == "::" and words and words[-1].kind == "ident":
                words.append(u)
            elif words and words[-1].text == "::":
                words.pop()
            continue
        words.append(u)
    return [w for w in words if w.text != "::"]


def _function_body_depths(toks):
    """Per token: how deep it is inside a function body (0: outside any)."""
    depths, stack, i = [0] * len(toks), [], 0
    for i, t in enumerate(toks):
        if t.text == "{":
            prev = toks[i - 1] if i else None
            # A function (or lambda) body follows `)` or `) const`/`noexcept`/`override`;
            # a block inside a body is a body block too.
            inside = bool(stack) and stack[-1]
            is_func = prev is not None and (prev.text == ")" or prev.text in ("const", "noexcept", "override"))
            stack.append(inside or is_func)
        elif t.text == "}":
            if stack:
                stack.pop()
        depths[i] = sum(1 for s in stack if s)
    return depths


def _early_returns(toks, add):
    """`return;` (or a value of the return type) as a function's first statement."""
    stack = []
    for i, t in enumerate(toks):
        if t.text == "}":
            if stack:
                stack.pop()
            continue
        if t.text != "{":
            continue
        in_body = bool(stack) and stack[-1]
        prev = toks[i - 1] if i else None
        is_func = not in_body and prev is not None and prev.text == ")"
        stack.append(in_body or is_func)
        if not is_func:
            continue
        close = i - 1
        opening = _matching_back(toks, close)
        if opening is None or opening < 1 or toks[opening - 1].kind != "ident":
            continue
        # The return type: the names before the function's name, up to the previous
        # declaration; a `*` in it (a pointer) gets no early return.
        k = opening - 2
        while k >= 0 and toks[k].text == "::":
            k -= 2
        head = []
        while k >= 0 and toks[k].text not in (";", "{", "}", ")") and not toks[k].text.startswith("#"):
            head.append(toks[k])
            k -= 1
        if any(h.text in ("*", "&") for h in head):
            continue
        types = [h.text for h in head if h.text in EARLY_RETURNS]
        if not types or i + 1 >= len(toks):
            continue
        first = toks[i + 1]
        if first.text == "return" or first.text == "}":
            continue
        for r in EARLY_RETURNS[types[0]]:
            add(first, "early-return", [(first.start, first.start, r + " ")],
                "%s(...) {" % toks[opening - 1].text, "{ %s" % r)
    return []


def _matching_back(toks, j):
    depth = 0
    for k in range(j, -1, -1):
        if toks[k].text == ")":
            depth += 1
        elif toks[k].text == "(":
            depth -= 1
            if depth == 0:
                return k
    return None


def _unique(mutants):
    seen, out = set(), []
    for m in mutants:
        if m.id not in seen:
            seen.add(m.id)
            out.append(m)
    return out


def generate(sources, exclude=()):
    """sources: {file name: text}. Every mutant of every .c/.cpp/.h file not in exclude."""
    out = []
    for name in sorted(sources):
        if name.endswith((".c", ".cc", ".cpp", ".h", ".hpp")) and name not in exclude:
            out += mutants_of(name, sources[name])
    return out


def sample(mutants, count, seed):
    """A fixed sample: the same sources and seed give the same mutants."""
    if count is None or count >= len(mutants):
        return list(mutants)
    ordered = sorted(mutants, key=lambda m: m.id)
    picked = set(m.id for m in random.Random(seed).sample(ordered, count))
    return [m for m in mutants if m.id in picked]
