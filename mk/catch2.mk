# Catch2 for every test binary: the one main object and the library to link.
# Catch2 v2 (Debian 12: header only) or v3 (Debian 13: the compiled libCatch2.a),
# told apart as conformance/harness/cpk_catch.h does. Recursive on purpose: it is
# expanded by the link recipes, after `deps` has installed Catch2.
CATCH2_V3   = $(shell printf '#if __has_include(<catch2/catch_test_macros.hpp>)\nCPK_CATCH2_V3\n#endif\n' | \
                $(CXX) $(STD_CXX) -E -P -x c++ - 2>/dev/null | grep -q CPK_CATCH2_V3 && echo 1)
CATCH2_LIBS = $(if $(CATCH2_V3),-lCatch2)

# conformance/catch2_main.cpp serves both versions, so every link line is the same.
CATCH2_MAIN := $(BUILD)/catch2_main.o
$(CATCH2_MAIN): conformance/catch2_main.cpp | deps
	@mkdir -p $(@D)
	$(CXX) $(STD_CXX) $(WARN) -O1 -c $< -o $@
