# Coverage of the reference (coverage/, coverage/README.md).
#   make coverage   gcov build of the reference, every suite run against it one suite at a
#                   time, lcov HTML (line + branch) in build/coverage/html/, the requirement
#                   coverage report build/coverage/requirements.{html,md}; fails below
#                   COV_MIN_LINES % lines / COV_MIN_BRANCHES % branches of reference/src/.
#   make coverage-tools-check   self-test of the report scripts (in CHECK_TARGETS).
# Not in CHECK_TARGETS itself: a third build of the reference plus three suite runs.
#
# The instrumented binaries come from the suites' own rules: a sub-make validates the
# reference sources as IMPL with IMPL_CFLAGS="$(COV_FLAGS)" under VALIDATE_NAME=$(COV_NAME).
# The reference unit tests are a variant of reference.mk's REF_TEST_VARIANT compiled with
# the same flags as that IMPL build, so that the suites' branch records line up.

COV_DIR          := $(BUILD)/coverage
COV_NAME         := coverage
# -fno-sanitize=undefined: UBSan's checks are branches to gcov (null/alignment checks of
# every member access: 56 branches instead of 40 in completion_port.cpp), branches no test
# can take. ASan adds none and stays on. The plain validate build keeps UBSan.
COV_FLAGS        := --coverage -O0 -fno-sanitize=undefined
COV_MIN_LINES    ?= 100
COV_MIN_BRANCHES ?= 95
# -O0 with gcov counters and ASan is slower than the plain validate build.
COV_TIMEOUT      ?= 60
COV_VALIDATE_DIR := $(BUILD)/validate/$(COV_NAME)
COV_SRC          := reference/src
# The instrumented sources, as validate.py's IMPL: each must exist (the engine refuses
# to judge a missing IMPL file), and sanitizer frames in them are the implementation's.
COV_IMPL_FILES   := $(sort $(wildcard $(COV_SRC)/*.c $(COV_SRC)/*.cpp))
# lcov 2.x renamed the branch options and stops on checks 1.16 did not make (gcc's
# function end lines, counters of threads racing without -fprofile-update=atomic).
LCOV_MAJOR        = $(shell lcov --version 2>/dev/null | sed -n 's/.*[Vv]ersion \([0-9][0-9]*\).*/\1/p')
LCOV_RC           = $(if $(filter-out 0 1,$(or $(LCOV_MAJOR),1)),\
  --rc branch_coverage=1 --rc no_exception_branch=1 --ignore-errors mismatch$(comma)negative$(comma)inconsistent,\
  --rc lcov_branch_coverage=1 --rc geninfo_no_exception_branch=1)
LCOV              = lcov --quiet $(LCOV_RC)
# lcov 1.16 ignores geninfo_no_exception_branch with gcc 12's JSON output: this gcov
# wrapper drops the exception branches itself (coverage/gcov_nothrow.py).
COV_GCOV_TOOL    := $(COV_DIR)/bin/gcov-nothrow
COV_TRACE_JSON   := $(if $(TRACE_JSON),$(TRACE_JSON),$(BUILD)/trace/requirements.json)

# `make validate` writes requirements.{md,html} itself (tools/cpkit/views/); this file
# adds the reference's line data to that report's verdicts.

# The suite binaries of the instrumented build: the ones VALIDATE_BINS names for the
# current IMPL, moved to the coverage build's bin directory (deferred: fragments may
# still add to VALIDATE_BINS).
COV_BINS = $(patsubst $(VALIDATE_BIN_DIR)/%,$(COV_VALIDATE_DIR)/bin/%,$(VALIDATE_BINS))
# Suite name of a binary: conformance -> conformance, property_tests -> properties.
cov_suite = $(if $(filter property_tests,$(notdir $(1))),properties,$(notdir $(1)))

COV_SUBMAKE = $(MAKE) --no-print-directory IMPL= IMPL_CFLAGS="$(COV_FLAGS)" \
    IMPL_LDLIBS=--coverage VALIDATE_NAME=$(COV_NAME) REPORT_DIR=$(COV_VALIDATE_DIR)

# --- reference unit tests, instrumented like the IMPL build ---------------------------
ifdef REF_TEST_VARIANT
# The IMPL build's sanitizers (mk/impl.mk's IMPL_SAN), then the same coverage flags.
COV_UNIT_FLAGS := $(IMPL_SAN) $(COV_FLAGS)
$(eval $(call REF_TEST_VARIANT,cov,$(COV_UNIT_FLAGS)))
COV_UNIT_BIN := $(REF_cov_BIN)
COV_UNIT_GCDA_DIR := $(dir $(REF_cov_BIN))
# A change of the flags rebuilds the variant (the template's rules know only the sources);
# mk/stamp.mk writes the stamp.
COV_UNIT_STAMP := $(COV_UNIT_GCDA_DIR)cov.flags
$(COV_UNIT_STAMP): CPK_STAMP_TEXT = $(COV_UNIT_FLAGS)
$(REF_cov_SRC_OBJS) $(REF_cov_TEST_OBJS): $(COV_UNIT_STAMP)
else
COV_UNIT_BIN :=
COV_UNIT_GCDA_DIR :=
endif

# $(1): suite name, $(2): test binary, $(3): directory holding its .gcda files.
# Counters are zeroed first so that the tracefile holds this suite's run only.
define COV_RUN_SUITE
	@echo "coverage: running the $(1) suite ($(2))"
	@find $(3) -name '*.gcda' -delete
	@mkdir -p $(COV_DIR)/runs/$(1)
	@$(PYTHON) tools/validate.py --name $(COV_NAME)-$(1) --impl "$(COV_IMPL_FILES)" \
	  --report-dir $(COV_DIR)/runs/$(1) --requirements $(COV_TRACE_JSON) \
	  --timeout $(COV_TIMEOUT) --jobs $(VALIDATE_JOBS) --bin $(2) \
	  > $(COV_DIR)/runs/$(1)/validate.log 2>&1; \
	  status=$$?; tail -n 2 $(COV_DIR)/runs/$(1)/validate.log | sed 's/^/    /'; \
	  [ $$status -le 1 ] || { cat $(COV_DIR)/runs/$(1)/validate.log; exit 1; }
	@$(LCOV) --gcov-tool $(abspath $(COV_GCOV_TOOL)) --capture --directory $(3) \
	  --output-file $(COV_DIR)/runs/$(1)/all.info \
	  2>$(COV_DIR)/runs/$(1)/lcov.log || { cat $(COV_DIR)/runs/$(1)/lcov.log; exit 1; }
	@$(LCOV) --extract $(COV_DIR)/runs/$(1)/all.info '$(CURDIR)/$(COV_SRC)/*' \
	  --output-file $(COV_DIR)/$(1).info 2>>$(COV_DIR)/runs/$(1)/lcov.log \
	  || { cat $(COV_DIR)/runs/$(1)/lcov.log; exit 1; }

endef

.PHONY: coverage coverage-bins coverage-tools-check
coverage-bins: trace-json $(COV_BINS)

# geninfo runs the tool from a temporary directory: an absolute path, and a shell
# wrapper so that no file of the repository needs the executable bit.
$(COV_GCOV_TOOL): coverage/gcov_nothrow.py
	@mkdir -p $(@D)
	@printf '#!/bin/sh\nexec %s %s "$$@"\n' "$(PYTHON)" "$(abspath coverage/gcov_nothrow.py)" > $@
	@chmod +x $@

coverage: $(COV_UNIT_BIN) $(COV_GCOV_TOOL) | deps
	@test -n "$(COV_UNIT_BIN)" || { echo "coverage: reference/reference.mk (REF_TEST_VARIANT) is missing"; exit 1; }
	$(COV_SUBMAKE) coverage-bins
	@rm -rf $(COV_DIR)/html $(COV_DIR)/suites $(COV_DIR)/runs $(COV_DIR)/*.info
	@mkdir -p $(COV_DIR)
	$(foreach b,$(COV_BINS),$(call COV_RUN_SUITE,$(call cov_suite,$(b)),$(b),$(COV_VALIDATE_DIR)/obj))
	$(call COV_RUN_SUITE,unit,$(COV_UNIT_BIN),$(COV_UNIT_GCDA_DIR))
	@$(LCOV) $(foreach b,$(COV_BINS),-a $(COV_DIR)/$(call cov_suite,$(b)).info) -a $(COV_DIR)/unit.info \
	  --output-file $(COV_DIR)/total.info 2>$(COV_DIR)/runs/lcov.log || { cat $(COV_DIR)/runs/lcov.log; exit 1; }
	@genhtml --quiet $(LCOV_RC) --branch-coverage --legend --prefix $(CURDIR) \
	  --title "cpkit reference: all suites" --output-directory $(COV_DIR)/html $(COV_DIR)/total.info
	@for s in $(foreach b,$(COV_BINS),$(call cov_suite,$(b))) unit; do \
	  genhtml --quiet $(LCOV_RC) --branch-coverage --legend --prefix $(CURDIR) \
	    --title "cpkit reference: $$s" --output-directory $(COV_DIR)/suites/$$s $(COV_DIR)/$$s.info || exit 1; \
	done
	@$(PYTHON) coverage/coverage_check.py --src $(COV_SRC) \
	  --min-lines $(COV_MIN_LINES) --min-branches $(COV_MIN_BRANCHES) \
	  $(foreach b,$(COV_BINS),--suite $(call cov_suite,$(b))=$(COV_DIR)/$(call cov_suite,$(b)).info) \
	  --suite unit=$(COV_DIR)/unit.info \
	  $(foreach b,$(COV_BINS),--report $(call cov_suite,$(b))=$(COV_DIR)/runs/$(call cov_suite,$(b))/report.json) \
	  --report unit=$(COV_DIR)/runs/unit/report.json \
	  --md $(COV_DIR)/coverage.md --summary-file $(COV_DIR)/coverage.txt; \
	status=$$?; \
	$(PYTHON) coverage/requirements_report.py --requirements $(COV_TRACE_JSON) --name "reference (gcov)" \
	  $(foreach b,$(COV_BINS),--report $(call cov_suite,$(b))=$(COV_DIR)/runs/$(call cov_suite,$(b))/report.json) \
	  --report unit=$(COV_DIR)/runs/unit/report.json \
	  $(foreach b,$(COV_BINS),--suite $(call cov_suite,$(b))=$(COV_DIR)/$(call cov_suite,$(b)).info) \
	  --suite unit=$(COV_DIR)/unit.info \
	  --source-html $(COV_DIR)/html --out-dir $(COV_DIR) \
	  --summary-file $(COV_DIR)/requirements.txt --quiet || status=1; \
	echo "coverage: reports: $(COV_DIR)/html/index.html, $(COV_DIR)/coverage.md, $(COV_DIR)/requirements.html"; \
	cat $(COV_DIR)/coverage.txt $(COV_DIR)/requirements.txt 2>/dev/null; \
	exit $$status

# --- self-test of the scripts (fast, no build) ------------------------------------------
coverage-tools-check:
	$(PYTHON) coverage/test_coverage_tools.py

CHECK_TARGETS += coverage-tools-check
