# Mutation testing (tools/mutation/README.md): generated mutants of an
# implementation, each validated with VALIDATE_FAIL_FAST=1, two at a time.
#   make mutation            every mutant of reference/src -> $(BUILD)/mutation/report.{json,md}
#   make mutation-sample     a fixed, seeded sample of 20 of them (in .ci/run) -> $(BUILD)/mutation/sample/
#   make mutation-literal    the literal implementation's mutants -> $(BUILD)/mutation/literal/
#   make mutation-check      the generator's unit tests (no validation; in make check)
# MUTATION_JOBS (2) mutants at once; MUTATION_SAMPLE=N samples any of the three runs.
MUTATION_PY        := $(PYTHON) tools/mutation/mutation.py --build $(BUILD)
MUTATION_JOBS      ?= 2
MUTATION_SEED      ?= 13
MUTATION_SAMPLE    ?=
MUTATION_MIN_SCORE ?= 90
# Twenty mutants are too few for the target score, so the sample's floor catches a
# kit that stops killing mutants (tests not run, fail-fast broken), not one gap.
MUTATION_SAMPLE_MIN_SCORE ?= 70
# Test-only entry points of the reference: no API behaviour to check.
MUTATION_REF_ARGS  := --src reference/src --name reference --strict --exclude test_hooks.cpp test_hooks.h \
                      --jobs $(MUTATION_JOBS) --validate-jobs 2 --seed $(MUTATION_SEED)

.PHONY: mutation mutation-sample mutation-literal mutation-check
mutation:
	$(MUTATION_PY) $(MUTATION_REF_ARGS) --out $(BUILD)/mutation --min-score $(MUTATION_MIN_SCORE) \
	  $(if $(MUTATION_SAMPLE),--sample $(MUTATION_SAMPLE))

mutation-sample:
	$(MUTATION_PY) $(MUTATION_REF_ARGS) --out $(BUILD)/mutation/sample --sample $(or $(MUTATION_SAMPLE),20) \
	  --min-score $(MUTATION_SAMPLE_MIN_SCORE)

# The literal one conforms without STRICT: a mutant is killed when it no longer conforms.
# Its tests mostly wait (2 s teardowns), so each validation runs 4 of them at once.
mutation-literal:
	$(MUTATION_PY) --src conformance/selftest/impls/literal --name literal --jobs $(MUTATION_JOBS) \
	  --validate-jobs 4 --seed $(MUTATION_SEED) --out $(BUILD)/mutation/literal \
	  $(if $(MUTATION_SAMPLE),--sample $(MUTATION_SAMPLE))

mutation-check:
	$(PYTHON) tools/mutation/test_mutation.py

CHECK_TARGETS += mutation-check
