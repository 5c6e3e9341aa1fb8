#!/usr/bin/env python3
"""compile_commands.json for editors (clangd, ...): reads `make -nB` output on stdin and
keeps every compile command (`-c FILE`), as make would run it, from the directory given."""

import json
import os
import shlex
import sys

COMPILERS = ("gcc", "g++", "cc", "c++", "clang", "clang++")


def entries(lines, directory, compilers):
    out = []
    for line in lines:
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if not words or "-c" not in words or os.path.basename(words[0]) not in compilers:
            continue
        i = words.index("-c")
        if i + 1 >= len(words):
            continue
        entry = {"directory": directory, "arguments": words, "file": words[i + 1]}
        if "-o" in words[:-1]:
            entry["output"] = words[words.index("-o") + 1]
        out.append(entry)
    return out


def main():
    directory = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    compilers = set(COMPILERS) | {os.path.basename(c) for c in sys.argv[2:]}
    db = entries(sys.stdin.read().splitlines(), directory, compilers)
    if not db:
        print("compile_commands: no compile command in make's output", file=sys.stderr)
        return 1
    json.dump(db, sys.stdout, indent=2)
    sys.stdout.write("\n")
    print("compile_commands: %d commands" % len(db), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
