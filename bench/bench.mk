# The bench (bench/README.md): the implementation under test against the
# conformant floor, raw epoll, libuv and libevent; teardown; per-op scaling.
#   make bench [IMPL=...] [BENCH_DIR=build/bench]   report.md, *.json, bench.png
#   make bench-smoke                                each server briefly: bytes and JSON shape (make check)
# IMPL is built as mk/impl.mk builds it for `make validate`, but with -O2 and
# without sanitizers; its name (VALIDATE_NAME) names its rows.
BENCH_DIR       ?= $(BUILD)/bench
BENCH_ARGS      ?=
BENCH_SMOKE_DIR := $(BUILD)/bench-smoke
BENCH_NAME      := $(VALIDATE_NAME)
BENCH_OBJ_DIR   := $(BUILD)/bench-obj/$(BENCH_NAME)
BENCH_BIN       := $(BENCH_OBJ_DIR)/cpkit_bench
BENCH_SRCS      := $(wildcard bench/*.cpp)
BENCH_OBJS      := $(patsubst bench/%.cpp,$(BENCH_OBJ_DIR)/%.o,$(BENCH_SRCS))
BENCH_CXXFLAGS   = $(STD_CXX) $(WARN) -O2 -g -pthread $(INCLUDES) $(shell pkg-config --cflags libuv libevent_core 2>/dev/null)
BENCH_LIBS       = $(or $(shell pkg-config --libs libuv libevent_core 2>/dev/null),-luv -levent_core)

# The implementation: its sources compiled -O2 (third-party warnings shown,
# never fatal), or its archive or shared object as given.
BENCH_IMPL_OBJS := $(if $(filter sources,$(IMPL_KIND)),$(foreach s,$(IMPL_SRC_FILES),$(call impl_o2_obj,$(BENCH_OBJ_DIR)/impl,$(s))))
BENCH_IMPL_LINK := $(if $(filter sources,$(IMPL_KIND)),$(BENCH_IMPL_OBJS),\
                   $(if $(filter shared,$(IMPL_KIND)),$(IMPL_FILES) $(addprefix -Wl$(comma)-rpath$(comma),$(sort $(abspath $(dir $(IMPL_FILES))))),\
                   $(IMPL_FILES)))

$(call impl_o2_rules,$(BENCH_OBJ_DIR)/impl)

$(BENCH_OBJ_DIR)/%.o: bench/%.cpp | deps
	@mkdir -p $(@D)
	$(CXX) $(BENCH_CXXFLAGS) -MMD -MP -c $< -o $@
-include $(BENCH_OBJS:.o=.d) $(BENCH_IMPL_OBJS:.o=.d)

$(BENCH_BIN): $(BENCH_OBJS) $(BENCH_IMPL_OBJS) $(if $(filter sources,$(IMPL_KIND)),,$(IMPL_FILES)) $(IMPL_STAMP)
	$(CXX) -o $@ $(BENCH_OBJS) $(BENCH_IMPL_LINK) $(IMPL_LDLIBS) $(BENCH_LIBS) -pthread

.PHONY: bench bench-smoke
bench: $(BENCH_BIN)
	@mkdir -p $(BENCH_DIR)
	$(BENCH_BIN) --out $(BENCH_DIR) --name $(BENCH_NAME) $(BENCH_ARGS)
	@$(PYTHON) bench/report.py $(BENCH_DIR)

bench-smoke: $(BENCH_BIN)
	@rm -rf $(BENCH_SMOKE_DIR) && mkdir -p $(BENCH_SMOKE_DIR)
	@$(BENCH_BIN) --out $(BENCH_SMOKE_DIR) --name $(BENCH_NAME) --smoke
	@$(PYTHON) bench/report.py --check $(BENCH_SMOKE_DIR) > $(BENCH_SMOKE_DIR)/report.log || { cat $(BENCH_SMOKE_DIR)/report.log; exit 1; }
	@echo "bench-smoke: every server echoed intact bytes; echo.json, teardown.json, scaling.json, report.md and bench.png are well formed"

CHECK_TARGETS += bench-smoke
