#!/usr/bin/env python3
"""Views of the bench's results: report.md (also printed) and bench.png.

    bench/report.py DIR           read DIR/echo.json, teardown.json, scaling.json
    bench/report.py --check DIR   the same, after checking the files' shape
                                  (exit 1 on a missing or malformed field)
"""
import json
import os
import shutil
import subprocess
import sys

ECHO_KEYS = ["server", "P", "M", "rtps", "spread", "vs_floor", "vs_raw",
             "cpu_us_per_rt", "syscalls_per_rt", "allocs_per_rt"]
COMPARED = ["floor", "raw-epoll", "libuv", "libevent"]
TEARDOWN_KEYS = ["server", "cycles", "idle_ms", "create_median_us", "decref_median_us", "decref_max_us"]
LEVEL_KEYS = ["requested", "pending", "add_complete_ns", "add_remove_ns"]


def load(directory, name):
    with open(os.path.join(directory, name)) as f:
        return json.load(f)


def number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check(echo, teardown, scaling):
    """Every field present and of its type; every server at every P and M."""
    problems = []
    rows = echo.get("rows")
    if not isinstance(rows, list) or not rows:
        return ["echo.json: no rows"]
    impl = echo.get("meta", {}).get("impl")
    for i, row in enumerate(rows):
        for key in ECHO_KEYS:
            if key not in row:
                problems.append("echo.json row %d: no %s" % (i, key))
            elif key == "server":
                if not isinstance(row[key], str) or not row[key]:
                    problems.append("echo.json row %d: server is not a name" % i)
            elif key == "syscalls_per_rt":
                if row[key] is not None and not number(row[key]):
                    problems.append("echo.json row %d: syscalls_per_rt is neither a number nor null" % i)
            elif not number(row[key]):
                problems.append("echo.json row %d: %s is not a number" % (i, key))
        if number(row.get("rtps")) and row["rtps"] <= 0:
            problems.append("echo.json row %d: no round trip" % i)
        if number(row.get("allocs_per_rt")) and row["allocs_per_rt"] < 0:
            problems.append("echo.json row %d: negative allocations" % i)
    servers = {r.get("server") for r in rows}
    for name in [impl] + COMPARED:
        if name not in servers:
            problems.append("echo.json: no rows for server %s" % name)
    grid = {(r.get("P"), r.get("M")) for r in rows}
    for p, m in grid:
        have = {r.get("server") for r in rows if (r.get("P"), r.get("M")) == (p, m)}
        if have != servers:
            problems.append("echo.json: P=%s M=%s lacks %s" % (p, m, sorted(servers - have)))
    for key in TEARDOWN_KEYS:
        if key not in teardown:
            problems.append("teardown.json: no %s" % key)
        elif key != "server" and not number(teardown[key]):
            problems.append("teardown.json: %s is not a number" % key)
    if len(teardown.get("decref_us", [])) != teardown.get("cycles"):
        problems.append("teardown.json: decref_us does not hold one time per cycle")
    levels = scaling.get("levels")
    if not isinstance(levels, list) or not levels:
        problems.append("scaling.json: no levels")
    for i, level in enumerate(levels or []):
        for key in LEVEL_KEYS:
            if not number(level.get(key)):
                problems.append("scaling.json level %d: %s is not a number" % (i, key))
        if number(level.get("pending")) and number(level.get("requested")) and level["pending"] > level["requested"]:
            problems.append("scaling.json level %d: more pending ops than requested" % i)
    for key in ("server", "fd_limit", "note"):
        if key not in scaling:
            problems.append("scaling.json: no %s" % key)
    return problems


def fmt(value, pattern):
    return "n/a" if value is None else pattern % value


def server_order(rows, impl):
    names = [impl] + [s for s in COMPARED if s != impl]
    return names + sorted({r["server"] for r in rows} - set(names))


def markdown(echo, teardown, scaling):
    meta = echo.get("meta", {})
    impl = meta.get("impl", "?")
    rows = echo["rows"]
    out = ["# cpkit bench: %s" % impl, ""]
    out.append("Echo: one client thread, P non-blocking AF_UNIX socketpairs, M-byte messages, "
               "each round a message on every pair and a wait for every echo (bytes checked). "
               "Round trips/s: median over %s repetitions of each run's median %s ms slice; "
               "servers interleaved, order rotated every repetition; ratios pair runs of the same "
               "repetition; spread = interquartile range / median of the repetitions. "
               "Client and server threads %s (%s CPUs). CPU us: the server threads' CPU time per "
               "round trip. Syscalls per round trip: %s, server threads only. Allocations: %s, "
               "server threads only. The machine may be shared: figures are rough."
               % (meta.get("repetitions"), meta.get("slice_ms"),
                  {"split": "pinned to two CPUs", "same": "pinned to one CPU"}.get(meta.get("pinned"), "not pinned"),
                  meta.get("cpus"), meta.get("syscall_counting"), meta.get("alloc_counting")))
    out.append("")
    out.append("| server | P | M | round trips/s | spread | vs floor | vs raw epoll | CPU us/rt | syscalls/rt | allocs/rt |")
    out.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    order = server_order(rows, impl)
    for m in sorted({r["M"] for r in rows}):
        for p in sorted({r["P"] for r in rows}):
            for name in order:
                for r in rows:
                    if (r["server"], r["P"], r["M"]) == (name, p, m):
                        label = "**%s**" % name if name == impl else name
                        out.append("| %s | %d | %d | %.0f | %.0f %% | %.2f | %.2f | %.2f | %s | %s |" % (
                            label, p, m, r["rtps"], 100 * r["spread"], r["vs_floor"], r["vs_raw"],
                            r["cpu_us_per_rt"], fmt(r["syscalls_per_rt"], "%.2f"), fmt(r["allocs_per_rt"], "%.2f")))
    mine = [r for r in rows if r["server"] == impl]
    if mine:
        out.append("")
        out.append("%s: %.2f-%.2f x the conformant floor, %.2f-%.2f x raw epoll, %.2f-%.2f x libuv; "
                   "%s-%s allocations and %s-%s syscalls per round trip (the floor: %s-%s)." % (
                       impl, min(r["vs_floor"] for r in mine), max(r["vs_floor"] for r in mine),
                       min(r["vs_raw"] for r in mine), max(r["vs_raw"] for r in mine),
                       min(r.get("vs_libuv", 0) for r in mine), max(r.get("vs_libuv", 0) for r in mine),
                       fmt(min(r["allocs_per_rt"] for r in mine), "%.2f"),
                       fmt(max(r["allocs_per_rt"] for r in mine), "%.2f"),
                       *span([r["syscalls_per_rt"] for r in mine]),
                       *span([r["syscalls_per_rt"] for r in rows if r["server"] == "floor"])))
    out.append("")
    out.append("## Teardown")
    out.append("")
    out.append("%s: create, idle %d ms, final dec_ref timed, %d times: dec_ref median %.1f us, max %.1f us "
               "(create median %.1f us)." % (teardown["server"], teardown["idle_ms"], teardown["cycles"],
                                              teardown["decref_median_us"], teardown["decref_max_us"],
                                              teardown["create_median_us"]))
    out.append("")
    out.append("## Per-op cost against pending ops")
    out.append("")
    out.append("%s: %d measured ops per round on their own sockets, %d rounds, median of %d interleaved "
               "repetitions%s; the pending ops are %d per descriptor on idle socketpairs. Flat means no walk "
               "over the pending ops per op." % (scaling["server"], scaling.get("active", 0), scaling.get("rounds", 0),
                                                 scaling.get("repetitions", 0),
                                                 ", client and workers on one CPU" if scaling.get("one_cpu") else "",
                                                 scaling.get("ops_per_descriptor", 0)))
    out.append("")
    out.append("Spread: interquartile range / median of the repetitions.")
    out.append("")
    out.append("| pending ops | add + completion ns/op | spread | add + remove ns/op | spread |")
    out.append("|--:|--:|--:|--:|--:|")
    levels = scaling["levels"]
    for level in levels:
        out.append("| %d%s | %.0f | %.0f %% | %.0f | %.0f %% |" % (
            level["pending"], "" if level["pending"] == level["requested"] else " (of %d)" % level["requested"],
            level["add_complete_ns"], 100 * level.get("add_complete_spread", 0),
            level["add_remove_ns"], 100 * level.get("add_remove_spread", 0)))
    if len(levels) > 1:
        first, last = levels[0], levels[-1]
        out.append("")
        out.append("From %d to %d pending ops: add + completion x %.2f, add + remove x %.2f." % (
            first["pending"], last["pending"], last["add_complete_ns"] / first["add_complete_ns"],
            last["add_remove_ns"] / first["add_remove_ns"]))
    if scaling.get("note"):
        out.append("")
        out.append("Note: " + scaling["note"])
    out.append("")
    out.append("![round trips/s against P, per-op cost against pending ops](bench.png)")
    return "\n".join(out) + "\n"


def span(values):
    known = [v for v in values if v is not None]
    if not known:
        return ("n/a", "n/a")
    return ("%.2f" % min(known), "%.2f" % max(known))


def plot(directory, echo, scaling):
    """bench.png with gnuplot: round trips/s against P per server (one panel per
    M) and per-op cost against pending ops. Returns an error text or None."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return "gnuplot is not installed (sh mk/install-deps.sh)"
    rows = echo["rows"]
    impl = echo.get("meta", {}).get("impl", "?")
    order = server_order(rows, impl)
    sizes = sorted({r["M"] for r in rows})
    lines = ["set terminal pngcairo size 1500,480 font 'sans,10'",
             "set output '%s'" % os.path.join(directory, "bench.png").replace("'", "''"),
             "set multiplot layout 1,%d" % (len(sizes) + 1),
             "set logscale x 2", "set key top right", "set grid"]
    for m in sizes:
        blocks = []
        for i, name in enumerate(order):
            points = sorted((r["P"], r["rtps"]) for r in rows if r["server"] == name and r["M"] == m)
            lines.append("$e%d_%d << EOD" % (m, i))
            lines.extend("%d %.0f" % pt for pt in points)
            lines.append("EOD")
            blocks.append("$e%d_%d with linespoints lw 2 title '%s'" % (m, i, name))
        lines += ["set title 'echo, M = %d bytes'" % m, "set xlabel 'socketpairs P'",
                  "set ylabel 'round trips/s'", "set yrange [0:*]", "plot " + ", ".join(blocks)]
    levels = scaling["levels"]
    lines.append("$s << EOD")
    lines.extend("%d %.0f %.0f" % (lv["pending"], lv["add_complete_ns"], lv["add_remove_ns"]) for lv in levels)
    lines.append("EOD")
    lines += ["set logscale x 10", "set title '%s: per-op cost'" % impl, "set xlabel 'pending ops'",
              "set ylabel 'ns per op'", "set yrange [0:*]",
              "plot $s using 1:2 with linespoints lw 2 title 'add + completion', "
              "$s using 1:3 with linespoints lw 2 title 'add + remove'",
              "unset multiplot"]
    script = os.path.join(directory, "bench.gp")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    result = subprocess.run([gnuplot, script], capture_output=True, text=True)
    if result.returncode != 0:
        return "gnuplot failed: " + result.stderr.strip()
    return None


def main(argv):
    strict = len(argv) > 1 and argv[1] == "--check"
    args = argv[2:] if strict else argv[1:]
    if len(args) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    directory = args[0]
    try:
        echo, teardown, scaling = (load(directory, n) for n in ("echo.json", "teardown.json", "scaling.json"))
    except (OSError, ValueError) as e:
        print("bench report: %s" % e, file=sys.stderr)
        return 1
    problems = check(echo, teardown, scaling)
    if problems:
        for p in problems:
            print("bench report: " + p, file=sys.stderr)
        return 1
    text = markdown(echo, teardown, scaling)
    with open(os.path.join(directory, "report.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    error = plot(directory, echo, scaling)
    if error:
        print("bench report: " + error, file=sys.stderr)
        return 1
    png = os.path.join(directory, "bench.png")
    with open(png, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            print("bench report: %s is not a PNG" % png, file=sys.stderr)
            return 1
    print("\nWrote %s/report.md, echo.json, teardown.json, scaling.json, bench.png" % directory)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
