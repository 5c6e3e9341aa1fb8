# The fault sweep and the exhaustion checks (conformance/tests/fault_sweep_test.cpp,
# exhaustion_test.cpp) are conformance tests like the others: `make validate` runs them
# as recommended checks. `make faults [IMPL=...]` runs only the tests of the
# failure-path requirements, through the verdict engine (one process per test,
# recommended failures count: STRICT=1), prints what each sweep did and the number of
# fault points swept, and fails when any of those tests fails.
FAULT_REQS := CPL_CREATE_008 CPL_CREATE_009 CPL_ADD_015 CPL_ADD_019 CPL_ADD_020 CPL_REMOVE_008 CPL_DECREF_011
FAULTS_DIR := $(BUILD)/faults/$(VALIDATE_NAME)

.PHONY: faults
faults:
	@status=0; $(MAKE) --no-print-directory validate ONLY="$(FAULT_REQS)" STRICT=1 REPORT_DIR=$(FAULTS_DIR) \
	  VALIDATE_BINS="$(CONF_BIN)" VALIDATE_KIT_OBJS="$(CATCH2_MAIN) $(CONF_KIT_OBJS)" || status=$$?; \
	  cat $(FAULTS_DIR)/results/conformance/*.out 2>/dev/null | grep -E '^(fault sweep|exhaustion):'; \
	  cat $(FAULTS_DIR)/results/conformance/*.out 2>/dev/null | \
	    awk '/^fault sweep:/ { for (i = 1; i < NF; i++) if ($$(i + 1) == "fault") n += $$i } \
	         END { printf "make faults: %d fault points swept (report: $(FAULTS_DIR)/report.md)\n", n }'; \
	  exit $$status
