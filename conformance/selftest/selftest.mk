# The kit's self-test (conformance/selftest/README.md): implementations whose
# verdict is known are validated with `make validate`, and selftest.py checks
# that the suite reaches that verdict for the right reason. Included at the end
# of conformance/conformance.mk.
#
#   make conformance-selftest          literal (must conform), slots, duplex and
#                                      the precise-blame faults (in `make check`)
#   make conformance-selftest-subtle   every fault, its failing tests run RUNS (5) times
#   make conformance-selftest-mutants  the literal's MUTANT_ switches (slow:
#                                      each validation waits out 2 s teardowns)
#   make selftest-<name>               one case: selftest-slots, selftest-fault-no-add-fallback,
#                                      selftest-mutant-add-first
#   make selftest-tsan                 the data-race fault: SANITIZE=thread catches it, the
#                                      default ASan+UBSan validation does not
SELFTEST_DIR     := conformance/selftest
SELFTEST_PY      := $(PYTHON) $(SELFTEST_DIR)/selftest.py --make "$(MAKE)" --build $(BUILD) --src $(or $(REF_SRC_DIR),reference/src)
SELFTEST_FAULTS_PY := $(PYTHON) $(SELFTEST_DIR)/faults.py --src $(or $(REF_SRC_DIR),reference/src)
# The wrong ones first: they are quick and say early whether the suite bites.
SELFTEST_WRONG   := $(sort $(filter-out literal,$(notdir $(patsubst %/,%,$(dir $(wildcard $(SELFTEST_DIR)/impls/*/expect.txt))))))
SELFTEST_CASES   := $(SELFTEST_WRONG) literal
SELFTEST_MUTANTS := $(sort $(basename $(notdir $(wildcard $(SELFTEST_DIR)/impls/literal/mutants/*.txt))))
SELFTEST_FAULTS  := $(sort $(basename $(notdir $(wildcard $(SELFTEST_DIR)/faults/*.fault))))
# One defect each, in the teardown and add paths every test goes through: the
# engine must blame the intended requirement and few others (roots_max).
SELFTEST_BLAME_FAULTS := teardown-epoll-fd-leak port-memory-leak detached-worker no-add-fallback
RUNS ?= 5
# The subtle run checks that a test catching a fault passes the reference.
SELFTEST_BASELINE := $(BUILD)/validate/reference/report.json

fault_files = $(foreach f,$(1),--fault $(SELFTEST_DIR)/faults/$(f).fault)

# A data race the functional checks cannot see: its header says `sanitize: thread`.
SELFTEST_RACE_FAULTS := stopping-flag-unlocked

.PHONY: conformance-selftest conformance-selftest-subtle conformance-selftest-mutants selftest-faults-apply selftest-tsan
.PHONY: $(addprefix selftest-,$(SELFTEST_CASES)) $(addprefix selftest-mutant-,$(SELFTEST_MUTANTS))
.PHONY: $(addprefix selftest-fault-,$(SELFTEST_FAULTS))

# Every fault still applies to the reference sources as they are (no build),
# and the self-test's own checks work on synthetic reports.
selftest-faults-apply:
	@$(SELFTEST_FAULTS_PY) --check $(wildcard $(SELFTEST_DIR)/faults/*.fault)
	@$(PYTHON) $(SELFTEST_DIR)/test_selftest.py

# One case after the other (never in parallel): every validation already runs
# its tests on all cores, and the suite's timing bounds assume an unloaded box.
conformance-selftest: selftest-faults-apply
	@rc=0; for name in $(SELFTEST_CASES); do \
	  $(SELFTEST_PY) --name $$name --expect $(SELFTEST_DIR)/impls/$$name/expect.txt || rc=1; \
	done; \
	$(SELFTEST_PY) $(call fault_files,$(SELFTEST_BLAME_FAULTS)) || rc=1; \
	if [ $$rc -eq 0 ]; then echo "conformance-selftest: every expectation holds"; \
	else echo "conformance-selftest: FAILED (see the UNEXPECTED lines above)"; fi; exit $$rc

conformance-selftest-subtle: selftest-faults-apply
	@mkdir -p $(BUILD); $(MAKE) --no-print-directory check-validate-reference > $(BUILD)/selftest-reference.log 2>&1 || \
	  { echo "conformance-selftest-subtle: the reference does not validate: $(BUILD)/selftest-reference.log"; exit 1; }
	@if $(SELFTEST_PY) --runs $(RUNS) --baseline $(SELFTEST_BASELINE) $(call fault_files,$(SELFTEST_FAULTS)); \
	then echo "conformance-selftest-subtle: every fault caught in $(RUNS) of $(RUNS) runs"; \
	else echo "conformance-selftest-subtle: FAILED (see the UNEXPECTED lines and the table above)"; exit 1; fi

conformance-selftest-mutants:
	@rc=0; for name in $(SELFTEST_MUTANTS); do \
	  $(SELFTEST_PY) --name mutant-$$name --expect $(SELFTEST_DIR)/impls/literal/mutants/$$name.txt || rc=1; \
	done; \
	if [ $$rc -eq 0 ]; then echo "conformance-selftest-mutants: every mutant caught"; \
	else echo "conformance-selftest-mutants: FAILED (see the UNEXPECTED lines above)"; fi; exit $$rc

# Both modes, each must hold: ThreadSanitizer catches the race (CPL_ADD_018), and
# the default validation of the same sources does not (why the mode exists).
selftest-tsan:
	@$(SELFTEST_PY) $(call fault_files,$(SELFTEST_RACE_FAULTS)) && \
	$(SELFTEST_PY) --sanitize address --expect-missed $(call fault_files,$(SELFTEST_RACE_FAULTS)) && \
	echo "selftest-tsan: the race is caught with SANITIZE=thread only"

$(addprefix selftest-,$(SELFTEST_CASES)): selftest-%:
	@$(SELFTEST_PY) --name $* --expect $(SELFTEST_DIR)/impls/$*/expect.txt

$(addprefix selftest-mutant-,$(SELFTEST_MUTANTS)): selftest-mutant-%:
	@$(SELFTEST_PY) --name mutant-$* --expect $(SELFTEST_DIR)/impls/literal/mutants/$*.txt

# One fault, validated once (RUNS=n for more); compared with the reference's
# report when one exists.
$(addprefix selftest-fault-,$(SELFTEST_FAULTS)): selftest-fault-%:
	@$(SELFTEST_PY) --runs $(if $(filter command line environment,$(origin RUNS)),$(RUNS),1) \
	  $(if $(wildcard $(SELFTEST_BASELINE)),--baseline $(SELFTEST_BASELINE)) $(call fault_files,$*)

CHECK_TARGETS += conformance-selftest
