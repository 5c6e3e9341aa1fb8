# Debian packages the kit needs on this release (mk/packages.sh picks the list:
# mk/packages.txt on Debian 12, mk/packages-debian13.txt on 13). `deps` installs
# the missing ones when run as root, otherwise stops with the exact command to run.
DEPS_PACKAGES := $(shell sh mk/packages.sh)

.PHONY: deps
deps:
	@sh mk/install-deps.sh $(DEPS_PACKAGES)

# Catch2 v2 (Debian 12: header only) or v3 (Debian 13: the compiled libCatch2.a),
# told apart as conformance/harness/cpk_catch.h does. Recursive on purpose: it is
# expanded by the link recipes, after `deps` has installed Catch2.
CATCH2_V3   = $(shell printf '#if __has_include(<catch2/catch_test_macros.hpp>)\nCPK_CATCH2_V3\n#endif\n' | \
                $(CXX) $(STD_CXX) -E -P -x c++ - 2>/dev/null | grep -q CPK_CATCH2_V3 && echo 1)
CATCH2_LIBS = $(if $(CATCH2_V3),-lCatch2)
