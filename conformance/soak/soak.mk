# The soak (conformance/soak/soak.cpp): make soak [IMPL=...] [SOAK_OPS=N SOAK_PAIRS=N
# SOAK_THREADS=N SOAK_SECONDS=N SOAK_SEED=N]. One port, thousands of socketpairs, four
# threads, a million ops; prints "soak: N ops ...", lost, duplicated and peak RSS, and
# fails on any loss, duplicate, corrupt byte, RSS growth or leftover.
# Sources are compiled -O2 without sanitizers (speed, and an RSS that is the
# implementation's own); SOAK_SAN=1 links the ASan+UBSan build of `make validate` instead.
# The harness's interposer tracks the allocations.
SOAK_SAN       ?=
SOAK_DIR       := $(BUILD)/soak/$(VALIDATE_NAME)
SOAK_BIN       := $(SOAK_DIR)/soak$(if $(SOAK_SAN),-san)
SOAK_MAIN_OBJ  := $(BUILD)/soak/obj/soak.o
SOAK_HARNESS   := $(addprefix $(CONF_OBJ)/harness/,interpose_alloc.o interpose_core.o interpose_sys.o \
                  interpose_thread.o process.o sockets.o)
SOAK_IMPL_OBJS := $(if $(filter sources,$(IMPL_KIND)),$(foreach s,$(IMPL_SRC_FILES),$(call impl_o2_obj,$(SOAK_DIR)/obj,$(s))))
SOAK_IMPL_LINK := $(if $(SOAK_SAN),$(IMPL_LINK),$(if $(filter sources,$(IMPL_KIND)),$(SOAK_IMPL_OBJS),$(IMPL_LINK)))
SOAK_IMPL_DEPS := $(if $(SOAK_SAN),$(IMPL_DEPS),$(if $(filter sources,$(IMPL_KIND)),$(SOAK_IMPL_OBJS) $(IMPL_STAMP),$(IMPL_DEPS)))

$(SOAK_MAIN_OBJ): conformance/soak/soak.cpp | deps
	@mkdir -p $(@D)
	$(CXX) $(CONF_CXXFLAGS) -O2 -c $< -o $@
-include $(SOAK_MAIN_OBJ:.o=.d)

$(call impl_o2_rules,$(SOAK_DIR)/obj)
-include $(SOAK_IMPL_OBJS:.o=.d)

$(SOAK_BIN): $(SOAK_MAIN_OBJ) $(SOAK_HARNESS) $(SOAK_IMPL_DEPS) | deps
	@mkdir -p $(@D)
	$(CXX) $(STD_CXX) -rdynamic -o $@ $(SOAK_MAIN_OBJ) $(SOAK_HARNESS) $(SOAK_IMPL_LINK) -ldl -pthread $(IMPL_LDLIBS)

.PHONY: soak
soak: $(SOAK_BIN)
	ASAN_OPTIONS="$${ASAN_OPTIONS:+$$ASAN_OPTIONS:}detect_leaks=0:quarantine_size_mb=16" $(SOAK_BIN)
