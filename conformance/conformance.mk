# Conformance suite (conformance/): harness + tests compiled once, linked per IMPL.
#   make conformance-build [IMPL=...]   builds $(VALIDATE_BIN_DIR)/conformance
#   make conformance-run   [IMPL=...]   builds it and runs the whole binary in one process
#                                       (CONF_ARGS="..." passes Catch2 arguments)
# `make validate` (tools/tools.mk) runs every test of it in its own process.

CONF_OBJ        := $(BUILD)/conformance/obj
CONF_HARNESS    := $(wildcard conformance/harness/*.cpp)
CONF_TESTS      := $(wildcard conformance/tests/*_test.cpp)
CONF_KIT_OBJS   := $(patsubst conformance/%.cpp,$(CONF_OBJ)/%.o,$(CONF_HARNESS) $(CONF_TESTS))
CONF_CXXFLAGS   := $(STD_CXX) $(WARN) -O1 -g -fno-omit-frame-pointer $(INCLUDES) -Iconformance/harness -Iconformance -pthread -MMD -MP
CONF_BIN        := $(VALIDATE_BIN_DIR)/conformance
CONF_ARGS       ?=

# The kit's own code: -Werror, no sanitizer, independent of IMPL.
$(CONF_OBJ)/%.o: conformance/%.cpp | deps
	@mkdir -p $(@D)
	$(CXX) $(CONF_CXXFLAGS) -c $< -o $@

-include $(CONF_KIT_OBJS:.o=.d)

# -rdynamic: a shared-object IMPL resolves epoll_*, recv, send, pthread_create and the
# allocator to the harness's definitions in the executable.
$(CONF_BIN): $(CATCH2_MAIN) $(CONF_KIT_OBJS) $(IMPL_DEPS) | deps
	@test -n "$(strip $(IMPL_FILES))" || { echo "conformance: no IMPL and no reference sources (REF_SRCS)"; exit 1; }
	@mkdir -p $(@D)
	$(CXX) $(STD_CXX) -rdynamic -o $@ $(CATCH2_MAIN) $(CONF_KIT_OBJS) $(IMPL_LINK) -ldl -pthread $(IMPL_LDLIBS) $(CATCH2_LIBS)

VALIDATE_BINS += $(CONF_BIN)
# The kit's own objects: validate's first build step (tools/tools.mk).
VALIDATE_KIT_OBJS += $(CATCH2_MAIN) $(CONF_KIT_OBJS)

.PHONY: conformance-build conformance-run
conformance-build: $(CONF_BIN)

conformance-run: $(CONF_BIN)
	$(SAN_ENV) $(CONF_BIN) $(CONF_ARGS)

include $(wildcard conformance/selftest/selftest.mk)
include $(wildcard conformance/helgrind.mk)
