# cpkit: conformance kit and reference implementation for completion_port_linux.
# `make` builds the reference libraries; `make check` runs every suite;
# `make validate IMPL=...` validates any implementation (README.md).
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

BUILD    ?= build
CC       ?= gcc
CXX      ?= g++
PYTHON   ?= python3
STD_CXX  := -std=c++17
WARN     := -Wall -Wextra -Werror
INCLUDES := -Iinclude
NPROC    := $(shell nproc 2>/dev/null || echo 2)
# Appended to the library and example builds (Debian's convention); empty unless set.
CPPFLAGS ?=
CFLAGS   ?=
CXXFLAGS ?=
LDFLAGS  ?=

# Every fragment adds the suites it owns to CHECK_TARGETS, and what they build to
# CHECK_BUILD (built in parallel before the suites run one at a time).
CHECK_TARGETS :=
CHECK_BUILD   :=

include mk/deps.mk
include mk/catch2.mk
include mk/sanitizers.mk
include mk/stamp.mk
include mk/format.mk
include $(wildcard reference/reference.mk)
include mk/impl.mk
include $(wildcard conformance/conformance.mk)
include $(wildcard conformance/faults.mk)
include $(wildcard conformance/soak/soak.mk)
include $(wildcard property_tests/property_tests.mk)
include $(wildcard tools/tools.mk)
include $(wildcard coverage/coverage.mk)
include $(wildcard bench/bench.mk)
include $(wildcard tools/mutation/mutation.mk)
include mk/install.mk
include mk/compile_commands.mk

.PHONY: all check check-build check-run clean help
all: libs

help:
	@echo "cpkit $(KIT_VERSION): conformance kit and reference implementation for completion_port_linux"
	@echo "  make [all]                  the reference libraries in $(BUILD)/lib/"
	@echo "  make validate IMPL=...      validate an implementation (sources, .a or .so; README.md);"
	@echo "                              tools/cpkit-validate [options] IMPL... from anywhere (--help)"
	@echo "  make check                  every suite, the tool self-tests, install-check, the kit's self-test"
	@echo "  make format, format-check   apply .clang-format to the C/C++ sources, or list those it would change"
	@echo "  make trace                  spec, tests and reference cite the same requirement IDs"
	@echo "  make coverage               lcov coverage of the reference and the requirement coverage report"
	@echo "  make conformance-selftest   the kit's self-test (wrong implementations must be caught)"
	@echo "  make bench [IMPL=...]       echo vs the conformant floor, raw epoll, libuv, libevent; teardown; scaling"
	@echo "  make bench-smoke            every bench server briefly: bytes and JSON shape (in make check)"
	@echo "  make soak-properties        10 000 cases per property against IMPL"
	@echo "  make faults [IMPL=...]      the fault sweep and exhaustion checks: every call of create, add, remove, dec_ref failed in turn"
	@echo "  make soak [IMPL=...]        a million ops on thousands of socketpairs from four threads: lost 0, duplicated 0, peak RSS"
	@echo "  make mutation               generated mutants of reference/src, each validated fail-fast: build/mutation/report.md"
	@echo "  make mutation-sample        a seeded sample of 20 of them (in CI); make mutation-literal: the literal implementation's"
	@echo "  make install                headers, libraries, pkg-config, CMake, bin/cpkit-validate + share/cpkit (PREFIX=$(PREFIX), DESTDIR)"
	@echo "  make uninstall              remove what install wrote (same PREFIX, DESTDIR)"
	@echo "  make install-check          build examples/echo.c against a DESTDIR install (pkg-config, CMake),"
	@echo "                              run the installed cpkit-validate from outside the tree"
	@echo "  make cpkit-validate-check   cpkit-validate's own logic and the stand-in headers"
	@echo "  make fresh                  the README's two commands on bare Debian 12 and 13 roots (root, mmdebstrap)"
	@echo "  make compile_commands.json  the compile commands, for editors (clangd)"
	@echo "  make deps                   install the Debian packages of this release (mk/packages.sh)"
	@echo "  make clean                  remove $(BUILD)/"

# `make -j2 check` is safe: the builds run in parallel, then a serial sub-make runs the
# suites one after another, since their timing bounds assume an unloaded machine and
# every validation already runs its tests on all cores.
check: check-build
	@$(MAKE) --no-print-directory check-run
	@echo "make check: all suites passed ($(CHECK_TARGETS))"

check-build: $(CHECK_BUILD)

check-run: $(CHECK_TARGETS)

ifneq ($(filter check-run,$(MAKECMDGOALS)),)
.NOTPARALLEL:
endif

clean:
	rm -rf $(BUILD)
