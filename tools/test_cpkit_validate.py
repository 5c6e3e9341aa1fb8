#!/usr/bin/env python3
"""Self-test of cpkit-validate's own logic (tools/cpkit/command.py) and of the kit's
stand-in headers (unittest, standard library only). Run by `make cpkit-validate-check`;
the installed command itself is exercised by `make install-check`."""

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)
from cpkit import command  # noqa: E402

CC = os.environ.get("CC", "gcc")
CPAL_FIXTURE = os.path.join(ROOT, "tools", "fixtures", "cpal_style", "completion_port_cpal.c")


class Scratch(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cpkit-validate-test.")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.old_cwd = os.getcwd()
        os.chdir(self.dir)
        self.addCleanup(os.chdir, self.old_cwd)

    def own(self, report_dir, files):
        os.makedirs(report_dir, exist_ok=True)
        with open(os.path.join(report_dir, command.OWNER_FILE), "w", encoding="utf-8") as f:
            json.dump(files, f)


class Names(unittest.TestCase):
    def test_name_from_the_file(self):
        self.assertEqual(command.impl_name("/a/completion_port_linux.c"), "completion_port_linux")
        self.assertEqual(command.impl_name("lib/libcompletion_port.so.1"), "libcompletion_port")
        self.assertEqual(command.impl_name("libcompletion_port.so"), "libcompletion_port")
        self.assertEqual(command.impl_name("x/libcp.a"), "libcp")

    def test_relative_paths_in_flags_become_absolute(self):
        here = os.getcwd()
        got = command.absolute_flags("-Iinc -I ../up -isystem sys -DX=1 -include cfg.h -L lib -lfoo -Wl,-z,now")
        want = "-I{0}/inc -I {1}/up -isystem {0}/sys -DX=1 -include {0}/cfg.h -L {0}/lib -lfoo -Wl,-z,now".format(
            here, os.path.dirname(here))
        self.assertEqual(got, want)
        self.assertEqual(command.absolute_flags("-I/abs/inc -O2"), "-I/abs/inc -O2")


class ReportDirs(Scratch):
    def test_free_default_directory_is_named_after_the_file(self):
        d, name = command.choose_report_dir(["/x/impl.c"], "impl", None)
        self.assertEqual((d, name), (os.path.join(self.dir, "cpkit-report", "impl"), "impl"))

    def test_the_same_implementation_reuses_its_directory(self):
        self.own(os.path.join("cpkit-report", "impl"), ["/x/impl.c"])
        d, name = command.choose_report_dir(["/x/impl.c"], "impl", None)
        self.assertEqual(name, "impl")

    def test_another_implementation_with_the_same_basename_gets_a_hashed_name(self):
        self.own(os.path.join("cpkit-report", "impl"), ["/x/impl.c"])
        d, name = command.choose_report_dir(["/y/impl.c"], "impl", None)
        self.assertEqual(name, "impl-" + command.short_hash("/y/impl.c"))
        self.assertEqual(d, os.path.join(self.dir, "cpkit-report", name))
        # ... and keeps it on the next run; the first one keeps its own.
        self.own(d, ["/y/impl.c"])
        self.assertEqual(command.choose_report_dir(["/y/impl.c"], "impl", None)[1], name)
        self.assertEqual(command.choose_report_dir(["/x/impl.c"], "impl", None)[1], "impl")

    def test_an_explicit_directory_of_another_implementation_is_refused(self):
        self.own("mine", ["/x/impl.c"])
        with self.assertRaises(command.Refused) as e:
            command.choose_report_dir(["/y/impl.c"], "impl", "mine")
        self.assertIn("/x/impl.c", str(e.exception))

    def test_an_explicit_directory_holding_other_files_is_refused(self):
        os.makedirs("notes")
        with open(os.path.join("notes", "todo.txt"), "w") as f:
            f.write("x\n")
        with self.assertRaises(command.Refused):
            command.choose_report_dir(["/y/impl.c"], "impl", "notes")

    def test_refusal_is_exit_2_before_make_runs(self):
        self.own("mine", ["/x/impl.c"])
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status = command.main(["--report-dir", "mine", "/y/impl.c"])
        self.assertEqual(status, 2)
        self.assertIn("remove it or choose another directory", err.getvalue())
        self.assertFalse(os.path.exists(os.path.join("mine", "report.json")))


class Options(unittest.TestCase):
    def test_version_is_the_kits(self):
        with open(os.path.join(ROOT, "VERSION"), encoding="utf-8") as f:
            version = f.read().strip()
        out = io.StringIO()
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit) as e:
            command.main(["--version"])
        self.assertEqual((e.exception.code, out.getvalue().strip()), (0, "cpkit-validate " + version))

    def test_bad_arguments_exit_2(self):
        for argv in (["--jobs", "0", "x.c"], ["--timeout", "-1", "x.c"], ["--no-such-option"]):
            with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as e:
                command.main(argv)
            self.assertEqual(e.exception.code, 2, argv)

    def test_help_names_every_option(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit):
            command.main(["--help"])
        for opt in ("--cflags", "--ldlibs", "--report-dir", "--only", "--strict", "--sanitize", "--jobs", "--timeout",
                    "--version", "Exit status"):
            self.assertIn(opt, out.getvalue())


class StandIns(Scratch):
    PROGRAM = r'''
#include <stdio.h>
#include <string.h>
#include "macro_utils/macro_utils.h"
#include "umock_c/umock_c_prod.h"
#include "c_pal/completion_port_linux.h"
MU_DEFINE_ENUM_STRINGS(COMPLETION_PORT_EPOLL_ACTION, COMPLETION_PORT_EPOLL_ACTION_VALUES)
MOCKABLE_FUNCTION_WITH_RETURNS(, int, twice, int, x)(0, MU_FAILURE);
IMPLEMENT_MOCKABLE_FUNCTION(, int, twice, int, x) { return 2 * x; }
int main(void)
{
    const char* none = NULL;
    int items[3];
    printf("%" PRI_MU_ENUM "|%" PRI_BOOL "|%s|%d|%d|%s\n",
        MU_ENUM_VALUE(COMPLETION_PORT_EPOLL_ACTION, COMPLETION_PORT_EPOLL_EPOLLIN), MU_BOOL_VALUE(1 == 1),
        MU_P_OR_NULL(none), twice(21), (int)MU_COUNT_ARRAY_ITEMS(items),
        MU_ENUM_TO_STRING(COMPLETION_PORT_EPOLL_ACTION, COMPLETION_PORT_CLOSING));
    return 0;
}
'''

    def cc(self, args):
        p = subprocess.run([CC] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_macros_mean_what_macro_utils_means(self):
        with open("prog.c", "w") as f:
            f.write(self.PROGRAM)
        self.cc(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I" + os.path.join(ROOT, "include"),
                 "prog.c", "-o", "prog"])
        out = subprocess.run(["./prog"], stdout=subprocess.PIPE, text=True, check=True).stdout
        self.assertEqual(out, "COMPLETION_PORT_EPOLL_EPOLLIN (2)|true (1)|NULL|42|3|COMPLETION_PORT_CLOSING\n")

    def test_the_cpal_style_implementation_builds_with_the_stand_ins(self):
        # The flags validate uses for C sources (mk/impl.mk), plus -pedantic.
        self.cc(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-pthread",
                 "-I" + os.path.join(ROOT, "include"), "-c", CPAL_FIXTURE, "-o", "cpal.o"])


class IncludeOrder(Scratch):
    def test_implementation_flags_come_before_the_kits_include(self):
        user = os.path.join(self.dir, "user-include")
        p = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "-nB", "validate-impl",
                            "BUILD=" + os.path.join(self.dir, "build"), "IMPL=" + CPAL_FIXTURE,
                            "IMPL_CFLAGS=-I" + user],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")})
        self.assertEqual(p.returncode, 0, p.stdout)
        line = next((ln for ln in p.stdout.splitlines() if " -c " in ln and CPAL_FIXTURE in ln), None)
        self.assertIsNotNone(line, p.stdout)
        words = line.split()
        self.assertLess(words.index("-I" + user), words.index("-Iinclude"), line)


if __name__ == "__main__":
    unittest.main(verbosity=1)
