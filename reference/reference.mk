# The reference implementation: libraries, unit tests, header checks.
# Included by the top Makefile before mk/impl.mk (which uses REF_SRCS).

REF_SRC_DIR := reference/src
# The implementation: what the libraries hold and what `make validate` builds.
REF_SRCS := \
    $(REF_SRC_DIR)/add.cpp \
    $(REF_SRC_DIR)/completion_port.cpp \
    $(REF_SRC_DIR)/io.cpp \
    $(REF_SRC_DIR)/registry.cpp \
    $(REF_SRC_DIR)/remove.cpp \
    $(REF_SRC_DIR)/worker.cpp
# Compiled into the unit tests and the bench only, never into the libraries.
REF_TEST_HOOK_SRCS := $(REF_SRC_DIR)/test_hooks.cpp
REF_HDRS := $(wildcard $(REF_SRC_DIR)/*.h) $(wildcard include/*/*.h)
REF_EXPORTS_MAP := $(REF_SRC_DIR)/exports.map

REF_BUILD := $(BUILD)/reference
REF_LIB_DIR := $(BUILD)/lib
REF_LIB_A := $(REF_LIB_DIR)/libcompletion_port.a
REF_LIB_SO := $(REF_LIB_DIR)/libcompletion_port.so.1
REF_LIB_SO_LINK := $(REF_LIB_DIR)/libcompletion_port.so

# CPPFLAGS, CXXFLAGS and LDFLAGS from the environment come last, as Debian builds expect.
REF_CXXFLAGS := $(STD_CXX) $(WARN) -O2 -g -fPIC -fvisibility=hidden -pthread $(INCLUDES) $(CPPFLAGS) $(CXXFLAGS)

# --- libraries -------------------------------------------------------------
REF_OBJS := $(patsubst $(REF_SRC_DIR)/%.cpp,$(REF_BUILD)/obj/%.o,$(REF_SRCS))

$(REF_BUILD)/obj/%.o: $(REF_SRC_DIR)/%.cpp $(REF_HDRS) | deps
	@mkdir -p $(@D)
	$(CXX) $(REF_CXXFLAGS) -c $< -o $@

$(REF_LIB_A): $(REF_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

# Only the five API functions are exported (version script + hidden visibility).
$(REF_LIB_SO): $(REF_OBJS) $(REF_EXPORTS_MAP)
	@mkdir -p $(@D)
	$(CXX) -shared -pthread -Wl,-soname,libcompletion_port.so.1 \
	    -Wl,--version-script=$(REF_EXPORTS_MAP) -Wl,--no-undefined $(LDFLAGS) -o $@ $(REF_OBJS)

$(REF_LIB_SO_LINK): $(REF_LIB_SO)
	ln -sf libcompletion_port.so.1 $@

.PHONY: libs
libs: $(REF_LIB_A) $(REF_LIB_SO) $(REF_LIB_SO_LINK)

# --- unit tests: plain, ASan+UBSan, TSan (mk/sanitizers.mk) -----------------
# The unit tests run on the conformance harness (its interposer, recorder and
# socket helpers); reference/tests/unit.h adds only what they alone need.
REF_TEST_SRCS := $(wildcard reference/tests/*.cpp)
REF_HARNESS_SRCS := $(wildcard conformance/harness/*.cpp)
REF_TEST_HDRS := $(wildcard reference/tests/*.h) $(wildcard conformance/harness/*.h) $(REF_HDRS)
REF_TEST_CXXFLAGS := $(STD_CXX) $(WARN) -O1 -g -pthread $(INCLUDES) -I$(REF_SRC_DIR) -Iconformance/harness
REF_TEST_LDLIBS := -pthread -ldl
REF_TEST_TIMEOUT ?= 300
REF_TSAN_ARGS ?=

# $(1): variant name, $(2): extra compile/link flags. The variant compiles the
# reference sources itself so that sanitizers see inside them; the harness is
# compiled as for validation (-O1, no sanitizer, no gcov): its allocator runs
# before the sanitizer runtime is up, and at -O0 it would call the
# instrumented out-of-line copies of the inline functions it shares.
define REF_TEST_VARIANT
REF_$(1)_SRC_OBJS := $$(patsubst $(REF_SRC_DIR)/%.cpp,$(REF_BUILD)/$(1)/src/%.o,$(REF_SRCS) $(REF_TEST_HOOK_SRCS))
REF_$(1)_TEST_OBJS := $$(patsubst reference/tests/%.cpp,$(REF_BUILD)/$(1)/tests/%.o,$(REF_TEST_SRCS)) \
    $$(patsubst conformance/harness/%.cpp,$(REF_BUILD)/$(1)/harness/%.o,$(REF_HARNESS_SRCS))
REF_$(1)_BIN := $(REF_BUILD)/$(1)/reference_tests

$(REF_BUILD)/$(1)/src/%.o: $(REF_SRC_DIR)/%.cpp $(REF_HDRS) | deps
	@mkdir -p $$(@D)
	$(CXX) $(STD_CXX) $(WARN) -O1 -g -pthread $(INCLUDES) $(2) -c $$< -o $$@

$(REF_BUILD)/$(1)/tests/%.o: reference/tests/%.cpp $(REF_TEST_HDRS) | deps
	@mkdir -p $$(@D)
	$(CXX) $(REF_TEST_CXXFLAGS) $(2) -c $$< -o $$@

$(REF_BUILD)/$(1)/harness/%.o: conformance/harness/%.cpp $(REF_TEST_HDRS) | deps
	@mkdir -p $$(@D)
	$(CXX) $(REF_TEST_CXXFLAGS) $(filter-out -fsanitize=% --coverage -O%,$(2)) -c $$< -o $$@

$$(REF_$(1)_BIN): $$(REF_$(1)_SRC_OBJS) $$(REF_$(1)_TEST_OBJS) $(CATCH2_MAIN)
	$(CXX) $(2) -o $$@ $$^ $(REF_TEST_LDLIBS) $$(CATCH2_LIBS)
endef

$(eval $(call REF_TEST_VARIANT,plain,))
$(eval $(call REF_TEST_VARIANT,asan,$(SAN_FLAGS)))
$(eval $(call REF_TEST_VARIANT,tsan,$(TSAN_FLAGS)))

# The exported dynamic symbols must be exactly the five API functions.
REF_API_SYMBOLS := completion_port_add completion_port_create completion_port_dec_ref \
    completion_port_inc_ref completion_port_remove

.PHONY: reference-check reference-tests-plain reference-tests-asan reference-tsan reference-exports
reference-tests-plain: $(REF_plain_BIN)
	timeout $(REF_TEST_TIMEOUT) $(REF_plain_BIN)

reference-tests-asan: $(REF_asan_BIN)
	$(SAN_ENV) timeout $(REF_TEST_TIMEOUT) $(REF_asan_BIN)

# ThreadSanitizer run: not part of `make check` (a third build of everything).
reference-tsan: $(REF_tsan_BIN)
	$(TSAN_ENV) timeout $(REF_TEST_TIMEOUT) $(REF_tsan_BIN) $(REF_TSAN_ARGS)

reference-exports: $(REF_LIB_SO)
	@exported="$$(nm -D --defined-only $(REF_LIB_SO) | awk '$$2 == "T" { print $$3 }' | sort | tr '\n' ' ')"; \
	expected="$$(printf '%s\n' $(REF_API_SYMBOLS) | sort | tr '\n' ' ')"; \
	if [ "$$exported" != "$$expected" ]; then \
	    echo "reference-exports: $(REF_LIB_SO) exports [$$exported], expected [$$expected]" >&2; exit 1; \
	fi; \
	extra="$$(nm -D --defined-only $(REF_LIB_SO) | awk '$$2 != "A" && $$2 != "T" { print $$3 }')"; \
	if [ -n "$$extra" ]; then echo "reference-exports: unexpected symbols: $$extra" >&2; exit 1; fi; \
	echo "reference-exports: only the 5 API functions are exported"

# The shipped libraries hold the implementation only: the archive's members are
# exactly the objects of REF_SRCS, and neither library defines a test hook.
.PHONY: reference-shipped
reference-shipped: $(REF_LIB_A) $(REF_LIB_SO)
	@members="$$(ar t $(REF_LIB_A) | LC_ALL=C sort | tr '\n' ' ')"; \
	expected="$$(printf '%s\n' $(notdir $(REF_OBJS)) | LC_ALL=C sort | tr '\n' ' ')"; \
	if [ "$$members" != "$$expected" ]; then \
	    echo "reference-shipped: $(REF_LIB_A) holds [$$members], expected [$$expected]" >&2; exit 1; \
	fi; \
	hooks="$$( { nm --defined-only $(REF_LIB_A); nm --defined-only $(REF_LIB_SO); } | awk '$$3 ~ /^cpl_test_/ { print $$3 }')"; \
	if [ -n "$$hooks" ]; then echo "reference-shipped: test hooks in the libraries: $$hooks" >&2; exit 1; fi; \
	echo "reference-shipped: $(REF_LIB_A) and $(REF_LIB_SO) hold the implementation only"

reference-check: reference-exports reference-shipped reference-tests-plain reference-tests-asan

# --- header compile test ------------------------------------------------------
REF_HDR_TEST_SRC := reference/tests/headers/headers_test.c
REF_HDR_BUILD := $(REF_BUILD)/headers
REF_PUBLIC_HEADERS := $(sort $(wildcard include/*/*.h))
REF_HDR_FLAGS := -Wall -Wextra -Werror -pedantic $(INCLUDES)
REF_HDR_STDS := c99 c11 c++17 c++20

# Each header alone (self-contained), in each language standard.
REF_HDR_STAMP := $(REF_HDR_BUILD)/standalone.stamp
$(REF_HDR_STAMP): $(REF_PUBLIC_HEADERS) | deps
	@mkdir -p $(@D)
	@set -e; for h in $(patsubst include/%,%,$(REF_PUBLIC_HEADERS)); do \
	    for std in $(REF_HDR_STDS); do \
	        case $$std in c++*) cc="$(CXX) -x c++";; *) cc="$(CC) -x c";; esac; \
	        printf '#include "%s"\ntypedef int cpkit_tu_is_not_empty;\n' "$$h" | \
	            $$cc -std=$$std $(REF_HDR_FLAGS) -fsyntax-only - || \
	            { echo "headers-check: $$h does not compile alone as $$std" >&2; exit 1; }; \
	    done; \
	done
	@touch $@

# The full test TU: enum values, MU_DEFINE_ENUM_STRINGS, ABI layout, and the
# prototypes; linked against the static library and run, per standard.
REF_HDR_BINS := $(foreach std,$(REF_HDR_STDS),$(REF_HDR_BUILD)/headers_$(subst +,x,$(std)))
$(REF_HDR_BUILD)/headers_c99 $(REF_HDR_BUILD)/headers_c11: $(REF_HDR_BUILD)/headers_%: $(REF_HDR_TEST_SRC) $(REF_PUBLIC_HEADERS) $(REF_LIB_A) | deps
	@mkdir -p $(@D)
	$(CC) -x c -std=$* $(REF_HDR_FLAGS) -c $< -o $@.o
	$(CXX) -o $@ $@.o $(REF_LIB_A) -pthread

$(REF_HDR_BUILD)/headers_cxx17 $(REF_HDR_BUILD)/headers_cxx20: $(REF_HDR_BUILD)/headers_cxx%: $(REF_HDR_TEST_SRC) $(REF_PUBLIC_HEADERS) $(REF_LIB_A) | deps
	@mkdir -p $(@D)
	$(CXX) -x c++ -std=c++$* $(REF_HDR_FLAGS) -c $< -o $@.o
	$(CXX) -o $@ $@.o $(REF_LIB_A) -pthread

.PHONY: headers-check
headers-check: $(REF_HDR_STAMP) $(REF_HDR_BINS)
	@set -e; for b in $(REF_HDR_BINS); do $$b; done
	@echo "headers-check: every header compiles as $(REF_HDR_STDS) (-pedantic); ABI checks pass"

CHECK_TARGETS += reference-check headers-check
CHECK_BUILD += libs $(REF_plain_BIN) $(REF_asan_BIN) $(REF_HDR_STAMP) $(REF_HDR_BINS)
