# A file holding a text (a build's flags, its file list), rewritten only when that
# text changes, so that what depends on it rebuilds exactly then. A fragment names
# the file <something>.flags and gives the text as a target-specific variable:
#   $(MY_STAMP): CPK_STAMP_TEXT = $(MY_FLAGS)
# A rule, not a parse-time $(shell): `make -n` writes nothing.
.PHONY: cpk-stamp-force
%.flags: cpk-stamp-force
	@mkdir -p $(@D); if [ "$$(cat $@ 2>/dev/null)" != "$(subst ",\",$(CPK_STAMP_TEXT))" ]; then \
	  printf '%s\n' "$(subst ",\",$(CPK_STAMP_TEXT))" > $@; fi
