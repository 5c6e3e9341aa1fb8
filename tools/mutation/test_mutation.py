#!/usr/bin/env python3
"""Unit tests of the mutant generator and the report (no build, no validation)."""

import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate  # noqa: E402
import mutation  # noqa: E402

SNIPPET = """// a comment with a < b && c
#include <vector>
#define LIMIT (1 < 2)
static const char* s = "x < y || z";
int f(int a, int b)
{
    if (a < b && b != 0)
    {
        return a + b;
    }
    unsigned v = static_cast<unsigned>(a) | MSG_NOSIGNAL;
    while (a >= 0)
    {
        a--;
        if (a == 3)
        {
            break;
        }
    }
    assert(a == -1);
    g(a);
    return v != 0u;
}
void h(void)
{
    g(1);
}
"""


def descriptions(text, name="x.cpp"):
    return [(m.operator, m.original, m.replacement, m.line) for m in generate.mutants_of(name, text)]


class Lexer(unittest.TestCase):
    def test_comments_strings_and_directives_are_not_code(self):
        texts = [t.text for t in generate.tokenize(SNIPPET)]
        self.assertNotIn("include", texts)
        self.assertNotIn("LIMIT", texts)
        self.assertNotIn("comment", texts)
        self.assertIn('"x < y || z"', texts)

    def test_template_brackets_are_told_from_comparisons(self):
        toks = generate.tokenize("x = static_cast<uint32_t>(a) < b; y = a < b && c > d;")
        marks = [(t.text, t.template) for t in toks if t.text in "<>"]
        self.assertEqual(marks, [("<", True), (">", True), ("<", False), ("<", False), (">", False)])

    def test_switched_off_branches_are_not_code(self):
        text = "#ifdef MUTANT_X\nint a = 1;\n#else\nint b = 2;\n#endif\n#ifndef GUARD\nint c = 3;\n#endif\n"
        names = [t.text for t in generate.tokenize(text) if t.kind == "ident"]
        self.assertEqual(names, ["int", "b", "int", "c"])
        self.assertIn("x", [t.text for t in generate.tokenize("#ifdef __cplusplus\nx;\n#endif\n")])
        self.assertEqual([t.text for t in generate.tokenize("#ifdef __cplusplus\nx;\n#endif\n", defined=())], [])

    def test_line_numbers_count_comment_and_directive_lines(self):
        toks = generate.tokenize("/* a\nb */\n#define X \\\n  1\nint y;")
        self.assertEqual(toks[0].line, 5)


class Operators(unittest.TestCase):
    def setUp(self):
        self.found = descriptions(SNIPPET)

    def has_all(self, *expected):
        for mutant in expected:  # (operator, original, replacement, line)
            with self.subTest(mutant=mutant):
                self.assertIn(mutant, self.found)

    def test_relational_logical_arithmetic_bitwise(self):
        self.has_all(("relational", "<", "<=", 7), ("relational", "!=", "==", 7), ("logical", "&&", "||", 7),
                     ("arithmetic", "+", "-", 9), ("arithmetic", "--", "++", 14), ("bitwise", "|", "&", 11))

    def test_constants_conditions_jumps_statements_returns(self):
        self.has_all(("constant", "MSG_NOSIGNAL", "0", 11), ("constant", "3", "4", 15),
                     ("condition", "while (a >= 0)", "while (!(a >= 0))", 12), ("jump", "break", "continue", 17),
                     ("statement", "g(a);", ";", 21), ("statement", "a--;", ";", 14),
                     ("early-return", "f(...) {", "{ return 0;", 7), ("early-return", "h(...) {", "{ return;", 26))

    def test_never_in_templates_assertions_comments_or_declarations(self):
        lines = {line for _, _, _, line in self.found}
        self.assertNotIn(20, lines, "assert() is not behaviour")
        self.assertFalse(any(op == "relational" and line == 11 for op, _, _, line in self.found),
                         "static_cast<unsigned> is not a comparison")
        self.assertFalse(any(op == "statement" and line == 11 for op, _, _, line in self.found),
                         "a declaration is not deleted")
        self.assertFalse(any(line in (1, 2, 3, 4) for _, _, _, line in self.found))

    def test_negating_a_single_comparison_is_not_generated_twice(self):
        self.assertFalse(any(op == "condition" and line == 15 for op, _, _, line in self.found))

    def test_apply_changes_only_the_mutated_span(self):
        for m in generate.mutants_of("x.cpp", SNIPPET):
            out = m.apply(SNIPPET)
            self.assertNotEqual(out, SNIPPET, m.description)
            first = next(i for i, (a, b) in enumerate(zip(SNIPPET + "\0", out + "\0")) if a != b)
            self.assertEqual(SNIPPET.count("\n", 0, first) + 1, m.line, m.description)
            self.assertEqual(SNIPPET[:first], out[:first])

    def test_ids_do_not_depend_on_line_numbers(self):
        before = {m.id: m.description for m in generate.mutants_of("x.cpp", SNIPPET)}
        after = {m.id: m.description for m in generate.mutants_of("x.cpp", "\n\n// moved\n" + SNIPPET)}
        self.assertEqual(before, after)
        self.assertEqual(len(before), len(generate.mutants_of("x.cpp", SNIPPET)), "ids are unique")

    def test_ids_depend_on_the_file(self):
        a = {m.id for m in generate.mutants_of("a.cpp", SNIPPET)}
        b = {m.id for m in generate.mutants_of("b.cpp", SNIPPET)}
        self.assertFalse(a & b)


class Sampling(unittest.TestCase):
    def test_a_seed_gives_the_same_sample_whatever_the_order(self):
        ms = generate.mutants_of("x.cpp", SNIPPET)
        one = [m.id for m in generate.sample(ms, 5, 13)]
        two = [m.id for m in generate.sample(list(reversed(ms)), 5, 13)]
        self.assertEqual(sorted(one), sorted(two))
        self.assertEqual(len(one), 5)
        self.assertNotEqual(sorted(one), sorted(m.id for m in generate.sample(ms, 5, 14)))

    def test_generate_mutates_code_files_only_and_honours_exclude(self):
        ms = generate.generate({"a.cpp": SNIPPET, "b.h": "int k = 1;", "notes.txt": "a < b", "t.cpp": SNIPPET},
                               exclude={"t.cpp"})
        self.assertEqual({m.file for m in ms}, {"a.cpp", "b.h"})

    def test_the_reference_and_the_literal_have_enough_mutants(self):
        root = os.path.dirname(os.path.dirname(HERE))
        for src, at_least in (("reference/src", 150), ("conformance/selftest/impls/literal", 50)):
            d = os.path.join(root, src)
            srcs = mutation.faults.read_sources(d)
            self.assertGreaterEqual(len(generate.generate(srcs, exclude={"test_hooks.cpp", "test_hooks.h"})),
                                    at_least, src)


class Report(unittest.TestCase):
    def args(self):
        class A:
            name, src, sample, seed, jobs, strict = "reference", "reference/src", None, 13, 2, True
        return A()

    def test_score_counts_equivalents_out_and_lists_every_survivor(self):
        ms = generate.mutants_of("x.cpp", SNIPPET)[:5]
        outcomes = ["killed", "killed", "survived", "survived", "uncompilable"]
        done = [(m, {"outcome": o, "by": "t", "seconds": 1}) for m, o in zip(ms, outcomes)]
        verdicts = {ms[2].id: ("equivalent", "the same machine code"), ms[0].id: ("explained", "stale")}
        rep = mutation.assemble(self.args(), done, verdicts, 5, 3.0)
        self.assertEqual((rep["mutants"], rep["killed"], rep["survived"], rep["equivalent"]), (4, 2, 1, 1))
        self.assertEqual(rep["uncompilable"], 1)
        self.assertEqual(rep["score"], round(100 * 2 / 3, 1))
        self.assertEqual({s["kind"] for s in rep["survivors"]}, {"equivalent", "unexplained"})
        self.assertTrue(all({"file", "line", "mutation", "reason"} <= set(s) for s in rep["survivors"]))
        self.assertEqual(len(rep["warnings"]), 1, "a killed mutant listed in verdicts.txt is a warning")
        md = mutation.render_md(rep)
        self.assertIn("the same machine code", md)
        self.assertIn("x.cpp:%d" % ms[3].line, md)

    def test_classify(self):
        self.assertEqual(mutation.classify(1, {"build": {"status": "ok"}, "tests": [
            {"verdict": "fail", "name": "t1", "failures": [{"requirement": "CPL_ADD_005"}]}]}, 1)["outcome"], "killed")
        self.assertEqual(mutation.classify(0, {"build": {"status": "ok"}}, 1)["outcome"], "survived")
        self.assertEqual(mutation.classify(1, {"build": {"status": "impl-failed", "errors": ["e"]}}, 1)["outcome"],
                         "uncompilable")
        self.assertEqual(mutation.classify(2, None, 1)["outcome"], "error")
        self.assertEqual(mutation.classify("timeout", None, 1)["outcome"], "killed")
        with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
            f.write("validate: the kit could not judge x: %s (CPL_ADD_007):\n" % mutation.KIT_ERRORS)
        try:
            self.assertEqual(mutation.classify(2, None, 1, f.name)["outcome"], "killed")
        finally:
            os.unlink(f.name)

    def test_verdicts_file_needs_a_kind_and_a_reason(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("# comment\nabc123 equivalent same code\n")
        try:
            self.assertEqual(mutation.read_verdicts(f.name), {"abc123": ("equivalent", "same code")})
            with open(f.name, "a") as g:
                g.write("def456 equivalent\n")
            with self.assertRaises(mutation.MutationError):
                mutation.read_verdicts(f.name)
        finally:
            os.unlink(f.name)

    def test_the_committed_verdicts_file_parses(self):
        mutation.read_verdicts(os.path.join(HERE, "verdicts.txt"))


if __name__ == "__main__":
    unittest.main(verbosity=1)
