"""The three build steps of a validation, each a sub-make the orchestrator runs:
the kit's own objects (failure: the kit cannot judge), the implementation's
objects (failure: judged, with its compiler errors), the link (failure: judged,
with the linker errors)."""

import os
import re
import shlex
import subprocess

# A compiler diagnostic: file:line[:col]: [fatal ]error: ...
_DIAG_RE = re.compile(r"^(\S+?):(\d+)(?::\d+)?: (?:fatal )?error: ")
_LINK_RE = re.compile(r"(undefined reference to|multiple definition of|cannot find -l|"
                      r"\bld(?:\.\w+)?: |relocation .* against|collect2: error)")
_COMMAND_RE = re.compile(r"^\s*(\S*/)?(gcc|g\+\+|cc|c\+\+|clang|clang\+\+|ar|make)(\s|$)")
_MAKE_RE = re.compile(r"^make(\[\d+\])?: ")


def split_makeflags(value):
    """MAKEFLAGS as make writes it: words split at blanks, a backslash escapes the
    next character (`IMPL=a\\ b` is one word). Not shell syntax: quotes are plain."""
    words, cur, i = [], [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            cur.append(value[i + 1])
            i += 2
            continue
        if c in " \t":
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(c)
        i += 1
    if cur:
        words.append("".join(cur))
    return words


def join_makeflags(words):
    """The inverse of split_makeflags: blanks and backslashes escaped as make does."""
    return " ".join(re.sub(r"([ \t\\])", r"\\\1", w) for w in words)


def sub_make(make):
    """argv of the sub-make, without the parent's jobserver (never inherited: the
    orchestrator is not a recursive make line, so `make -n` runs nothing)."""
    env = dict(os.environ)
    flags = [f for f in split_makeflags(env.get("MAKEFLAGS", ""))
             if not f.startswith(("--jobserver", "-j")) and not (f.isalpha() and "n" in f)]
    env["MAKEFLAGS"] = join_makeflags(flags)
    env.pop("MFLAGS", None)
    return shlex.split(make), env


def run_step(make, target, jobs, log_path):
    """Run one step, appending its output to log_path. Returns (ok, output lines)."""
    argv, env = sub_make(make)
    argv = argv + ["-j%d" % max(1, jobs), target]
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ %s\n" % " ".join(shlex.quote(a) for a in argv))
        log.flush()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        lines = []
        for raw in p.stdout:
            line = raw.decode("utf-8", "replace")
            log.write(line)
            log.flush()
            lines.append(line.rstrip("\n"))
        p.wait()
    return p.returncode == 0, lines


def compiler_errors(lines, limit=40):
    """The compiler's own error lines (file:line: error: ... and what it prints under
    them), never the make or compiler command lines."""
    out, keep = [], False
    for ln in lines:
        if _DIAG_RE.match(ln):
            out.append(ln.rstrip())
            keep = True
        elif keep and ln.startswith((" ", "\t")) and not _COMMAND_RE.match(ln):
            out.append(ln.rstrip())
        else:
            keep = False
    if not out:
        out = [ln.rstrip() for ln in lines if "error" in ln and not _COMMAND_RE.match(ln)
               and not _MAKE_RE.match(ln)]
    return out[:limit]


def linker_errors(lines, limit=40):
    out = [ln.rstrip() for ln in lines if _LINK_RE.search(ln) and not _COMMAND_RE.match(ln)
           and not _MAKE_RE.match(ln)]
    if not out:
        out = [ln.rstrip() for ln in lines if "error" in ln.lower() and not _COMMAND_RE.match(ln)
               and not _MAKE_RE.match(ln)]
    return out[:limit]


_UNDEFINED_RE = re.compile(r"undefined reference to [`']([^'`]+)'")
# Namespaces of the kit's own code (harness, property model, Catch2, rapidcheck).
_KIT_SYMBOL_RE = re.compile(r"^(cpk|pt|reftest|Catch|rc)::")


def kit_link_failure(lines):
    """The undefined symbols of a failed link when every one of them is the kit's
    own (a stale or broken kit build, not a missing implementation function), else []."""
    undefined = sorted({m.group(1) for ln in lines for m in _UNDEFINED_RE.finditer(ln)})
    if undefined and all(_KIT_SYMBOL_RE.match(sym) for sym in undefined):
        return undefined
    return []
