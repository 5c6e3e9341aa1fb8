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

.PHONY: all check clean
all: libs

check: $(CHECK_TARGETS)
	@echo "make check: all suites passed ($(CHECK_TARGETS))"

clean:
	rm -rf $(BUILD)
