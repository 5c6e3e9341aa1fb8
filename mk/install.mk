# Installing the reference library for C consumers (pkg-config, CMake).
#   make install   [PREFIX=/usr/local] [LIBDIR=$(PREFIX)/lib] [INCLUDEDIR=$(PREFIX)/include] [DESTDIR=]
#   make uninstall (same variables) removes exactly the files install writes
#   make install-check   installs into a DESTDIR tree, builds examples/echo.c against it
#                  with pkg-config and with CMake find_package (shared and static), runs
#                  them, runs the installed cpkit-validate from outside the tree
#                  (mk/install/check-validate.sh), then uninstalls and checks that no
#                  file is left
#   make cpkit-validate-check   tools/test_cpkit_validate.py: the command's own logic and
#                  the stand-in headers
#   make fresh     tools/fresh-machine.sh: the README's two commands on bare Debian 12 and 13
# The header is installed alone: it uses the consumer's macro_utils/umock_c when they are
# on its include path and plain C otherwise; the kit's stand-ins are never installed in
# include/. bin/cpkit-validate comes with the kit tree it builds, in share/cpkit/ (the
# stand-ins among it, seen only by that build); the command finds it as ../share/cpkit.
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR    ?=
INSTALL    ?= install
KIT_VERSION := $(strip $(file < VERSION))

INST_SONAME  := libcompletion_port.so.1
INST_SO_FILE := libcompletion_port.so.$(KIT_VERSION)
INST_HEADERS := include/c_pal/completion_port_linux.h include/c_pal/socket_handle.h
INST_INC     := $(DESTDIR)$(INCLUDEDIR)/c_pal
INST_LIB     := $(DESTDIR)$(LIBDIR)
INST_CMAKE   := $(INST_LIB)/cmake/completion_port
# The kit's suite, engine and makefiles: what `make validate` needs, nothing of the
# checkout's own tests (selftest, coverage, bench, fixtures).
KIT_TREE := Makefile VERSION LICENSE $(wildcard mk/*.mk mk/*.sh mk/*.txt) $(wildcard include/*/*.h) \
  $(wildcard spec/*.md) conformance/catch2_main.cpp conformance/conformance.mk \
  $(wildcard conformance/harness/*.cpp conformance/harness/*.h conformance/tests/*.cpp) \
  property_tests/property_tests.mk $(wildcard property_tests/*.cpp property_tests/*.h) \
  reference/reference.mk $(wildcard reference/src/*) tools/tools.mk tools/validate.py tools/trace.py \
  tools/cpkit-validate $(wildcard tools/cpkit/*.py tools/cpkit/views/*.py) tools/cpkit/views/views.mk
INST_BIN     := $(DESTDIR)$(PREFIX)/bin
INST_KIT     := $(DESTDIR)$(PREFIX)/share/cpkit
# tools/cpkit/command.py: this file tells it the kit is installed (builds go to the user's cache).
KIT_MARKER   := .cpkit-installed
INST_FILES   := $(INST_BIN)/cpkit-validate $(addprefix $(INST_KIT)/,$(KIT_TREE) $(KIT_MARKER)) \
  $(addprefix $(INST_INC)/,$(notdir $(INST_HEADERS))) \
  $(addprefix $(INST_LIB)/,libcompletion_port.a $(INST_SO_FILE) $(INST_SONAME) libcompletion_port.so \
    pkgconfig/completion_port.pc) \
  $(addprefix $(INST_CMAKE)/,completion_portConfig.cmake completion_portConfigVersion.cmake)

# The CMake files locate the tree relative to themselves: lib/cmake/completion_port/../../..
inst_rel       = $(patsubst $(PREFIX)/%,%,$(1))
inst_up        = $(subst $(inst_space),/,$(strip $(foreach w,$(subst /, ,$(1)),..)))
inst_space    := $(subst ,, )
INST_SUBST     = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(KIT_VERSION)|g' \
  -e 's|@SO_FILE@|$(INST_SO_FILE)|g' -e 's|@SONAME@|$(INST_SONAME)|g' \
  -e 's|@LIBDIR_REL@|$(call inst_rel,$(LIBDIR))|g' -e 's|@INCLUDEDIR_REL@|$(call inst_rel,$(INCLUDEDIR))|g' \
  -e 's|@CMAKE_TO_PREFIX@|$(call inst_up,$(call inst_rel,$(LIBDIR))/cmake/completion_port)|g'

.PHONY: install uninstall install-check fresh
install: $(REF_LIB_A) $(REF_LIB_SO)
	@case "$(LIBDIR) $(INCLUDEDIR)" in "$(PREFIX)/"*" $(PREFIX)/"*) ;; \
	  *) echo "install: LIBDIR and INCLUDEDIR must be under PREFIX ($(PREFIX))" >&2; exit 1;; esac
	$(INSTALL) -d $(INST_INC) $(INST_LIB)/pkgconfig $(INST_CMAKE)
	$(INSTALL) -m 644 $(INST_HEADERS) $(INST_INC)/
	$(INSTALL) -m 644 $(REF_LIB_A) $(INST_LIB)/libcompletion_port.a
	$(INSTALL) -m 755 $(REF_LIB_SO) $(INST_LIB)/$(INST_SO_FILE)
	ln -sfn $(INST_SO_FILE) $(INST_LIB)/$(INST_SONAME)
	ln -sfn $(INST_SONAME) $(INST_LIB)/libcompletion_port.so
	$(INST_SUBST) mk/install/completion_port.pc.in > $(INST_LIB)/pkgconfig/completion_port.pc
	$(INST_SUBST) mk/install/completion_portConfig.cmake.in > $(INST_CMAKE)/completion_portConfig.cmake
	$(INST_SUBST) mk/install/completion_portConfigVersion.cmake.in > $(INST_CMAKE)/completion_portConfigVersion.cmake
	$(INSTALL) -d $(INST_BIN) $(INST_KIT)
	@# -p: the user's cached kit objects stay newer than a reinstalled, unchanged kit.
	@for f in $(KIT_TREE); do $(INSTALL) -D -p -m 644 $$f $(INST_KIT)/$$f || exit 1; done
	@echo "installed the kit tree ($(words $(KIT_TREE)) files) in $(INST_KIT)"
	echo "cpkit $(KIT_VERSION), installed in $(PREFIX)" > $(INST_KIT)/$(KIT_MARKER)
	$(INSTALL) -m 755 tools/cpkit-validate $(INST_BIN)/cpkit-validate

uninstall:
	@rm -f $(INST_FILES)
	@echo "removed $(words $(INST_FILES)) files"
	@# Python bytecode a run of the kit's tools may have left, then the emptied directories.
	@if [ -d $(INST_KIT) ]; then find $(INST_KIT) -depth -name __pycache__ -type d -exec rm -rf {} +; \
	  find $(INST_KIT) -depth -type d -empty -delete; fi
	-rmdir $(INST_INC) $(INST_CMAKE) 2>/dev/null

# --- install-check -------------------------------------------------------------------------
ICHK      := $(BUILD)/install-check
ICHK_ROOT := $(abspath $(ICHK))/root
ICHK_PFX  := /usr/local
ICHK_LIB  := $(ICHK_ROOT)$(ICHK_PFX)/lib
# The installed command's build cache: kept across runs (the kit is installed with -p),
# so that only the first install-check compiles the whole suite.
ICHK_CACHE := $(abspath $(BUILD))/install-check-cache
ICHK_PC   := PKG_CONFIG_LIBDIR=$(ICHK_LIB)/pkgconfig PKG_CONFIG_SYSROOT_DIR=$(ICHK_ROOT) pkg-config
ICHK_CC   := $(CC) -std=c11 $(WARN) -pedantic $(CPPFLAGS) $(CFLAGS)
ICHK_MAKE := $(MAKE) --no-print-directory DESTDIR=$(ICHK_ROOT) PREFIX=$(ICHK_PFX) LIBDIR=$(ICHK_PFX)/lib \
  INCLUDEDIR=$(ICHK_PFX)/include

install-check: $(REF_LIB_A) $(REF_LIB_SO)
	@rm -rf $(ICHK) && mkdir -p $(ICHK)
	@$(ICHK_MAKE) install > $(ICHK)/install.log || { cat $(ICHK)/install.log; exit 1; }
	@cd $(ICHK_ROOT) && find . ! -type d | sed 's|^\.||' | sort > $(abspath $(ICHK))/installed.txt
	@$(ICHK_MAKE) -s install-check-list | tr ' ' '\n' | sed 's|^$(ICHK_ROOT)||' | grep . | sort > $(ICHK)/expected.txt
	@diff -u $(ICHK)/expected.txt $(ICHK)/installed.txt || { echo "install-check: install wrote other files than the list" >&2; exit 1; }
	@echo "install-check: install wrote exactly $$(wc -l < $(ICHK)/installed.txt) files (the stand-ins only in share/cpkit, not in include/)"
	@inc=$(ICHK_ROOT)$(ICHK_PFX)/include; \
	printf '#include <c_pal/completion_port_linux.h>\n#ifdef MACRO_UTILS_H\n#error the stand-ins leaked in\n#endif\nCOMPLETION_PORT_RESULT r = COMPLETION_PORT_RESULT_ABANDONED;\n' | \
	  $(ICHK_CC) -I$$inc -fsyntax-only -x c - && \
	printf '#include <c_pal/completion_port_linux.h>\n#ifndef MACRO_UTILS_H\n#error the consumer macro_utils was not used\n#endif\nCOMPLETION_PORT_RESULT r = COMPLETION_PORT_RESULT_ABANDONED;\n' | \
	  $(ICHK_CC) -I$$inc -I$(abspath include) -fsyntax-only -x c - || exit 1; \
	echo "install-check: the header compiles alone, and with the consumer's macro_utils/umock_c"
	@set -e; lib=$(ICHK_LIB); \
	$(ICHK_CC) $$($(ICHK_PC) --cflags completion_port) -c examples/echo.c -o $(ICHK)/echo.o; \
	$(CC) -o $(ICHK)/echo-pc-shared $(ICHK)/echo.o $(LDFLAGS) $$($(ICHK_PC) --libs completion_port); \
	$(CC) -o $(ICHK)/echo-pc-static $(ICHK)/echo.o $(LDFLAGS) -Wl,-Bstatic $$($(ICHK_PC) --libs-only-l completion_port) \
	  -Wl,-Bdynamic $$($(ICHK_PC) --static --libs completion_port | sed 's/-lcompletion_port//'); \
	if readelf -d $(ICHK)/echo-pc-static | grep -q 'libcompletion_port'; then echo "install-check: echo-pc-static needs the .so" >&2; exit 1; fi; \
	LD_LIBRARY_PATH=$$lib $(ICHK)/echo-pc-shared; $(ICHK)/echo-pc-static; \
	echo "install-check: pkg-config consumers (shared, static) built and ran"
	@cmake -S examples -B $(ICHK)/cmake -DCMAKE_PREFIX_PATH=$(ICHK_ROOT)$(ICHK_PFX) -DCMAKE_C_COMPILER=$(CC) \
	  -DCMAKE_C_FLAGS="$(CPPFLAGS) $(CFLAGS)" > $(ICHK)/cmake.log 2>&1 && \
	  cmake --build $(ICHK)/cmake >> $(ICHK)/cmake.log 2>&1 || { cat $(ICHK)/cmake.log; exit 1; }
	@set -e; readelf -d $(ICHK)/cmake/echo_shared | grep -q 'NEEDED.*$(INST_SONAME)'; \
	$(ICHK)/cmake/echo_shared; $(ICHK)/cmake/echo_static; \
	echo "install-check: CMake find_package consumers (completion_port::completion_port, ::completion_port_static) built and ran"
	@sh mk/install/check-validate.sh $(ICHK_ROOT)$(ICHK_PFX)/bin/cpkit-validate $(CURDIR) $(ICHK_CACHE) $(abspath $(ICHK))
	@$(ICHK_MAKE) uninstall > $(ICHK)/uninstall.log 2>&1 || { cat $(ICHK)/uninstall.log; exit 1; }
	@left=$$(find $(ICHK_ROOT) ! -type d); if [ -n "$$left" ]; then \
	  echo "install-check: uninstall left: $$left" >&2; exit 1; fi
	@echo "install-check: uninstall removed every installed file"

.PHONY: install-check-list
install-check-list:
	@echo $(INST_FILES)

fresh:
	sh tools/fresh-machine.sh

.PHONY: cpkit-validate-check
cpkit-validate-check:
	$(PYTHON) tools/test_cpkit_validate.py

CHECK_TARGETS += cpkit-validate-check install-check
