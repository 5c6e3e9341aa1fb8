# Traceability and validation (tools/, Python 3 standard library only).
#   make trace        spec <-> seed, tests, reference: strict, fails listing offenders
#                     (a bare Catch2 check is an error; TRACE_STRICT_CHECKS=0: a warning)
#   make trace-json   writes $(TRACE_JSON) and never fails (validate reads it)
#   make validate [IMPL=...]   builds and runs every test binary in VALIDATE_BINS, one process per test
#   make tools-check  self-test of these tools against a fixture Catch2 binary

TRACE_JSON       := $(BUILD)/trace/requirements.json
# The seed lives beside the repository (shared/ is copied next to the clone in CI).
SEED             ?= ../shared/seed/completion_port_linux_requirements.md
VALIDATE_TIMEOUT ?= 30
VALIDATE_JOBS    ?= $(NPROC)

.PHONY: trace trace-json validate check-validate-reference tools-check

# A bare Catch2 check in conformance/tests/ is an error (TRACE_STRICT_CHECKS=0: a warning).
TRACE_STRICT_CHECKS ?= 1
trace:
	$(PYTHON) tools/trace.py --seed "$(SEED)" --out $(TRACE_JSON) \
	  $(if $(filter 1 y yes true on,$(strip $(TRACE_STRICT_CHECKS))),--strict-checks)

trace-json:
	@$(PYTHON) tools/trace.py --seed "$(SEED)" --out $(TRACE_JSON) --json-only

# validate.py (tools/cpkit/run.py) drives everything: the dependency check, the three
# build steps through the sub-make VALIDATE_SUBMAKE (validate-kit, validate-impl,
# validate-link below), the hang probe and one process per test. The sub-make is named
# through a variable of its own so that `make -n validate` runs nothing.
#   ONLY="CPL_RECV_* CPL_ADD_005"  only the tests tagged with these IDs (globs)
#   RERUN_FAILED=1                 only the tests that failed in REPORT_DIR's last report
#   VALIDATE_REPEAT=N              rerun each failing test N more times (failed_runs/runs)
#   VALIDATE_REPEAT_ONLY="IDs"     ... only the failing tests that failed one of these requirements
#   STRICT=1                       recommended failures count for the exit status too
#   VALIDATE_FAIL_FAST=1           start no test after the first one that fails the verdict
# Exit status: 0 conforms, 1 does not, 2 the kit could not judge (tools/RESULTS.md).
# make itself exits 2 whenever a recipe fails, so the engine's status shows on make's
# "Error N" line; tools/cpkit-validate runs this target and exits with that status.
CPKIT_STATUS_FILE ?=
ONLY            ?=
RERUN_FAILED    ?=
VALIDATE_REPEAT ?= 0
VALIDATE_REPEAT_ONLY ?=
STRICT          ?=
VALIDATE_FAIL_FAST ?=
VALIDATE_SUBMAKE = $(MAKE) --no-print-directory
cpk_yes          = $(filter 1 y yes true on,$(strip $(1)))

validate: trace-json
	@$(PYTHON) tools/validate.py --name "$(VALIDATE_NAME)" --impl "$(strip $(IMPL_FILES))" \
	  --impl-kind $(IMPL_KIND) --report-dir "$(REPORT_DIR)" --requirements $(TRACE_JSON) \
	  --timeout $(VALIDATE_TIMEOUT) --jobs $(VALIDATE_JOBS) --repeat "$(VALIDATE_REPEAT)" \
	  $(if $(strip $(VALIDATE_REPEAT_ONLY)),--repeat-only "$(VALIDATE_REPEAT_ONLY)") \
	  --deps "sh mk/install-deps.sh $(DEPS_PACKAGES)" --make "$(VALIDATE_SUBMAKE)" --probe \
	  $(if $(strip $(ONLY)),--only "$(ONLY)") $(if $(call cpk_yes,$(RERUN_FAILED)),--rerun-failed) \
	  $(if $(call cpk_yes,$(STRICT)),--strict) $(if $(call cpk_yes,$(VALIDATE_FAIL_FAST)),--fail-fast) \
	  $(addprefix --bin ,$(VALIDATE_BINS)); \
	  status=$$?; $(if $(CPKIT_STATUS_FILE),echo $$status > "$(CPKIT_STATUS_FILE)";) exit $$status

# The three build steps (run by validate.py, one after the other).
.PHONY: validate-kit validate-impl validate-link
validate-kit: $(VALIDATE_KIT_OBJS)
validate-impl: $(IMPL_DEPS)
validate-link: $(VALIDATE_BINS)

# The reference, validated exactly as a third party's sources would be.
check-validate-reference:
	$(MAKE) --no-print-directory validate IMPL= IMPL_CFLAGS= IMPL_LDLIBS= \
	  VALIDATE_NAME=reference REPORT_DIR=$(BUILD)/validate/reference

# --- self-test fixture ------------------------------------------------------------
TOOLS_SELFTEST_DIR := $(BUILD)/tools-selftest
TOOLS_FIXTURE_BIN  := $(TOOLS_SELFTEST_DIR)/validate_fixture

# Sanitized like the conformance binary of a sources IMPL, so that sanitizer reports,
# leaks and ASan's own SEGV handling reach the engine as they would in a real run; linked
# with the harness's result-file writer so that it writes real records.
TOOLS_FIXTURE_SRCS := tools/fixtures/validate_fixture.cpp tools/fixtures/fixture_impl.cpp \
  conformance/harness/verdict.cpp conformance/harness/listener.cpp conformance/harness/sync.cpp \
  conformance/harness/sanitizer.cpp
$(TOOLS_FIXTURE_BIN): $(TOOLS_FIXTURE_SRCS) $(wildcard conformance/harness/*.h) $(CATCH2_MAIN) | deps
	@mkdir -p $(@D)
	$(CXX) $(STD_CXX) $(WARN) -O1 -g $(SAN_FLAGS) \
	  $(INCLUDES) -Iconformance/harness -pthread $(TOOLS_FIXTURE_SRCS) $(CATCH2_MAIN) $(CATCH2_LIBS) -o $@

tools-check: $(TOOLS_FIXTURE_BIN)
	TOOLS_FIXTURE_BIN=$(TOOLS_FIXTURE_BIN) TOOLS_SELFTEST_DIR=$(TOOLS_SELFTEST_DIR) \
	  $(PYTHON) tools/test_tools.py

# Every `make TARGET` and script the READMEs show exists (make's database; nothing runs).
README_DOCS := README.md ARCHITECTURE.md $(wildcard */README.md tools/mutation/README.md)
.PHONY: readme-check
readme-check:
	@$(PYTHON) tools/readme_check.py $(README_DOCS)

CHECK_TARGETS += trace readme-check tools-check check-validate-reference
# The kit's objects every validation links (IMPL's own are built by validate itself).
CHECK_BUILD += $(TOOLS_FIXTURE_BIN) $(VALIDATE_KIT_OBJS)

include $(wildcard tools/cpkit/views/views.mk)
