"""Catch2 test binaries (v2, and v3 where it differs): listing their tests, running one test per process,
reading the XML result and the sanitizer report in stderr. Standard library only.
"""

import html
import os
import re
import select
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

LIST_TIMEOUT = 60  # seconds; listing only registers tests, it must be quick
_STDERR_READ = 256 * 1024
_TAG_RE = re.compile(r"\[[^\[\]]+\]")
_TAGS_LINE_RE = re.compile(r"^(\[[^\[\]]+\])+$")
_FOOTER_RE = re.compile(r"^(\d+) (matching )?test cases?$")
_SAN_HEADLINE_RE = re.compile(r"(ERROR: \w*Sanitizer\b.*|\S*: runtime error: .*)")
_SAN_REGS_RE = re.compile(r" \(?(at )?pc 0x[0-9a-f]+ bp 0x[0-9a-f]+ sp 0x[0-9a-f]+( T\d+)?\)?")
_SAN_SUMMARY_RE = re.compile(r"SUMMARY: \w*Sanitizer.*")
_FRAME_RE = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ in (.*)$")
_SAN_FRAME_HINTS = ("libsanitizer", "sanitizer_common", "compiler-rt", "__interceptor_",
                    "__asan_", "__ubsan_", "__lsan_", "libasan", "libubsan")


class ListError(Exception):
    """A test binary cannot enumerate its tests (missing, crashes at startup, garbage)."""


def _run_capture(argv, timeout, env=None):
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                           env=env, restore_signals=True, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise ListError("%s timed out after %d s" % (" ".join(argv[1:]), timeout))
    except OSError as e:
        raise ListError("cannot execute %s: %s" % (argv[0], e.strerror or e))
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode < 0:
        raise ListError("%s killed by %s%s" % (" ".join(argv[1:]), signal_name(-p.returncode),
                                                _tail_suffix(err)))
    if "Sanitizer" in err:
        raise ListError("%s: sanitizer report at startup%s" % (" ".join(argv[1:]), _tail_suffix(err)))
    return p.returncode, out, err


def _tail_suffix(err, n=4):
    lines = [ln for ln in err.splitlines() if ln.strip()][-n:]
    return (": " + " | ".join(ln.strip()[:200] for ln in lines)) if lines else ""


def signal_name(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return "signal %d" % num


def list_tests(binary, env=None):
    """[(name, [tags])] in declaration order.

    Names come from --list-test-names-only (never wrapped); tags from --list-tests, whose
    blocks are in the same order (tag lines may wrap; they are joined). A name whose block
    cannot be matched gets its tags from `--list-tags "<name>"`. Catch2 exits with the
    number of tests listed, so the exit status is not an error by itself.
    """
    if not os.path.isfile(binary):
        raise ListError("%s does not exist" % binary)
    if not os.access(binary, os.X_OK):
        raise ListError("%s is not executable" % binary)
    _, xml_listing, _ = _run_capture([binary, "--list-tests", "-r", "xml"], LIST_TIMEOUT, env)
    v3 = _list_tests_xml(xml_listing)
    if v3 is not None:
        return v3
    rc, listing, _ = _run_capture([binary, "--list-tests"], LIST_TIMEOUT, env)
    lines = listing.splitlines()
    header = next((i for i, ln in enumerate(lines) if ln.rstrip().endswith("test cases:")), None)
    if header is None:
        raise ListError("--list-tests printed no test list (is it a Catch2 v2 binary?)%s"
                        % _tail_suffix(listing))
    stray = lines[:header]  # printed by static initializers, before Catch2's main
    blocks = []  # [name, tags]
    footer = None
    for ln in lines[header + 1:]:
        if _FOOTER_RE.match(ln.strip()) and not ln.startswith(" "):
            footer = int(_FOOTER_RE.match(ln.strip()).group(1))
            break
        if ln.startswith("      "):
            if blocks:
                blocks[-1][1] += ln.strip()
        elif ln.startswith("    "):
            if blocks:
                blocks[-1][0] += " " + ln.strip()
        elif ln.startswith("  ") and ln.strip():
            blocks.append([ln.strip(), ""])
    if footer is None or footer != len(blocks):
        raise ListError("--list-tests output is not a Catch2 v2 test list (%s blocks, footer %s)"
                        % (len(blocks), footer))

    _, names_out, _ = _run_capture([binary, "--list-test-names-only"], LIST_TIMEOUT, env)
    names = [ln.rstrip("\r") for ln in names_out.splitlines()]
    if names[:len(stray)] == stray:
        names = names[len(stray):]
    names = [n for n in names if n.strip()]
    names = [n[1:-1] if n.startswith('"#') and n.endswith('"') else n for n in names]
    if len(names) != len(blocks):
        raise ListError("--list-test-names-only gave %d names, --list-tests %d tests"
                        % (len(names), len(blocks)))

    result = []
    for name, (block_name, tags) in zip(names, blocks):
        if block_name.strip() == name.strip() and (not tags or _TAGS_LINE_RE.match(tags)):
            result.append((name, _TAG_RE.findall(tags)))
        else:
            _, out, _ = _run_capture([binary, "--list-tags", test_spec(name)], LIST_TIMEOUT, env)
            result.append((name, sorted(set(_TAG_RE.findall(out)))))
    return result


def _list_tests_xml(out):
    """[(name, [tags])] from Catch2 v3's `--list-tests -r xml` (v2 lists as text whatever
    the reporter, and v3 has no --list-test-names-only), or None if out is no such list.
    Lines printed by static initializers before the XML are skipped."""
    start = out.find("<MatchingTests")
    if start < 0:
        return None
    end = out.find("</MatchingTests>", start)
    doc = out[start:end + len("</MatchingTests>")] if end >= 0 else out[start:]
    try:
        root = ET.fromstring(doc)
    except ET.ParseError as e:
        raise ListError("--list-tests -r xml printed malformed XML (%s)" % e)
    result = []
    for tc in root.iter("TestCase"):
        name = tc.findtext("Name")
        if name is None:
            raise ListError("--list-tests -r xml: a TestCase without a Name")
        result.append((name, _TAG_RE.findall(tc.findtext("Tags") or "")))
    return result


def test_spec(name):
    """The command-line test spec that matches exactly the test called name (Catch2
    reads ',' as "or", '[' as a tag, '*' and '~' at the ends as patterns)."""
    out = "".join("\\" + c if c in '\\,[]"' else c for c in name)
    if out.startswith(("*", "~")):
        out = "\\" + out
    if out.endswith("*") and not out.endswith("\\*"):
        out = out[:-1] + "\\*"
    return out


def child_env(base=None):
    """The environment every test runs in: sanitizers report leaks and stop at the first
    error (appended, so these settings win over any earlier ones)."""
    env = dict(os.environ if base is None else base)

    def append(var, value):
        env[var] = (env[var] + ":" + value) if env.get(var) else value
    append("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1")
    append("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    # SANITIZE=thread: the first race ends the test, like ASan's first error.
    append("TSAN_OPTIONS", "halt_on_error=1:second_deadlock_stack=1")
    return env


class Runner:
    """Runs single test cases in their own process group with a timeout."""

    def __init__(self, env, timeout):
        self.env = env
        self.timeout = timeout
        self._running = set()

    def kill_all(self):
        """Kill every test process group still running (e.g. on Ctrl-C)."""
        for pid in list(self._running):
            _killpg(pid)

    def run(self, binary, name, base_path, extra_env=None, timeout=None):
        """Run `binary "<name>" -r xml -o <base>.xml` with CPK_RESULT_FILE=<base>.jsonl
        (plus extra_env); return the raw outcome dict."""
        xml_path, out_path, err_path = base_path + ".xml", base_path + ".out", base_path + ".err"
        result_path = base_path + ".jsonl"
        env = dict(self.env)
        env.update(extra_env or {})
        env["CPK_RESULT_FILE"] = os.path.abspath(result_path)
        timeout = self.timeout if timeout is None else timeout
        for p in (xml_path, out_path, err_path, result_path):
            if os.path.exists(p):
                os.unlink(p)
        start = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            # restore_signals: SIGPIPE back to its default disposition (Python ignores it);
            # start_new_session: one process group to kill on timeout.
            proc = subprocess.Popen([binary, test_spec(name), "-r", "xml", "-o", xml_path],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=env, restore_signals=True, start_new_session=True)
        self._running.add(proc.pid)
        try:
            timed_out = not _wait(proc, timeout)
        finally:
            self._running.discard(proc.pid)
        seconds = time.monotonic() - start
        return {"returncode": proc.returncode, "timed_out": timed_out, "seconds": seconds,
                "timeout": timeout, "xml": xml_path, "stdout": out_path, "stderr": err_path,
                "result": result_path}


def _killpg(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait(proc, timeout):
    """Wait for proc up to timeout; kill its process group if it overruns. Also kills any
    process the test left behind in its group. Returns False on timeout."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is None:
        try:
            proc.wait(timeout)
            done = True
        except subprocess.TimeoutExpired:
            done = False
        _killpg(proc.pid)
        proc.wait()
        return done
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        done = bool(poller.poll(max(0, int(timeout * 1000))))
    finally:
        os.close(pidfd)
    # The leader is at most a zombie here (not reaped), so its group id is still ours.
    _killpg(proc.pid)
    proc.wait()
    return done


def parse_result_xml(path, name):
    """Read a Catch2 v2 XML result. Returns dict: found (the TestCase is there), complete
    (its OverallResult was written), success, tags, failures [{kind, type, original,
    expanded, message, file, line, infos}]. Tolerates a file cut short by a crash."""
    res = {"found": False, "complete": False, "success": None, "tags": None, "failures": []}
    try:
        with open(path, "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return res
    if not data.strip():
        return res
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return _parse_partial(data, name, res)
    for tc in root.iter("TestCase"):
        if tc.get("name", "").strip() != name.strip():
            continue
        res["found"] = True
        res["tags"] = _TAG_RE.findall(tc.get("tags", ""))
        infos = []
        for el in tc.iter():
            if el.tag == "Info":
                infos.append((el.text or "").strip())
            elif el.tag == "Expression" and el.get("success") == "false":
                res["failures"].append(_failure("expression", el.get("type"), el.get("filename"),
                                                el.get("line"), infos,
                                                original=_text(el.find("Original")),
                                                expanded=_text(el.find("Expanded")),
                                                message=_nested_message(el)))
                infos = []
            elif el.tag in ("FatalErrorCondition", "Exception", "Failure") and not _inside_expression(tc, el):
                res["failures"].append(_failure(el.tag, None, el.get("filename"), el.get("line"),
                                                infos, message=(el.text or "").strip()))
                infos = []
        overall = tc.find("OverallResult")
        if overall is not None:
            res["complete"] = True
            res["success"] = overall.get("success") == "true"
    return res


def _inside_expression(tc, el):
    for expr in tc.iter("Expression"):
        if el in list(expr):
            return True
    return False


def _nested_message(expr):
    for tag in ("Exception", "FatalErrorCondition", "Failure"):
        child = expr.find(tag)
        if child is not None:
            return "%s: %s" % (tag, (child.text or "").strip())
    return None


def _text(el):
    return (el.text or "").strip() if el is not None else None


def _failure(kind, mtype, file, line, infos, original=None, expanded=None, message=None):
    return {"kind": kind, "type": mtype, "file": file, "line": int(line) if line and line.isdigit() else None,
            "original": original, "expanded": expanded, "message": message, "infos": list(infos)}


_PARTIAL_TC_RE = re.compile(r'<TestCase name="([^"]*)"[^>]*?tags="([^"]*)"')
_PARTIAL_EXPR_RE = re.compile(
    r'<Expression success="false" type="([^"]*)" filename="([^"]*)" line="(\d+)">\s*'
    r'<Original>\s*(.*?)\s*</Original>\s*<Expanded>\s*(.*?)\s*</Expanded>', re.S)
_PARTIAL_OTHER_RE = re.compile(
    r'<(FatalErrorCondition|Exception|Failure) filename="([^"]*)" line="(\d+)">\s*(.*?)\s*</\1>', re.S)


def _parse_partial(data, name, res):
    """Best effort on XML cut short (the process died before Catch2 closed it)."""
    m = _PARTIAL_TC_RE.search(data)
    if m and html.unescape(m.group(1)).strip() == name.strip():
        res["found"] = True
        res["tags"] = _TAG_RE.findall(html.unescape(m.group(2)))
    for m in _PARTIAL_EXPR_RE.finditer(data):
        res["failures"].append(_failure("expression", m.group(1), html.unescape(m.group(2)), m.group(3), [],
                                        original=html.unescape(m.group(4)),
                                        expanded=html.unescape(m.group(5))))
    for m in _PARTIAL_OTHER_RE.finditer(data):
        res["failures"].append(_failure(m.group(1), None, html.unescape(m.group(2)), m.group(3), [],
                                        message=html.unescape(m.group(4))))
    return res


def describe_failure(f):
    """One line for a Catch2 failure: the check, its expansion, where."""
    where = " at %s:%s" % (f["file"], f["line"]) if f.get("file") else ""
    if f["kind"] == "expression":
        text = "%s( %s ) with expansion: %s" % (f["type"], f["original"], f["expanded"])
        if f.get("message"):
            text += " (%s)" % f["message"]
    elif f["kind"] == "FatalErrorCondition":
        text = "fatal error condition: %s" % f["message"]
    elif f["kind"] == "Exception":
        text = "unexpected exception: %s" % f["message"]
    else:
        text = "FAIL: %s" % f["message"]
    if f.get("infos"):
        text += " [with: %s]" % "; ".join(i for i in f["infos"] if i)
    return " ".join((text + where).split())


def read_stderr(path):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - _STDERR_READ))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def stderr_tail(err, n=12):
    lines = [ln.rstrip()[:300] for ln in err.splitlines() if ln.strip()]
    return lines[-n:]


def sanitizer_report(err):
    """(headline, first user frame, summary) of a sanitizer report in stderr, or None."""
    m = _SAN_HEADLINE_RE.search(err)
    s = _SAN_SUMMARY_RE.search(err)
    if not m and not s:
        return None
    headline = m.group(1).strip() if m else s.group(0).strip()
    headline = _SAN_REGS_RE.sub("", headline)
    frame = None
    for ln in err[m.end():].splitlines() if m else []:
        fm = _FRAME_RE.match(ln)
        if fm and not any(h in ln for h in _SAN_FRAME_HINTS):
            frame = fm.group(1).strip()
            break
    return headline, frame, (s.group(0).strip() if s else None)


_ANY_FRAME_RE = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ (?:in (\S+) ?)?(.*)$")


def sanitizer_frames(err):
    """Every stack frame of the first sanitizer report in stderr (the access, the
    allocation and the free stacks alike) as (function, location) pairs, where
    location is "file:line[:col]" or "(module+0xoffset)"."""
    m = _SAN_HEADLINE_RE.search(err)
    if not m:
        return []
    frames = []
    for ln in err[m.start():].splitlines():
        if _SAN_SUMMARY_RE.search(ln):
            break
        fm = _ANY_FRAME_RE.match(ln)
        if fm:
            frames.append(((fm.group(1) or "").strip(), fm.group(2).strip()))
    return frames


def sanitizer_location(err):
    """file:line of the first frame outside the sanitizer runtime, or None."""
    for func, loc in sanitizer_frames(err):
        if any(h in func or h in loc for h in _SAN_FRAME_HINTS):
            continue
        if loc and not loc.startswith("("):
            return loc
    return None
