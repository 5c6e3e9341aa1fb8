#!/usr/bin/env python3
"""Validate an implementation of completion_port_linux (tools/cpkit/run.py, tools/RESULTS.md).
Exit status: 0 conforms, 1 does not, 2 the kit could not judge."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpkit import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run.main())
