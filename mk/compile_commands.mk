# make compile_commands.json: the compile commands of the reference, its unit tests, the
# kit's suite and the validated implementation (IMPL, default the reference), taken from
# `make -nB` (nothing is built) for editors such as clangd.
CDB_TARGETS := libs validate-kit validate-impl reference-tests-plain

.PHONY: compile_commands.json
compile_commands.json:
	@$(MAKE) --no-print-directory -nB $(CDB_TARGETS) > $(@).make.tmp || { rm -f $(@).make.tmp; exit 1; }
	@$(PYTHON) mk/compile_commands.py $(CURDIR) $(firstword $(CC)) $(firstword $(CXX)) < $(@).make.tmp > $@.tmp; \
	  rc=$$?; rm -f $(@).make.tmp; [ $$rc -eq 0 ] && mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }
