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

# Every fragment adds the suites it owns to CHECK_TARGETS.
CHECK_TARGETS :=

include mk/deps.mk
include $(wildcard reference/reference.mk)
include mk/impl.mk
include $(wildcard conformance/conformance.mk)
include $(wildcard property_tests/property_tests.mk)
include $(wildcard tools/tools.mk)
include $(wildcard coverage/coverage.mk)
include $(wildcard tools/mutation/mutation.mk)
include mk/install.mk

.PHONY: all check clean help
all: libs

help:
	@echo "cpkit $(KIT_VERSION): conformance kit and reference implementation for completion_port_linux"
	@echo "  make [all]                  the reference libraries in $(BUILD)/lib/"
	@echo "  make validate IMPL=...      validate an implementation (sources, .a or .so; README.md)"
	@echo "  make check                  every suite, the tool self-tests, install-check, the kit's self-test"
	@echo "  make trace                  spec, tests and reference cite the same requirement IDs"
	@echo "  make coverage               lcov coverage of the reference and the requirement coverage report"
	@echo "  make conformance-selftest   the kit's self-test (wrong implementations must be caught)"
	@echo "  make bench                  teardown latency and per-op cost of the reference"
	@echo "  make soak-properties        10 000 cases per property against IMPL"
	@echo "  make install                headers, libraries, pkg-config and CMake files (PREFIX=$(PREFIX), DESTDIR)"
	@echo "  make uninstall              remove what install wrote (same PREFIX, DESTDIR)"
	@echo "  make install-check          build examples/echo.c against a DESTDIR install (pkg-config, CMake)"
	@echo "  make fresh                  the README's two commands on bare Debian 12 and 13 roots (root, mmdebstrap)"
	@echo "  make deps                   install the Debian packages of this release (mk/packages.sh)"
	@echo "  make clean                  remove $(BUILD)/"

check: $(CHECK_TARGETS)
	@echo "make check: all suites passed ($(CHECK_TARGETS))"

clean:
	rm -rf $(BUILD)
