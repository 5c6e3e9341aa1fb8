"""One test process's outcome as an ordered list of failures (tools/RESULTS.md, 1-2).

Reads the result file (CPK_RESULT_FILE, JSON lines), the Catch2 XML, stderr and
the exit status. The failures are the `violation` records in `seq` order, then at
most one anomaly the records do not explain. No requirement is decided here:
verdict.py attributes each failure.
"""

import json
import os
import re
import signal

from . import catch2

# A path in the kit's own code (not the self-test's implementations).
_KIT_PATH_RE = re.compile(r"(^|/)(conformance|property_tests|tools)/")
_SELFTEST_IMPL_RE = re.compile(r"(^|/)conformance/selftest/impls/")
# The interposer's wrappers only pass calls on: a report whose kit frames are all
# theirs (a leak allocated through the malloc wrapper, its caller's frame cut
# off) says nothing against the kit.
_PASS_THROUGH_RE = re.compile(r"(^|/)conformance/harness/interpose_(alloc|sys)\.cpp")
_FAILURE_FIELDS = ("check", "expanded", "message", "info", "file", "line", "trace", "replay")


def read_records(path):
    """The records of a result file in seq order; a line cut short by a crash is
    skipped. Returns (records, found)."""
    try:
        with open(path, "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return [], False
    records = []
    for line in data.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "type" in rec:
            records.append(rec)
    records.sort(key=lambda r: r.get("seq", 0))
    return records, True


def _failure(kind, phase, requirement=None, **fields):
    f = {"requirement": requirement, "kind": kind, "phase": phase}
    for k in _FAILURE_FIELDS:
        f[k] = fields.get(k, 0 if k == "line" else "")
    f["signal"] = fields.get("signal")
    return f


def _from_record(rec):
    return _failure(rec.get("kind") or "check", rec.get("phase") or "body", rec.get("requirement"),
                    **{k: rec.get(k) if rec.get(k) is not None else (0 if k == "line" else "")
                       for k in _FAILURE_FIELDS})


def _from_xml(x):
    """A failure the XML holds but the result file does not (a binary without the
    kit's listener): it names no requirement."""
    kind = {"Exception": "exception", "FatalErrorCondition": "fatal"}.get(x["kind"], "check")
    return _failure(kind, "body", None,
                    check="%s( %s )" % (x["type"], x["original"]) if x["kind"] == "expression" else "",
                    expanded=x.get("expanded") or "", message=x.get("message") or "",
                    info="\n".join(i for i in x.get("infos") or [] if i),
                    file=x.get("file") or "", line=x.get("line") or 0)


def _is_impl_frame(func, loc, impl_paths):
    if func.startswith("completion_port_"):
        return True
    path = loc[1:].split("+")[0] if loc.startswith("(") else loc.split(":")[0]
    if not path:
        return False
    if _SELFTEST_IMPL_RE.search(path) or re.search(r"(^|/)reference/src/", path):
        return True
    full = os.path.normpath(os.path.abspath(path))
    return any(full == p or full.endswith("/" + os.path.basename(p)) and path.endswith(os.path.basename(p))
               for p in impl_paths)


def kit_fault(err, impl_paths):
    """The location of a sanitizer report that lies in the kit's own code with no
    frame of the implementation anywhere in the report (rule 4), or None."""
    frames = catch2.sanitizer_frames(err)
    if not frames or any(_is_impl_frame(f, loc, impl_paths) for f, loc in frames):
        return None
    kit = [loc for _, loc in frames if _KIT_PATH_RE.search(loc.split(":")[0])]
    if kit and all(_PASS_THROUGH_RE.search(loc.split(":")[0]) for loc in kit):
        return None
    loc = catch2.sanitizer_location(err)
    if loc and _KIT_PATH_RE.search(loc.split(":")[0]):
        return loc
    return None


def _split_location(loc):
    parts = (loc or "").split(":")
    line = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return parts[0], line


_ACCESS_THREAD_RE = re.compile(r"^(?:READ|WRITE) of size \d+ at 0x[0-9a-f]+ thread (T\d+)", re.M)
_FREED_RE = re.compile(r"^freed by thread (T\d+) here:\n((?:\s+#\d+ .*\n?)+)", re.M)


def freed_by_final_dec_ref(err):
    """True when a sanitizer report is a use, on one thread, of memory another thread
    freed inside completion_port_dec_ref: the port was freed while its worker still ran
    (section 2, rule 3)."""
    access, freed = _ACCESS_THREAD_RE.search(err or ""), _FREED_RE.search(err or "")
    return bool(access and freed and access.group(1) != freed.group(1)
                and "completion_port_dec_ref" in freed.group(2))


# ThreadSanitizer (SANITIZE=thread) writes its own format: a WARNING headline, sections
# ("  Read of size 1 at ... by thread T2:") of frames "    #0 func file:line (module+0x..)",
# and a SUMMARY line. Kinds about threads racing count against thread safety.
_TSAN_HEADLINE_RE = re.compile(r"^WARNING: ThreadSanitizer: (.*?)(?: \(pid=\d+\))?\s*$", re.M)
_TSAN_SUMMARY_RE = re.compile(r"^SUMMARY: ThreadSanitizer: .*$", re.M)
_TSAN_SECTION_RE = re.compile(r"^  (\S.*?):?\s*$")
_TSAN_FRAME_RE = re.compile(r"^\s+#(\d+) (.*) (\S+) \(([^()]*)\)\s*$")
_TSAN_MODULE_RE = re.compile(r"libtsan|libsanitizer|sanitizer_common")
TSAN_THREADING_KINDS = ("data race", "lock-order-inversion")


def tsan_report(err):
    """The first ThreadSanitizer report in stderr as {"kind", "summary", "sections":
    [(title, [(function, "file:line")])]}, or None. A section is one stack: the access,
    the previous access, the location, a mutex or a thread's creation."""
    m = _TSAN_HEADLINE_RE.search(err or "")
    if not m:
        return None
    s = _TSAN_SUMMARY_RE.search(err, m.end())
    body = err[m.end():s.start() if s else len(err)]
    sections = []
    for ln in body.splitlines():
        fm = _TSAN_FRAME_RE.match(ln)
        if fm and sections:
            sections[-1][1].append((fm.group(2).strip(), fm.group(3)))
            continue
        sm = _TSAN_SECTION_RE.match(ln)
        if sm and not ln.startswith("   "):
            sections.append((sm.group(1), []))
    return {"kind": m.group(1).strip(), "summary": s.group(0).strip() if s else "", "sections": sections}


def _tsan_user_frames(frames):
    return [(f, loc) for f, loc in frames if not _TSAN_MODULE_RE.search(loc)]


def tsan_failure_fields(rep, impl_paths):
    """(message, file, line, kit_location) of a ThreadSanitizer report. The message
    names the kind, then gives the two access stacks (a race's current and previous
    access) in full and the other sections' titles. file:line is the first frame of the
    implementation in those stacks; kit_location is set instead when no frame of the
    implementation appears anywhere and the first user frame is in the kit (rule 4)."""
    stacks = rep["sections"][:2]
    summary = rep["summary"][len("SUMMARY: "):] if rep["summary"] else ""
    lines = [summary or "ThreadSanitizer: %s" % rep["kind"]]
    for title, frames in stacks:
        lines.append("%s:" % title)
        lines += ["  #%d %s %s" % (i, f, loc) for i, (f, loc) in enumerate(frames)]
    lines += [title for title, _ in rep["sections"][2:]]
    every = [fr for _, frames in rep["sections"] for fr in frames]
    impl = [loc for _, frames in stacks for f, loc in frames if _is_impl_frame(f, loc, impl_paths)]
    file, line = _split_location(impl[0]) if impl else ("", 0)
    kit = None
    if not any(_is_impl_frame(f, loc, impl_paths) for f, loc in every):
        user = _tsan_user_frames(fr for _, frames in stacks for fr in frames)
        if user and _KIT_PATH_RE.search(user[0][1].split(":")[0]):
            kit = user[0][1]
    return "sanitizer: " + "\n".join(lines), file, line, kit


def _sigpipe(rc, err):
    # The property tests' handler says so and exits 128+SIGPIPE (pt_runner.cpp).
    return rc == -signal.SIGPIPE or (rc == 128 + signal.SIGPIPE and "SIGPIPE" in err)


def read(outcome, name, impl_paths=()):
    """Judge one test process. outcome: catch2.Runner.run's dict. Returns
    {"failures": [...], "kit_errors": [...], "phase", "records": bool, "exit_status",
    "timed_out", "end_passed"}; the test passed iff both lists are empty."""
    records, found = read_records(outcome["result"])
    xml = catch2.parse_result_xml(outcome["xml"], name)
    err = catch2.read_stderr(outcome["stderr"])
    rc, timed_out = outcome["returncode"], outcome["timed_out"]
    impl_paths = [os.path.normpath(os.path.abspath(p)) for p in impl_paths]

    running = [r for r in records if r["type"] == "running"]
    running = running[-1] if running and running[-1].get("requirement") else None
    phases = [r.get("phase") for r in records if r["type"] == "phase" and r.get("phase")]
    phase = phases[-1] if phases else ("body" if (not found and xml["found"]) else "setup")
    # Catch2's signal handler records a crash as a `fatal` violation naming no
    # requirement: it is the crash anomaly, attributed by its phase.
    fatal = [r for r in records if r["type"] == "violation" and r.get("kind") == "fatal"
             and not r.get("requirement")]
    failures = [_from_record(r) for r in records if r["type"] == "violation" and r not in fatal]
    kit_errors = [{"message": " ".join(x for x in (r.get("check"), r.get("expanded"), r.get("message")) if x),
                   "file": r.get("file") or "", "line": r.get("line") or 0}
                  for r in records if r["type"] == "kit_error"]
    if not failures and not kit_errors and xml["failures"] and not any(r["type"] == "start" for r in records):
        failures = [_from_xml(x) for x in xml["failures"]]
    ended = [r for r in records if r["type"] == "end"]
    end_passed = ended[-1].get("passed") if ended else None

    tail = catch2.stderr_tail(err, 6)
    tail_text = " | stderr: " + " / ".join(tail[-3:]) if tail else ""
    tsan = tsan_report(err) if (rc != 0 or timed_out) else None
    san = catch2.sanitizer_report(err) if (rc != 0 or timed_out) and not tsan else None
    anomaly = None
    if timed_out:
        anomaly = _failure("timeout", phase, message="timeout: no result after %g s in phase %s; "
                           "process group killed%s" % (outcome.get("timeout") or 0, phase, tail_text))
    elif _sigpipe(rc, err):
        anomaly = _failure("crash", phase, signal="SIGPIPE",
                           message="killed by SIGPIPE (a send without MSG_NOSIGNAL)")
    elif tsan:
        message, file, line, kit = tsan_failure_fields(tsan, impl_paths)
        if kit:
            file, line = _split_location(kit)
            kit_errors.append({"message": "ThreadSanitizer report in the kit's own code: %s" % tsan["kind"],
                               "file": file, "line": line})
        else:
            anomaly = _failure("sanitizer", phase, message=message, file=file, line=line)
            if tsan["kind"].startswith(TSAN_THREADING_KINDS):
                anomaly["data_race"] = True
    elif san:
        headline, frame, summary = san
        fault = kit_fault(err, impl_paths)
        if fault:
            file, line = _split_location(fault)
            kit_errors.append({"message": "sanitizer report in the kit's own code: %s" % headline,
                               "file": file, "line": line})
        else:
            file, line = _split_location(catch2.sanitizer_location(err))
            text = headline + (" in " + frame if frame else "")
            if summary and summary not in headline:
                text += " (%s)" % summary
            kind = "leak" if "LeakSanitizer" in headline or "detected memory leaks" in headline else "sanitizer"
            anomaly = _failure(kind, phase, message="sanitizer: " + text, file=file, line=line)
            if kind == "sanitizer" and freed_by_final_dec_ref(err):
                anomaly["freed_by_dec_ref"] = True
    elif rc is not None and rc < 0:
        sig = catch2.signal_name(-rc)
        kind = "abort" if -rc == signal.SIGABRT else "crash"
        anomaly = _failure(kind, phase, signal=sig, message="killed by %s%s" % (sig, tail_text))
    elif rc and not failures and not kit_errors:
        anomaly = _failure("exit", phase, message="exit status %d without a failed check%s" % (rc, tail_text))
    elif rc == 0 and not failures and not kit_errors and (not ended or end_passed is False):
        if not found and xml["complete"] and xml["success"]:
            pass  # a binary without the kit's listener: the XML says it passed
        else:
            why = ("no result file" if not found else "the test never ended" if not ended
                   else "the test ended failed without a failure record")
            anomaly = _failure("no-result", phase, message="missing result: exit status 0 but %s%s"
                               % (why, tail_text))
    if fatal:
        f0 = fatal[0]
        text = f0.get("message") or "fatal error condition"
        if anomaly is None or anomaly["kind"] in ("exit", "no-result"):
            anomaly = _failure("abort" if "SIGABRT" in text else "crash", f0.get("phase") or phase,
                               message=text + tail_text,
                               file=f0.get("file") or "", line=f0.get("line") or 0)
        else:
            anomaly["phase"] = f0.get("phase") or anomaly["phase"]
            anomaly["message"] += " (Catch2: %s)" % text
    if anomaly and running and anomaly.get("signal") != "SIGPIPE":
        # The case of one requirement (a table's row) was running: the anomaly is its.
        anomaly["running"] = running["requirement"]
        anomaly["message"] += " (while running: %s)" % (running.get("what") or running["requirement"])
    if anomaly:
        failures.append(anomaly)
    return {"failures": failures, "kit_errors": kit_errors, "phase": phase, "records": found,
            "exit_status": rc, "timed_out": timed_out, "end_passed": end_passed,
            "stderr_tail": tail}
