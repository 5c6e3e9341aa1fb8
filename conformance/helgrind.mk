# Threading-focused conformance tests against the reference under valgrind's two
# race detectors (README.md, "Race detection"):
#   make helgrind     helgrind, then DRD; fails on any error either reports
# The reference's static archive is linked uninstrumented (valgrind cannot run ASan
# or TSan code); the suppressions (conformance/valgrind.supp) cover only the kit's
# own code, each with its reason. Not in `make check` (about a minute on 2 cores).

HELGRIND_NAME  := reference-valgrind
HELGRIND_BIN   := $(BUILD)/validate/$(HELGRIND_NAME)/bin/conformance
HELGRIND_LOGS  := $(BUILD)/helgrind
HELGRIND_SUPP  := conformance/valgrind.supp
# The tests of thread safety, of remove and dec_ref waiting for a running callback,
# of the final dec_ref from a callback, and of callbacks on the worker (Catch2: ',' is "or").
HELGRIND_TESTS ?= [CPL_ADD_018],[CPL_REMOVE_006],[CPL_DECREF_004],[CPL_DECREF_010],[CPL_WORKER_004]
HELGRIND_TIMEOUT ?= 900
# The suite's bounded waits, stretched for code running 20-50 times slower.
HELGRIND_ENV := CPK_WAIT_MS=60000 CPK_TEARDOWN_MS=120000
HELGRIND_VALGRIND := valgrind --error-exitcode=3 --suppressions=$(HELGRIND_SUPP) --num-callers=30

.PHONY: helgrind helgrind-build
helgrind-build:
	@command -v valgrind >/dev/null || { echo "helgrind: valgrind is missing: apt-get install valgrind"; exit 2; }
	@$(MAKE) --no-print-directory conformance-build IMPL=$(REF_LIB_A) IMPL_CFLAGS= IMPL_LDLIBS= \
	  SANITIZE=address VALIDATE_NAME=$(HELGRIND_NAME)

# Each tool's log keeps every report; the last lines say how many errors were not suppressed.
helgrind: helgrind-build
	@mkdir -p $(HELGRIND_LOGS); rc=0; \
	for tool in helgrind drd; do \
	  log=$(HELGRIND_LOGS)/$$tool.log; \
	  $(HELGRIND_ENV) timeout $(HELGRIND_TIMEOUT) $(HELGRIND_VALGRIND) --tool=$$tool \
	    $(HELGRIND_BIN) '$(HELGRIND_TESTS)' > $$log 2>&1; st=$$?; \
	  summary=$$(grep 'ERROR SUMMARY' $$log | tail -1 | sed 's/^==[0-9]*== //'); \
	  tests=$$(grep -E '^(All tests passed|test cases:)' $$log | tail -1); \
	  echo "helgrind: $$tool: $$summary; $$tests (log: $$log)"; \
	  [ $$st -eq 0 ] || { echo "helgrind: $$tool FAILED (exit $$st)"; rc=1; }; \
	done; exit $$rc
