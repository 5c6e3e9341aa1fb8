"""cpkit-validate: validate an implementation of completion_port_linux from any directory.

    cpkit-validate [options] [IMPL...]

IMPL: C/C++ sources, a static archive (.a) or a shared object (.so, .so.N); without
IMPL the kit's reference sources are validated. This command runs `make validate`
of the kit (the same engine, reports and exit statuses); the reports go under the
current directory, the build into ${XDG_CACHE_HOME:-~/.cache}/cpkit/ (installed kit)
or the checkout's build/.

Exit status: 0 conforms, 1 does not conform, 2 the kit could not judge (a missing
dependency, bad arguments, a report directory that belongs to another implementation).
"""

import argparse
import fcntl
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

KIT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Written by `make install`: the kit is read-only, its build goes to the user's cache.
INSTALLED_MARKER = ".cpkit-installed"
# Written into every report directory this command uses: whose reports these are.
OWNER_FILE = ".cpkit-impl"
# Flags whose argument is a path (attached, -Ifoo, or separate, -I foo).
_PATH_FLAGS = ("-I", "-iquote", "-isystem", "-idirafter", "-include", "-imacros", "-L")
_MAKE_VAR_RE = re.compile(r"^[A-Z][A-Z0-9_]*=")


class Refused(Exception):
    """Exit 2 before make runs."""


def kit_version():
    try:
        with open(os.path.join(KIT, "VERSION"), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def short_hash(*parts):
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:10]


def impl_name(path):
    """libfoo.so.1 -> libfoo, x.c -> x, libx.a -> libx."""
    base = re.sub(r"\.so(\.[0-9]+)*$", "", os.path.basename(path))
    return os.path.splitext(base)[0] or base


def absolute_flags(text):
    """Relative paths in compiler/linker flags made absolute: make runs in the kit's
    directory, the user wrote them relative to the current one."""
    out, words = [], shlex.split(text)
    i = 0
    while i < len(words):
        w = words[i]
        flag = next((f for f in _PATH_FLAGS if w.startswith(f)), None)
        if flag and w == flag and i + 1 < len(words):
            out += [w, os.path.abspath(words[i + 1])]
            i += 2
            continue
        if flag and len(w) > len(flag) and (flag != "-I" or not w.startswith("-include")):
            out.append(flag + os.path.abspath(w[len(flag):]))
        elif not w.startswith("-") and (os.sep in w or os.path.exists(w)):
            out.append(os.path.abspath(w))  # an object or archive named by path
        else:
            out.append(w)
        i += 1
    return " ".join(shlex.quote(w) for w in out)


def owner_of(report_dir):
    """The absolute IMPL files whose report report_dir holds: [] when it is free,
    None when it holds something else (files that are no report of this command)."""
    try:
        entries = os.listdir(report_dir)
    except FileNotFoundError:
        return []
    if not entries:
        return []
    try:
        with open(os.path.join(report_dir, OWNER_FILE), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def choose_report_dir(files, name, explicit):
    """(report_dir, name). The default ./cpkit-report/NAME moves to NAME-HASH when it
    holds another implementation's report; an explicit directory is never taken over."""
    if explicit:
        d = os.path.abspath(explicit)
        owner = owner_of(d)
        if owner not in ([], files):
            raise Refused("--report-dir %s holds %s; remove it or choose another directory" % (
                d, "the report of " + " ".join(owner) if owner else "files that are not a cpkit-validate report"))
        return d, name
    base = os.path.abspath("cpkit-report")
    for candidate in (name, "%s-%s" % (name, short_hash(*files))):
        d = os.path.join(base, candidate)
        if owner_of(d) in ([], files):
            return d, candidate
    raise Refused("%s and %s hold other implementations' reports; pass --report-dir" % (
        os.path.join(base, name), d))


def installed():
    return os.path.exists(os.path.join(KIT, INSTALLED_MARKER))


def cache_build_dir():
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "cpkit", "%s-%s" % (kit_version(), short_hash(os.path.realpath(KIT))))


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="cpkit-validate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("impl", nargs="*", metavar="IMPL", help="sources, a .a or a .so (default: the reference)")
    ap.add_argument("--cflags", default="", help="extra flags for compiling IMPL sources; they come "
                    "before the kit's include/, so your macro_utils and umock_c headers win")
    ap.add_argument("--ldlibs", default="", help="extra libraries and linker flags")
    ap.add_argument("--report-dir", help="where the reports go (default ./cpkit-report/NAME)")
    ap.add_argument("--name", help="the implementation's name in the reports (default: from the first IMPL)")
    ap.add_argument("--only", default="", help='only the tests citing these requirements: "CPL_RECV_* CPL_ADD_005"')
    ap.add_argument("--rerun-failed", action="store_true", help="only the tests that failed in the last report")
    ap.add_argument("--repeat", type=int, metavar="N", help="rerun each failing test N more times")
    ap.add_argument("--sanitize", choices=("address", "thread"), default="address",
                    help="sources are built with ASan+UBSan (address, the default) or ThreadSanitizer (thread)")
    ap.add_argument("--strict", action="store_true", help="recommended requirements count for the verdict too")
    ap.add_argument("--jobs", type=int, metavar="N", help="tests run in parallel (default: the cores)")
    ap.add_argument("--timeout", type=float, metavar="S", help="seconds per test (default 30)")
    ap.add_argument("--version", action="version", version="cpkit-validate %s" % kit_version())
    args = ap.parse_args(argv)
    if (args.jobs is not None and args.jobs < 1) or (args.timeout is not None and args.timeout <= 0) or \
            (args.repeat is not None and args.repeat < 0):
        ap.error("--jobs must be >= 1, --timeout > 0, --repeat >= 0")
    return args


def make_env():
    """The caller's environment without a parent make's flags and jobserver."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GNUMAKEFLAGS"):
        env.pop(k, None)
    return env


def run_make(variables, env=None):
    """`make validate` in the kit; the engine's own 0/1/2 (make exits 2 on any failure)."""
    fd, status_file = tempfile.mkstemp(prefix="cpkit-status.")
    os.close(fd)
    try:
        argv = ["make", "-C", KIT, "--no-print-directory", "validate", "CPKIT_STATUS_FILE=" + status_file]
        argv += ["%s=%s" % kv for kv in variables]
        try:
            made = subprocess.call(argv, env=make_env() if env is None else env)
        except OSError as e:
            print("cpkit-validate: cannot run make: %s; to fix: sudo apt-get install make" % e, file=sys.stderr)
            return 2
        with open(status_file, encoding="utf-8") as f:
            status = f.read().strip()
    finally:
        os.unlink(status_file)
    if status in ("0", "1", "2"):
        return int(status)
    # The engine never ran (make failed before it): the kit could not judge.
    return 0 if made == 0 else 2


def legacy(argv):
    """The checkout's own form, make variables only: `make validate VAR=...` in the kit,
    with the caller's make flags (a `make check BUILD=...` reaches it)."""
    return run_make([tuple(a.split("=", 1)) for a in argv], env=dict(os.environ))


def validate(args):
    files = [os.path.abspath(f) for f in args.impl]
    spaced = [f for f in files if re.search(r"\s", f)]
    if spaced:
        raise Refused("make cannot take file names with spaces: %s" % " ".join(spaced))
    name = args.name or (impl_name(files[0]) if files else "reference")
    if not re.match(r"^[A-Za-z0-9_.+-]+$", name):
        raise Refused("--name %r: use letters, digits and _.+-" % name)
    report_dir, name = choose_report_dir(files, name, args.report_dir)
    build = cache_build_dir() if installed() else os.path.join(KIT, "build")
    os.makedirs(build, exist_ok=True)
    os.makedirs(report_dir, exist_ok=True)
    with open(os.path.join(report_dir, OWNER_FILE), "w", encoding="utf-8") as f:
        json.dump(files, f)
        f.write("\n")
    variables = [
        ("BUILD", build), ("IMPL", " ".join(files)),
        ("IMPL_CFLAGS", absolute_flags(args.cflags)), ("IMPL_LDLIBS", absolute_flags(args.ldlibs)),
        ("VALIDATE_NAME", name), ("REPORT_DIR", report_dir),
        # Objects and binaries per implementation: same-named ones never share them.
        ("VALIDATE_DIR", os.path.join(build, "validate", "cmd-%s-%s%s" % (
            name, short_hash(*files), "-tsan" if args.sanitize == "thread" else ""))),
        ("SANITIZE", args.sanitize), ("ONLY", args.only), ("STRICT", "1" if args.strict else ""),
        ("RERUN_FAILED", "1" if args.rerun_failed else ""),
    ]
    for var, value in (("VALIDATE_JOBS", args.jobs), ("VALIDATE_TIMEOUT", args.timeout),
                       ("VALIDATE_REPEAT", args.repeat)):
        if value is not None:
            variables.append((var, "%g" % value))
    # One validation at a time per build directory: they share the kit's objects.
    with open(os.path.join(build, ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("cpkit-validate: waiting for another validation using %s" % build, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        print("cpkit-validate %s: %s -> %s" % (kit_version(), " ".join(files) or "the reference", report_dir),
              flush=True)
        return run_make(variables)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # In a checkout, make variables alone (or nothing) keep the older form.
    if not installed() and all(_MAKE_VAR_RE.match(a) for a in argv):
        return legacy(argv)
    args = parse_args(argv)
    try:
        return validate(args)
    except Refused as e:
        print("cpkit-validate: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:
        print("cpkit-validate: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
