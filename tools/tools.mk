# Traceability and validation (tools/, Python 3 standard library only).
#   make trace        spec <-> seed, tests, reference: strict, fails listing offenders
#   make trace-json   writes $(TRACE_JSON) and never fails (validate reads it)
#   make validate [IMPL=...]   runs every test binary in VALIDATE_BINS, one process per test
#   make tools-check  self-test of these tools against a fixture Catch2 binary

TRACE_JSON       := $(BUILD)/trace/requirements.json
# The seed lives beside the repository (shared/ is copied next to the clone in CI).
SEED             ?= ../shared/seed/completion_port_linux_requirements.md
VALIDATE_TIMEOUT ?= 30
VALIDATE_JOBS    ?= $(NPROC)

.PHONY: trace trace-json validate check-validate-reference tools-check

trace:
	$(PYTHON) tools/trace.py --seed "$(SEED)" --out $(TRACE_JSON)

trace-json:
	@$(PYTHON) tools/trace.py --seed "$(SEED)" --out $(TRACE_JSON) --json-only

# VALIDATE_BINS is filled by conformance.mk and property_tests.mk; expand it when the
# rule is used so that a fragment included later can still add to it.
# REQUIREMENTS_REPORT (coverage/coverage.mk, optional) renders the requirement report
# from report.json; it runs whenever validate.py wrote a report (status 0 or 1), and
# validate.py's status is kept.
# The binaries are built inside the recipe: an implementation that does not build still
# gets a report (every api/sys requirement FAILED, with the build's last lines).
validate: trace-json
	@mkdir -p "$(REPORT_DIR)"; echo "validate: building the test binaries for $(VALIDATE_NAME) (log: $(REPORT_DIR)/build.log)"; \
	if ! $(MAKE) --no-print-directory $(VALIDATE_BINS) > "$(REPORT_DIR)/build.log" 2>&1; then \
	  tail -n 30 "$(REPORT_DIR)/build.log" >&2; \
	  echo "validate: the implementation did not build; full log: $(REPORT_DIR)/build.log" >&2; \
	fi; \
	status=0; $(PYTHON) tools/validate.py --name "$(VALIDATE_NAME)" --impl "$(strip $(IMPL_FILES))" \
	  --report-dir "$(REPORT_DIR)" --requirements $(TRACE_JSON) --build-log "$(REPORT_DIR)/build.log" \
	  --timeout $(VALIDATE_TIMEOUT) --jobs $(VALIDATE_JOBS) $(addprefix --bin ,$(VALIDATE_BINS)) \
	  || status=$$?; \
	$(if $(strip $(REQUIREMENTS_REPORT)),if [ $$status -le 1 ]; then $(REQUIREMENTS_REPORT) \
	  || { echo "validate: the requirement report failed: $(REQUIREMENTS_REPORT)" >&2; exit 3; }; fi;) \
	exit $$status

# The reference, validated exactly as a third party's sources would be.
check-validate-reference:
	$(MAKE) --no-print-directory validate IMPL= IMPL_CFLAGS= IMPL_LDLIBS= \
	  VALIDATE_NAME=reference REPORT_DIR=$(BUILD)/validate/reference

# --- self-test fixture ------------------------------------------------------------
TOOLS_SELFTEST_DIR := $(BUILD)/tools-selftest
TOOLS_FIXTURE_BIN  := $(TOOLS_SELFTEST_DIR)/validate_fixture

ifdef CATCH2_MAIN_RULE
TOOLS_CATCH2_MAIN := $(BUILD)/catch2_main.o
else
# No fragment provides build/catch2_main.o (partial tree): build a private one.
TOOLS_CATCH2_MAIN := $(TOOLS_SELFTEST_DIR)/catch2_main.o
$(TOOLS_CATCH2_MAIN): | deps
	@mkdir -p $(@D)
	printf '#define CATCH_CONFIG_MAIN\n#define CATCH_CONFIG_CONSOLE_WIDTH 300\n#include <catch2/catch.hpp>\n' > $(@D)/catch2_main.cpp
	$(CXX) $(STD_CXX) $(WARN) -O1 -c $(@D)/catch2_main.cpp -o $@
endif

# Sanitized like the conformance binary of a sources IMPL, so that sanitizer reports,
# leaks and ASan's own SEGV handling reach validate.py as they would in a real run.
$(TOOLS_FIXTURE_BIN): tools/fixtures/validate_fixture.cpp $(TOOLS_CATCH2_MAIN) | deps
	@mkdir -p $(@D)
	$(CXX) $(STD_CXX) $(WARN) -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	  $(INCLUDES) -pthread tools/fixtures/validate_fixture.cpp $(TOOLS_CATCH2_MAIN) -o $@

tools-check: $(TOOLS_FIXTURE_BIN)
	TOOLS_FIXTURE_BIN=$(TOOLS_FIXTURE_BIN) TOOLS_SELFTEST_DIR=$(TOOLS_SELFTEST_DIR) \
	  $(PYTHON) tools/test_tools.py

CHECK_TARGETS += trace tools-check check-validate-reference

include $(wildcard tools/cpkit/views/views.mk)
