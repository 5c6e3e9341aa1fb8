# The kit's self-test (conformance/selftest/README.md): implementations whose
# verdict is known are validated with `make validate`, and selftest.py checks
# that the suite reaches that verdict for the right reason. Included at the end
# of conformance/conformance.mk.
#
#   make conformance-selftest          literal (must conform) + the wrong ones
#   make conformance-selftest-mutants  the literal's MUTANT_ switches (slow:
#                                      each validation waits out 2 s teardowns)
#   make selftest-<name>               one case, e.g. selftest-slots,
#                                      selftest-mutant-add-first
SELFTEST_DIR     := conformance/selftest
SELFTEST_PY      := $(PYTHON) $(SELFTEST_DIR)/selftest.py --make "$(MAKE)" --build $(BUILD)
# The wrong ones first: they are quick and say early whether the suite bites.
SELFTEST_WRONG   := $(sort $(filter-out literal,$(notdir $(patsubst %/,%,$(dir $(wildcard $(SELFTEST_DIR)/impls/*/expect.txt))))))
SELFTEST_CASES   := $(SELFTEST_WRONG) literal
SELFTEST_MUTANTS := $(sort $(basename $(notdir $(wildcard $(SELFTEST_DIR)/impls/literal/mutants/*.txt))))

.PHONY: conformance-selftest conformance-selftest-mutants
.PHONY: $(addprefix selftest-,$(SELFTEST_CASES)) $(addprefix selftest-mutant-,$(SELFTEST_MUTANTS))

# One case after the other (never in parallel): every validation already runs
# its tests on all cores, and the suite's timing bounds assume an unloaded box.
conformance-selftest:
	@rc=0; for name in $(SELFTEST_CASES); do \
	  $(SELFTEST_PY) --name $$name --expect $(SELFTEST_DIR)/impls/$$name/expect.txt || rc=1; \
	done; \
	if [ $$rc -eq 0 ]; then echo "conformance-selftest: every expectation holds"; \
	else echo "conformance-selftest: FAILED (see the UNEXPECTED lines above)"; fi; exit $$rc

conformance-selftest-mutants:
	@rc=0; for name in $(SELFTEST_MUTANTS); do \
	  $(SELFTEST_PY) --name mutant-$$name --expect $(SELFTEST_DIR)/impls/literal/mutants/$$name.txt || rc=1; \
	done; \
	if [ $$rc -eq 0 ]; then echo "conformance-selftest-mutants: every mutant caught"; \
	else echo "conformance-selftest-mutants: FAILED (see the UNEXPECTED lines above)"; fi; exit $$rc

$(addprefix selftest-,$(SELFTEST_CASES)): selftest-%:
	@$(SELFTEST_PY) --name $* --expect $(SELFTEST_DIR)/impls/$*/expect.txt

$(addprefix selftest-mutant-,$(SELFTEST_MUTANTS)): selftest-mutant-%:
	@$(SELFTEST_PY) --name mutant-$* --expect $(SELFTEST_DIR)/impls/literal/mutants/$*.txt

CHECK_TARGETS += conformance-selftest
