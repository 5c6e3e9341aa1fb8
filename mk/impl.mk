# What `make validate` (and every suite run against an implementation) tests.
# IMPL: C/C++ sources, a static archive (.a) or a shared object (.so, .so.N).
# Without IMPL the reference sources are validated, compiled like any third
# party's sources. IMPL_CFLAGS / IMPL_LDLIBS pass extra flags; IMPL_CFLAGS come before
# the kit's include/, so an implementation's own macro_utils/umock_c win over the stand-ins.
IMPL          ?=
IMPL_CFLAGS   ?=
IMPL_LDLIBS   ?=
IMPL_FILES    := $(if $(strip $(IMPL)),$(IMPL),$(REF_SRCS))
# make's filter takes one %, so a versioned shared object (libx.so.1) is found by name.
IMPL_SHARED   := $(strip $(filter %.so,$(IMPL_FILES)) $(foreach f,$(IMPL_FILES),$(if $(findstring .so.,$(notdir $(f))),$(f))))
IMPL_KIND     := $(if $(filter %.a,$(IMPL_FILES)),archive,$(if $(IMPL_SHARED),shared,sources))
# SANITIZE=thread: ThreadSanitizer instead of ASan+UBSan (kind "sources" only). Its
# validations get their own directory, so both builds of one IMPL can coexist.
SANITIZE      ?= address
IMPL_SAN_address := $(SAN_FLAGS)
IMPL_SAN_thread  := $(TSAN_FLAGS)
ifeq ($(filter address thread,$(SANITIZE)),)
$(error SANITIZE=$(SANITIZE): use address (ASan+UBSan, the default) or thread (TSan))
endif
VALIDATE_NAME ?= $(if $(strip $(IMPL)),$(basename $(basename $(notdir $(firstword $(IMPL))))),reference)$(if $(filter thread,$(SANITIZE)),-tsan)
# tools/cpkit-validate sets VALIDATE_DIR itself: one per implementation, whatever its name.
VALIDATE_DIR  := $(BUILD)/validate/$(VALIDATE_NAME)
VALIDATE_BIN_DIR := $(VALIDATE_DIR)/bin
REPORT_DIR    ?= $(VALIDATE_DIR)

# --- building the implementation under test ---------------------------------------
# Kind "sources": each source compiled with ASan+UBSan (or TSan) into $(VALIDATE_DIR)/obj/.
# Third-party code: its warnings are shown but never fail the build. Every test
# binary (conformance, property_tests) links IMPL_LINK and depends on IMPL_DEPS.
comma          := ,
IMPL_OBJ_DIR   := $(VALIDATE_DIR)/obj
IMPL_SAN       := $(IMPL_SAN_$(SANITIZE))
IMPL_SRC_FILES := $(filter %.c %.cc %.cpp %.cxx,$(IMPL_FILES))
# Object names keep the source's path (a/x.c and b/x.c do not collide).
impl_obj_name   = $(IMPL_OBJ_DIR)/$(subst /,_,$(subst ..,__,$(patsubst /%,%,$(1)))).o
IMPL_OBJS      := $(if $(filter sources,$(IMPL_KIND)),$(foreach s,$(IMPL_SRC_FILES),$(call impl_obj_name,$(s))))
# Any change of IMPL, IMPL_CFLAGS or IMPL_LDLIBS rebuilds: the stamp changes.
IMPL_STAMP     := $(VALIDATE_DIR)/impl.flags
IMPL_STAMP_TXT := $(IMPL_KIND) $(abspath $(IMPL_FILES)) | $(IMPL_CFLAGS) | $(IMPL_LDLIBS) | $(IMPL_SAN)
# Written by mk/stamp.mk's rule, only when the text changes.
$(IMPL_STAMP): CPK_STAMP_TEXT = $(IMPL_STAMP_TXT)

define IMPL_OBJ_template
$(call impl_obj_name,$(1)): $(1) $(IMPL_STAMP) | deps
	@mkdir -p $$(@D)
	$(if $(filter %.c,$(1)),$(CC) -std=gnu11,$(CXX) $(STD_CXX)) $(IMPL_SAN) -g -O1 -pthread $(IMPL_CFLAGS) $(INCLUDES) -MMD -MP -c $(1) -o $$@
endef
$(foreach s,$(IMPL_SRC_FILES),$(eval $(call IMPL_OBJ_template,$(s))))
-include $(IMPL_OBJS:.o=.d)

# What a test binary links for the implementation (after its own objects).
IMPL_LINK := $(if $(filter sources,$(IMPL_KIND)),$(IMPL_OBJS) $(IMPL_SAN),\
             $(if $(filter shared,$(IMPL_KIND)),$(IMPL_FILES) $(addprefix -Wl$(comma)-rpath$(comma),$(sort $(abspath $(dir $(IMPL_FILES))))),\
             $(IMPL_FILES)))
IMPL_DEPS := $(if $(filter sources,$(IMPL_KIND)),$(IMPL_OBJS),$(IMPL_FILES)) $(IMPL_STAMP)

# IMPL's sources compiled -O2 -g without sanitizers, for builds that measure it (the
# soak, the bench): $(call impl_o2_obj,DIR,SOURCE) names a source's object in DIR,
# $(call impl_o2_rules,DIR) defines the rules that build them there.
impl_o2_obj = $(1)/$(subst /,_,$(subst ..,__,$(patsubst /%,%,$(2)))).o
define IMPL_O2_template
$(call impl_o2_obj,$(1),$(2)): $(2) $(IMPL_STAMP) | deps
	@mkdir -p $$(@D)
	$(if $(filter %.c,$(2)),$(CC) -std=gnu11,$(CXX) $(STD_CXX)) -O2 -g -pthread $(INCLUDES) $(IMPL_CFLAGS) -MMD -MP -c $(2) -o $$@
endef
impl_o2_rules = $(foreach s,$(IMPL_SRC_FILES),$(eval $(call IMPL_O2_template,$(1),$(s))))
