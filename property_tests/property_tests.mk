# Property-based tests (property_tests/): rapidcheck properties over a model of
# the port, linked per IMPL exactly like the conformance binary.
#   make property-build [IMPL=...]   builds $(VALIDATE_BIN_DIR)/property_tests
#   make property-check              runs the whole binary against the reference
#   make property-run   [IMPL=...]   runs the whole binary against IMPL (PT_ARGS="..." for Catch2)
#   make soak-properties [IMPL=...]  10 000 cases per property (RC_PARAMS max_success=10000)
# `make validate` runs each property TEST_CASE in its own process (VALIDATE_BINS).
# RC_PARAMS from the environment is honoured (README.md: replaying a failure).

PT_OBJ      := $(BUILD)/property_tests/obj
PT_SRCS     := $(wildcard property_tests/*.cpp)
PT_OBJS     := $(patsubst property_tests/%.cpp,$(PT_OBJ)/%.o,$(PT_SRCS))
PT_CXXFLAGS := $(STD_CXX) $(WARN) -O1 -g $(INCLUDES) -Iconformance/harness -Iproperty_tests -pthread -MMD -MP
PT_BIN      := $(VALIDATE_BIN_DIR)/property_tests
# The harness objects conformance.mk compiles (its rule, its flags), without its tests.
PT_HARNESS_OBJS := $(patsubst conformance/%.cpp,$(CONF_OBJ)/%.o,$(CONF_HARNESS))
PT_SOAK_CASES ?= 10000

# The kit's own code: -Werror, no sanitizer, independent of IMPL.
$(PT_OBJ)/%.o: property_tests/%.cpp | deps
	@mkdir -p $(@D)
	$(CXX) $(PT_CXXFLAGS) -c $< -o $@

-include $(PT_OBJS:.o=.d)

# Same link as the conformance binary (IMPL_LINK / IMPL_DEPS from conformance.mk), plus rapidcheck.
$(PT_BIN): $(BUILD)/catch2_main.o $(PT_HARNESS_OBJS) $(PT_OBJS) $(IMPL_DEPS) | deps
	@test -n "$(strip $(IMPL_FILES))" || { echo "property_tests: no IMPL and no reference sources (REF_SRCS)"; exit 1; }
	@mkdir -p $(@D)
	$(CXX) $(STD_CXX) -rdynamic -o $@ $(BUILD)/catch2_main.o $(PT_HARNESS_OBJS) $(PT_OBJS) $(IMPL_LINK) \
	  -lrapidcheck -ldl -pthread $(IMPL_LDLIBS) $(CATCH2_LIBS)

VALIDATE_BINS += $(PT_BIN)
VALIDATE_KIT_OBJS += $(PT_OBJS)

PT_ENV := $(SAN_ENV)
PT_ARGS ?=

.PHONY: property-build property-run property-check soak-properties
property-build: $(PT_BIN)

property-run: $(PT_BIN)
	$(PT_ENV) $(PT_BIN) $(PT_ARGS)

# The reference, in one process (make check also validates it test by test).
property-check:
	$(MAKE) --no-print-directory property-run IMPL= IMPL_CFLAGS= IMPL_LDLIBS= VALIDATE_NAME=reference

# Nightly-style: every property with PT_SOAK_CASES cases, one process per property
# (test names from the binary, Catch2 v2 or v3: tools/cpkit/catch2.py), longer shrinking,
# an hour for the lifecycle property.
soak-properties: $(PT_BIN)
	@names=$$($(PYTHON) -c 'import sys; sys.path.insert(0, "tools"); from cpkit import catch2; \
	  print("\n".join(catch2.test_spec(n) for n, _ in catch2.list_tests(sys.argv[1])))' $(PT_BIN)) || exit 1; \
	printf '%s\n' "$$names" | while IFS= read -r name; do \
	  echo "soak: $$name"; \
	  RC_PARAMS="$${RC_PARAMS:+$$RC_PARAMS }max_success=$(PT_SOAK_CASES)" PT_SHRINK_SECONDS=$${PT_SHRINK_SECONDS:-120} \
	  PT_LIFECYCLE_BUDGET_S=$${PT_LIFECYCLE_BUDGET_S:-3600} \
	    $(PT_ENV) $(PT_BIN) "$$name" || exit 1; \
	done

# `make check` validates the reference with this binary too (tools.mk: check-validate-reference).
