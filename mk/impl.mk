# What `make validate` (and every suite run against an implementation) tests.
# IMPL: C/C++ sources, a static archive (.a) or a shared object (.so, .so.N).
# Without IMPL the reference sources are validated, compiled like any third
# party's sources. IMPL_CFLAGS / IMPL_LDLIBS pass extra flags.
IMPL          ?=
IMPL_CFLAGS   ?=
IMPL_LDLIBS   ?=
IMPL_FILES    := $(if $(strip $(IMPL)),$(IMPL),$(REF_SRCS))
IMPL_KIND     := $(if $(filter %.a,$(IMPL_FILES)),archive,$(if $(filter %.so %.so.%,$(IMPL_FILES)),shared,sources))
VALIDATE_NAME ?= $(if $(strip $(IMPL)),$(basename $(basename $(notdir $(firstword $(IMPL))))),reference)
VALIDATE_DIR  := $(BUILD)/validate/$(VALIDATE_NAME)
VALIDATE_BIN_DIR := $(VALIDATE_DIR)/bin
REPORT_DIR    ?= $(VALIDATE_DIR)
